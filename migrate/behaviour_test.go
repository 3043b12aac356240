package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/lockids"
	"github.com/upshift-dev/upshift/migrate"
)

// source is a journal-layout folder in memory: tag -> SQL, created_at
// 1000, 2000, … in order.
func source(ms ...[2]string) *drizzle.Source {
	src := &drizzle.Source{Dir: "drizzle", Layout: drizzle.LayoutJournal}
	for i, m := range ms {
		src.Migrations = append(src.Migrations, &drizzle.Migration{Tag: m[0], File: m[0] + ".sql", Text: m[1],
			CreatedAt: int64(i+1) * 1000, Hash: fmt.Sprintf("%x", i+1) + m[1][:1], Statements: drizzle.Split(m[1])})
	}
	return src
}

func cfg(src *drizzle.Source, opts drizzle.Options) migrate.Config {
	return migrate.Config{Source: src, Table: drizzle.DefaultTable, Lock: lockids.Derive("behaviour"), LockWait: 5 * time.Second, Options: opts, Lint: migrate.LintOff}
}

func applied(t *testing.T, db *pgtest.DB) string {
	t.Helper()
	var n int
	if err := db.Connect(t).QueryRow(context.Background(), "SELECT count(*) FROM drizzle.__drizzle_migrations").Scan(&n); err != nil {
		return "none"
	}
	return fmt.Sprint(n)
}

func exists(t *testing.T, db *pgtest.DB, table string) bool {
	t.Helper()
	var ok bool
	if err := db.Connect(t).QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// The transaction modes: --tx all leaves the database at the old version
// or the new one; --tx each keeps what committed before the failure.
func TestTransactionModes(t *testing.T) {
	srv := pgtest.Shared(t)
	failing := source([2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_b", "CREATE TABLE b (id int);"}, [2]string{"0002_c", "SELECT nope FROM a;"})
	for _, tc := range []struct {
		mode       drizzle.TxMode
		rows       string
		a          bool
		rolledBack string
	}{
		{drizzle.TxAll, "none", false, "0000_a,0001_b,0002_c"},
		{drizzle.TxEach, "2", true, "0002_c"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			db := srv.NewDB(t)
			rep, err := migrate.Run(context.Background(), db.Connect(t), cfg(failing, drizzle.Options{TxMode: tc.mode}))
			var ae *drizzle.ApplyError
			var me *drizzle.MigrationError
			if !errors.As(err, &ae) || !errors.As(err, &me) || me.Tag != "0002_c" || me.PgErr == nil || me.PgErr.Code != "42703" {
				t.Fatalf("%v", err)
			}
			if got := applied(t, db); got != tc.rows && !(tc.rows == "none" && got == "0") {
				t.Errorf("rows %s, want %s", got, tc.rows)
			}
			if exists(t, db, "a") != tc.a || strings.Join(ae.RolledBack, ",") != tc.rolledBack {
				t.Errorf("table a %v, rolled back %v", exists(t, db, "a"), ae.RolledBack)
			}
			if !rep.Locked {
				t.Errorf("the run did not hold its lock")
			}
			if r := ae.Report(failing); !strings.Contains(r, `migration "0002_c" failed at statement 1`) || !strings.Contains(r, "42703") {
				t.Errorf("report:\n%s", r)
			}
		})
	}
}

// An out-of-order journal migration is refused unless allowed, and then
// applied.
func TestOutOfOrder(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	conn := db.Connect(t)
	first := source([2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0002_c", "CREATE TABLE c (id int);"})
	first.Migrations[1].CreatedAt = 3000
	if _, err := migrate.Run(context.Background(), conn, cfg(first, drizzle.Options{})); err != nil {
		t.Fatal(err)
	}
	late := source([2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_b", "CREATE TABLE b (id int);"}, [2]string{"0002_c", "CREATE TABLE c (id int);"})
	late.Migrations[2].CreatedAt = 3000
	for i := range late.Migrations {
		late.Migrations[i].Hash = first.Migrations[min(i, 1)].Hash
	}
	late.Migrations[1].Hash = "b-hash"
	_, err := migrate.Run(context.Background(), conn, cfg(late, drizzle.Options{}))
	if !errors.Is(err, drizzle.ErrRefused) || exists(t, db, "b") {
		t.Fatalf("refusal: %v, b exists %v", err, exists(t, db, "b"))
	}
	if _, err := migrate.Run(context.Background(), conn, cfg(late, drizzle.Options{AllowOutOfOrder: true})); err != nil || !exists(t, db, "b") {
		t.Fatalf("allowed: %v", err)
	}
}

// A migration that runs outside a transaction and fails part way resumes
// at the failed statement: the ones that ran are not run again.
func TestResumeAtTheFailedStatement(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, "CREATE TABLE events (id int, kind text); INSERT INTO events VALUES (1, 'a'), (1, 'b');")
	bp := "\n--> statement-breakpoint\n"
	m := "CREATE INDEX CONCURRENTLY events_kind_idx ON events (kind);" + bp +
		"CREATE UNIQUE INDEX CONCURRENTLY events_id_key ON events (id);" + bp +
		"INSERT INTO events VALUES (2, 'c');"
	src := source([2]string{"0000_idx", m})
	conn := db.Connect(t)
	_, err := migrate.Run(context.Background(), conn, cfg(src, drizzle.Options{}))
	var me *drizzle.MigrationError
	if !errors.As(err, &me) || me.Statement.Index != 1 || len(me.Ran) != 1 {
		t.Fatalf("%v", err)
	}
	db.Exec(t, "DELETE FROM events WHERE kind = 'b'") // the operator fixes the cause
	if _, err := migrate.Run(context.Background(), conn, cfg(src, drizzle.Options{})); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('events_kind_idx', 'events_id_key') AND i.indisvalid").Scan(&n); err != nil || n != 2 {
		t.Fatalf("valid indexes %d %v", n, err)
	}
	if got := applied(t, db); got != "1" {
		t.Errorf("rows %s", got)
	}
}

// --statement-timeout applies to the migrations' statements and is
// reported as the server's 57014.
func TestStatementTimeout(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	timeout := 200 * time.Millisecond
	src := source([2]string{"0000_slow", "SELECT pg_sleep(2);"})
	_, err := migrate.Run(context.Background(), db.Connect(t), cfg(src, drizzle.Options{StatementTimeout: &timeout}))
	var pg *pgconn.PgError
	var me *drizzle.MigrationError
	if !errors.As(err, &pg) || pg.Code != "57014" || !errors.As(err, &me) || !strings.Contains(me.Advice(false), "statement_timeout") {
		t.Fatalf("%v", err)
	}
	if got := applied(t, db); got != "none" && got != "0" {
		t.Errorf("rows %s", got)
	}
}
