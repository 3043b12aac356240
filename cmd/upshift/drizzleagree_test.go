package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/drizzlejs"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/internal/harness/realworld"
)

// agreeShapes are folders whose migrations end, open or mark transactions
// themselves, or add an enum value a later migration uses: the shapes
// that made upshift fail where drizzle-orm succeeded, or misreport what a
// migration's own COMMIT committed.
var agreeShapes = []struct {
	name string
	ms   []string
}{
	{"own-commit-then-concurrently-then-enum", []string{
		"CREATE TYPE kind AS ENUM('a');\n--> statement-breakpoint\nCREATE TABLE items (id serial PRIMARY KEY, k kind NOT NULL);",
		"BEGIN; INSERT INTO items (k) VALUES ('a'); COMMIT;",
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS items_k_idx ON items (k);",
		"ALTER TYPE kind ADD VALUE 'b';",
		"INSERT INTO items (k) VALUES ('b');"}},
	{"enum-value-added-then-used", []string{
		"CREATE TYPE kind AS ENUM('a');\n--> statement-breakpoint\nCREATE TABLE items (id serial PRIMARY KEY, k kind NOT NULL);",
		"ALTER TYPE kind ADD VALUE 'b';",
		"INSERT INTO items (k) VALUES ('b');"}},
	{"failure-after-own-commit", []string{
		"CREATE TABLE a (id int);",
		"BEGIN; INSERT INTO a VALUES (1); COMMIT; CREATE TABLE c (id int);",
		"SELECT 1/0;"}},
	{"rollback-inside", []string{
		"CREATE TABLE a (id int);",
		"ROLLBACK;\n--> statement-breakpoint\nCREATE TABLE r (id int);",
		"CREATE TABLE z (id int);"}},
	{"begin-never-closed", []string{
		"CREATE TABLE a (id int);",
		"BEGIN;\n--> statement-breakpoint\nCREATE TABLE u (id int);",
		"CREATE TABLE v (id int);"}},
	{"begin-never-closed-then-failure", []string{
		"CREATE TABLE a (id int);",
		"BEGIN;\n--> statement-breakpoint\nCREATE TABLE u (id int);",
		"SELECT 1/0;"}},
	{"commit-then-concurrently-in-one", []string{
		"CREATE TABLE a (id int);",
		"COMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY a_id_idx ON a (id);",
		"CREATE TABLE b (id int);"}},
	{"savepoint-rolled-back-to", []string{
		"CREATE TABLE a (id int);",
		"SAVEPOINT s;\n--> statement-breakpoint\nCREATE TABLE t (id int);\n--> statement-breakpoint\nROLLBACK TO SAVEPOINT s;",
		"CREATE TABLE b (id int);"}},
}

// writeShape lays out a drizzle-kit 0.x journal folder of the migrations.
func writeShape(t *testing.T, name string, ms []string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	var entries []map[string]any
	for i, sql := range ms {
		tag := fmt.Sprintf("%04d_step_%d", i, i)
		entries = append(entries, map[string]any{"idx": i, "version": "7", "when": 1700000000000 + int64(i)*1000, "tag": tag, "breakpoints": true})
		if err := writeFile(filepath.Join(dir, tag+".sql"), sql); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"version": "7", "dialect": "postgresql", "entries": entries}, "", "  ")
	if err := writeFile(filepath.Join(dir, "meta", "_journal.json"), string(b)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// recordedRows is the migrations table's rows (none when there is no
// table).
func recordedRows(t *testing.T, db *pgtest.DB) []string {
	t.Helper()
	var exists bool
	if err := db.Connect(t).QueryRow(context.Background(), "SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		return nil
	}
	return rowsOf(t, db, "drizzle.__drizzle_migrations")
}

// failedAt is the migration (index in the journal) holding the query
// drizzle-orm's error names, or -1.
func failedAt(out string, dir string) int {
	_, q, ok := strings.Cut(out, "Failed query: ")
	if !ok {
		return -1
	}
	q, _, _ = strings.Cut(q, "\nparams:")
	q = strings.TrimSpace(q)
	b, err := os.ReadFile(filepath.Join(dir, "meta", "_journal.json"))
	if err != nil {
		return -1
	}
	var j struct {
		Entries []struct{ Tag string } `json:"entries"`
	}
	if json.Unmarshal(b, &j) != nil {
		return -1
	}
	for i, e := range j.Entries {
		sql, _ := os.ReadFile(filepath.Join(dir, e.Tag+".sql"))
		if strings.Contains(string(sql), q) {
			return i
		}
	}
	return -1
}

// TestDrizzleOrmAgrees runs every real folder and every shape through the
// real drizzle-orm 0.45.4 and through upshift, each into a fresh
// database: where drizzle-orm succeeds, upshift succeeds with the same
// rows and the same schema; where drizzle-orm fails, upshift fails no
// later (or applies all, where its plan said why it commits a migration
// before the next: an enum value PostgreSQL refuses to use in the
// transaction that added it), and what its result says it applied is
// what the migrations table holds.
func TestDrizzleOrmAgrees(t *testing.T) {
	srv := pgtest.Shared(t)
	script := drizzleJS(t, "0.45.4")
	type folder struct{ name, dir string }
	var folders []folder
	// Where the server has pgvector (Debian's, in the 17 and 18 roots),
	// sim goes in whole; else up to where it needs the extension.
	var vector bool
	if err := srv.NewDB(t).Connect(t).QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')").Scan(&vector); err != nil {
		t.Fatal(err)
	}
	for _, name := range realworld.Folders {
		dir := filepath.Join(realworld.Root(), "drizzle", name)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if !vector {
			dir = realworld.Applicable(t, name)
		}
		folders = append(folders, folder{"realworld/" + name, dir})
	}
	for _, s := range agreeShapes {
		folders = append(folders, folder{"shape/" + s.name, writeShape(t, s.name, s.ms)})
	}
	var table []string
	for _, f := range folders {
		t.Run(f.name, func(t *testing.T) {
			ref := srv.NewDB(t)
			out, derr := drizzlejs.Command(script, ref.URL, f.dir).CombinedOutput()
			db := srv.NewDB(t)
			r := upshift(t, dbEnv(db), "migrate", "--dir", f.dir, "--format", "json")
			var doc struct {
				Applied    []struct{ Tag string } `json:"applied"`
				Migrations []struct {
					Tag   string `json:"tag"`
					State string `json:"state"`
				} `json:"migrations"`
				Error *struct{ Tag string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("upshift's result: %v\n%s", err, r)
			}
			got, want := recordedRows(t, db), recordedRows(t, ref)
			verdict := ""
			switch {
			case derr == nil && r.code != 0:
				t.Errorf("drizzle-orm applies %s; upshift fails: %s", f.dir, r)
				verdict = "FAIL: upshift fails"
			case derr == nil:
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("rows differ from drizzle-orm's:\n%s", lineDiff(strings.Join(want, "\n"), strings.Join(got, "\n")))
				}
				if g, w := withoutProgress(schemaDump(t, db)), schemaDump(t, ref); g != w {
					t.Errorf("schema differs from drizzle-orm's:\n%s", lineDiff(w, g))
				}
				verdict = fmt.Sprintf("both apply %d; same rows and schema", len(want))
			case r.code == 0:
				// Better than drizzle-orm only where the plan says why.
				plan := upshift(t, dbEnv(srv.NewDB(t)), "migrate", "--dir", f.dir, "--dry-run")
				if !strings.Contains(plan.stdout, "starts a new transaction") {
					t.Errorf("drizzle-orm fails (%s); upshift applies all without saying why:\n%s", firstLine(string(out)), plan)
				}
				verdict = "drizzle-orm fails; upshift applies all (a new transaction, said in the plan)"
			default:
				at := -1
				for i, m := range doc.Migrations {
					if doc.Error != nil && m.Tag == doc.Error.Tag {
						at = i
					}
				}
				if d := failedAt(string(out), f.dir); d >= 0 && at > d {
					t.Errorf("drizzle-orm fails at migration %d, upshift only at %d", d, at)
				}
				verdict = fmt.Sprintf("both fail (upshift at %s)", doc.Error.Tag)
			}
			applied := 0
			for _, m := range doc.Migrations {
				if m.State == "applied" {
					applied++
				}
			}
			if r.code != 0 && applied != len(got) {
				t.Errorf("upshift's result says %d applied; the table holds %d rows", applied, len(got))
			}
			table = append(table, fmt.Sprintf("%-48s %s", f.name, verdict))
		})
	}
	t.Logf("upshift against drizzle-orm 0.45.4, PostgreSQL %s:\n%s", srv.Version(t), strings.Join(table, "\n"))
}

// withoutProgress is a schema dump without upshift's own progress table
// (drizzle.upshift_progress, which a no-transaction migration's run
// keeps beside drizzle's: documented, and no part of the user's schema).
func withoutProgress(dump string) string {
	var keep []string
	skip := false
	for _, block := range strings.Split(dump, "\n\n") {
		skip = strings.Contains(block, "drizzle.upshift_progress")
		if !skip {
			keep = append(keep, block)
		}
	}
	return strings.Join(keep, "\n\n")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
