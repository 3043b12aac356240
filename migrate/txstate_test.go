package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/migrate"
)

// Migrations that end, open or mark a transaction themselves: the run
// follows the server's transaction state, ends where drizzle-orm's run
// ends (its rows, its tables), and says of each migration what the server
// committed. want* are drizzle-orm 0.45.4's results on the same folders
// (TestDrizzleOrmAgrees in cmd/upshift runs the real one on them).
func TestOwnTransactionControl(t *testing.T) {
	srv := pgtest.Shared(t)
	for _, tc := range []struct {
		name   string
		ms     [][2]string
		failAt string            // "" when the run succeeds
		rows   int               // drizzle's rows
		tables map[string]bool   // which tables exist after
		states map[string]string // tag -> state
		report []string          // in the failure's report
		never  []string          // never in it
	}{
		{name: "a failure after a migration's own COMMIT",
			ms:     [][2]string{{"0000_a", "CREATE TABLE a (id int)"}, {"0001_b", "BEGIN; INSERT INTO a VALUES (1); COMMIT; CREATE TABLE c (id int);"}, {"0002_c", "SELECT 1/0"}},
			failAt: "0002_c", rows: 2, tables: map[string]bool{"a": true, "c": true},
			states: map[string]string{"0000_a": "applied", "0001_b": "applied", "0002_c": "rolled-back"},
			report: []string{"applied and committed before the failure: 0000_a, 0001_b", "rolled back, not applied: 0002_c"},
			never:  []string{"as it was before this run"}},
		{name: "a failure inside the migration after its COMMIT",
			ms:     [][2]string{{"0000_a", "CREATE TABLE a (id int)"}, {"0001_b", "INSERT INTO a VALUES (1);\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nCREATE TABLE c (id int);\n--> statement-breakpoint\nSELECT 1/0;"}},
			failAt: "0001_b", rows: 1, tables: map[string]bool{"a": true, "c": true},
			states: map[string]string{"0000_a": "applied", "0001_b": "partly-applied"},
			report: []string{"partly applied, not recorded: 0001_b (statements 1, 2, 3 committed", "applied and committed before the failure: 0000_a"},
			never:  []string{"as it was before this run"}},
		{name: "a migration's own ROLLBACK",
			ms:   [][2]string{{"0000_a", "CREATE TABLE a (id int)"}, {"0001_b", "ROLLBACK;\n--> statement-breakpoint\nCREATE TABLE r (id int);"}, {"0002_c", "CREATE TABLE z (id int)"}},
			rows: 2, tables: map[string]bool{"a": false, "r": true, "z": true},
			states: map[string]string{"0000_a": "rolled-back", "0001_b": "applied", "0002_c": "applied"}},
		{name: "a BEGIN never closed",
			ms:   [][2]string{{"0000_a", "CREATE TABLE a (id int)"}, {"0001_b", "BEGIN;\n--> statement-breakpoint\nCREATE TABLE u (id int);"}, {"0002_c", "CREATE TABLE v (id int)"}},
			rows: 3, tables: map[string]bool{"a": true, "u": true, "v": true},
			states: map[string]string{"0000_a": "applied", "0001_b": "applied", "0002_c": "applied"}},
		{name: "a BEGIN never closed, then a failure",
			ms:     [][2]string{{"0000_a", "CREATE TABLE a (id int)"}, {"0001_b", "BEGIN;\n--> statement-breakpoint\nCREATE TABLE u (id int);"}, {"0002_c", "SELECT 1/0"}},
			failAt: "0002_c", rows: 0, tables: map[string]bool{"a": false, "u": false},
			states: map[string]string{"0000_a": "rolled-back", "0001_b": "rolled-back", "0002_c": "rolled-back"},
			report: []string{"the database is as it was before this run"}},
		{name: "a COMMIT, then a BEGIN of its own, then a failure",
			ms:     [][2]string{{"0000_a", "CREATE TABLE a (id int)"}, {"0001_b", "COMMIT;\n--> statement-breakpoint\nBEGIN;\n--> statement-breakpoint\nCREATE TABLE w (id int);"}, {"0002_c", "SELECT 1/0"}},
			failAt: "0002_c", rows: 1, tables: map[string]bool{"a": true, "w": false},
			states: map[string]string{"0000_a": "applied", "0001_b": "partly-applied", "0002_c": "rolled-back"},
			never:  []string{"as it was before this run"}},
		{name: "savepoints",
			ms:   [][2]string{{"0000_a", "CREATE TABLE a (id int)"}, {"0001_b", "SAVEPOINT s;\n--> statement-breakpoint\nCREATE TABLE t (id int);\n--> statement-breakpoint\nROLLBACK TO SAVEPOINT s;\n--> statement-breakpoint\nRELEASE SAVEPOINT s;"}, {"0002_c", "CREATE TABLE b (id int)"}},
			rows: 3, tables: map[string]bool{"a": true, "t": false, "b": true},
			states: map[string]string{"0000_a": "applied", "0001_b": "applied", "0002_c": "applied"}},
		{name: "END for COMMIT",
			ms:   [][2]string{{"0000_a", "CREATE TABLE a (id int)"}, {"0001_b", "END;\n--> statement-breakpoint\nCREATE TABLE e (id int);"}, {"0002_c", "CREATE TABLE f (id int)"}},
			rows: 3, tables: map[string]bool{"a": true, "e": true, "f": true},
			states: map[string]string{"0000_a": "applied", "0001_b": "applied", "0002_c": "applied"}},
	} {
		for _, mode := range []drizzle.TxMode{drizzle.TxAll, drizzle.TxEach} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				if mode == drizzle.TxEach && (strings.Contains(tc.name, "ROLLBACK") || strings.Contains(tc.name, "BEGIN never closed, then")) {
					t.Skip("drizzle-orm has one transaction: --tx each ends elsewhere on purpose")
				}
				db := srv.NewDB(t)
				rep, err := migrate.Run(context.Background(), db.Connect(t), cfg(source(tc.ms...), drizzle.Options{TxMode: mode}))
				var ae *drizzle.ApplyError
				switch {
				case tc.failAt == "" && err != nil:
					t.Fatalf("drizzle-orm applies these; upshift: %v", err)
				case tc.failAt != "":
					var me *drizzle.MigrationError
					if !errors.As(err, &ae) || !errors.As(err, &me) || me.Tag != tc.failAt {
						t.Fatalf("want a failure at %s, got %v", tc.failAt, err)
					}
				}
				if got := applied(t, db); got != fmt.Sprint(tc.rows) && !(tc.rows == 0 && got == "none") && mode == drizzle.TxAll {
					t.Errorf("%s rows in the migrations table, drizzle-orm leaves %d", got, tc.rows)
				}
				for table, want := range tc.tables {
					if mode == drizzle.TxEach && !want {
						continue
					}
					if exists(t, db, table) != want {
						t.Errorf("table %s exists: %v, want %v", table, !want, want)
					}
				}
				states := rep.Migrations
				if ae != nil {
					states = ae.States
				}
				for _, s := range states {
					if want := tc.states[s.Tag]; want != "" && string(s.State) != want && mode == drizzle.TxAll {
						t.Errorf("%s: %s (%v, %s), want %s", s.Tag, s.State, s.Committed, s.Note, want)
					}
				}
				if ae != nil {
					report := ae.Report(source(tc.ms...))
					for _, w := range tc.report {
						if !strings.Contains(report, w) && mode == drizzle.TxAll {
							t.Errorf("the report lacks %q:\n%s", w, report)
						}
					}
					for _, w := range tc.never {
						if strings.Contains(report, w) {
							t.Errorf("the report says %q:\n%s", w, report)
						}
					}
				}
				// What the table says is what the run said it applied.
				recorded := 0
				for _, s := range states {
					if s.State == drizzle.OutcomeApplied {
						recorded++
					}
				}
				if got := applied(t, db); got != fmt.Sprint(recorded) && !(recorded == 0 && got == "none") {
					t.Errorf("the run says %d applied; the table holds %s rows", recorded, got)
				}
			})
		}
	}
}

// An enum value added by one pending migration and used by a later one:
// drizzle-orm applies these when an earlier migration's own COMMIT ended
// its transaction; upshift commits the adding migration before the using
// one starts, says so in the plan, and applies them all.
func TestEnumValueAddedThenUsed(t *testing.T) {
	srv := pgtest.Shared(t)
	ms := [][2]string{
		{"0000_kind", "CREATE TYPE kind AS ENUM('a');\n--> statement-breakpoint\nCREATE TABLE items (id serial PRIMARY KEY, k kind NOT NULL);"},
		{"0001_seed", "BEGIN; INSERT INTO items (k) VALUES ('a'); COMMIT;"},
		{"0002_idx", "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_k_idx ON items (k);"},
		{"0003_add", "ALTER TYPE kind ADD VALUE 'b';"},
		{"0004_use", "INSERT INTO items (k) VALUES ('b');"},
	}
	for _, mode := range []drizzle.TxMode{drizzle.TxAll, drizzle.TxEach} {
		t.Run(string(mode), func(t *testing.T) {
			db := srv.NewDB(t)
			c := cfg(source(ms...), drizzle.Options{TxMode: mode})
			c.DryRun = true
			rep, err := migrate.Run(context.Background(), db.Connect(t), c)
			if err != nil {
				t.Fatal(err)
			}
			var use *drizzle.Entry
			for _, e := range rep.Prepared.Pending() {
				if e.Tag() == "0004_use" {
					use = e
				}
			}
			if why := rep.Prepared.Break(use); mode == drizzle.TxAll && !strings.Contains(why, "'b' of kind, which 0003_add adds") {
				t.Errorf("the plan does not say why 0004_use starts a new transaction: %q", why)
			}
			if !strings.Contains(rep.Script, "'b' of kind") && mode == drizzle.TxAll {
				t.Errorf("the dry run's script does not say it:\n%s", rep.Script)
			}
			if _, err := migrate.Run(context.Background(), db.Connect(t), cfg(source(ms...), drizzle.Options{TxMode: mode})); err != nil {
				t.Fatalf("drizzle-orm applies all five; upshift: %v", err)
			}
			if got := applied(t, db); got != "5" {
				t.Errorf("%s rows, want 5", got)
			}
			var n int
			if err := db.Connect(t).QueryRow(context.Background(), "SELECT count(*) FROM items WHERE k = 'b'").Scan(&n); err != nil || n != 1 {
				t.Errorf("items with 'b': %d, %v", n, err)
			}
		})
	}
}
