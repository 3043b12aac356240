package migrate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/lockids"
	"github.com/upshift-dev/upshift/migrate"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var kinds = map[migrate.EventKind]string{
	migrate.EventWarning: "warning", migrate.EventLint: "lint", migrate.EventUpToDate: "up-to-date",
	migrate.EventLocking: "locking", migrate.EventLockWait: "lock-wait", migrate.EventLocked: "locked",
	migrate.EventApplying: "applying", migrate.EventApplied: "applied", migrate.EventNote: "note",
}

func run(t *testing.T, conn *pgx.Conn, cfg migrate.Config) (*migrate.Report, []string, error) {
	t.Helper()
	var events []string
	cfg.OnEvent = func(e migrate.Event) {
		s := kinds[e.Kind]
		if e.Kind == migrate.EventApplied {
			s += " " + e.Result.Tag
		}
		if e.Kind != migrate.EventLint && e.Kind != migrate.EventLintChecked {
			events = append(events, s)
		}
	}
	rep, err := migrate.Run(context.Background(), conn, cfg)
	return rep, events, err
}

func TestProtocol(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	conn := db.Connect(t)
	src, err := drizzle.Load(filepath.Join("..", "testdata", "drizzle-golden", "v1-folders", "drizzle"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := migrate.Config{Source: src, Table: drizzle.DefaultTable, Lock: lockids.Derive("billing"), LockWait: 5 * time.Second}
	rep, events, err := run(t, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "locking,applying,applied 20261121131230_initial_schema,applied 20261121131235_add_credits_table,applied 20261121131238_add_user_preferences,applied 20261121131240_backfill_credits"
	if got := strings.Join(events, ","); got != want {
		t.Errorf("events\n%s\nwant\n%s", got, want)
	}
	if len(rep.Applied) != 4 || !rep.Locked || len(rep.Pending) != 4 {
		t.Errorf("report %+v", rep)
	}
	// Up to date: no lock is taken, so that replicas never queue.
	holder := db.Connect(t)
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock($1)", int64(lockids.Derive("billing"))); err != nil {
		t.Fatal(err)
	}
	rep, events, err = run(t, conn, cfg)
	if err != nil || !rep.UpToDate || rep.Locked || strings.Join(events, ",") != "up-to-date" {
		t.Errorf("up to date: %v %+v %v", err, rep, events)
	}
}

func TestLockErrorNamesTheLock(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	conn := db.Connect(t)
	src, err := drizzle.Load(filepath.Join("..", "testdata", "drizzle-golden", "v0-journal", "drizzle"))
	if err != nil {
		t.Fatal(err)
	}
	// Another service migrates the same table: its table lock is held.
	holder := db.Connect(t)
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock($1)", int64(lockids.ForTable(drizzle.DefaultTable.String()))); err != nil {
		t.Fatal(err)
	}
	rep, events, err := run(t, conn, migrate.Config{Source: src, Table: drizzle.DefaultTable, Lock: lockids.Derive("auth"), LockWait: 300 * time.Millisecond, Lint: migrate.LintOff})
	var le *migrate.LockError
	if !errors.As(err, &le) || !le.OfTable || rep.Locked {
		t.Fatalf("error %v (%T), report %+v", err, err, rep)
	}
	if strings.Join(events, ",") != "locking,lock-wait" {
		t.Errorf("events %v", events)
	}
	// Both locks were given back: the service's lock is free again.
	var free bool
	if err := holder.QueryRow(context.Background(), "SELECT pg_try_advisory_lock($1)", int64(lockids.Derive("auth"))).Scan(&free); err != nil || !free {
		t.Errorf("the service's lock was not released after the table's timed out")
	}
}
