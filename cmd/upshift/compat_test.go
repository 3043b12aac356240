package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// tableState is the migrations table as the golden files describe it.
type tableState struct {
	Rows []map[string]any `json:"rows"`
	Cols []map[string]any `json:"columns"`
}

// readTableState reads drizzle.__drizzle_migrations in the golden files'
// form: every column, applied_at only as null or not.
func readTableState(t *testing.T, db *pgtest.DB) tableState {
	t.Helper()
	conn := db.Connect(t)
	ctx := context.Background()
	var st tableState
	rows, err := conn.Query(ctx, `SELECT column_name::text, data_type::text, column_default
FROM information_schema.columns WHERE table_schema = 'drizzle' AND table_name = '__drizzle_migrations' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	hasName := false
	for rows.Next() {
		var name, typ string
		var def *string
		if err := rows.Scan(&name, &typ, &def); err != nil {
			t.Fatal(err)
		}
		hasName = hasName || name == "name"
		st.Cols = append(st.Cols, map[string]any{"name": name, "type": typ, "default": def})
	}
	rows.Close()
	q := `SELECT id, hash, created_at FROM drizzle.__drizzle_migrations ORDER BY id`
	if hasName {
		q = `SELECT id, hash, name, created_at, applied_at IS NULL FROM drizzle.__drizzle_migrations ORDER BY id`
	}
	rows, err = conn.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, created int64
		var hash string
		var name *string
		var appliedNull bool
		var err error
		if hasName {
			err = rows.Scan(&id, &hash, &name, &created, &appliedNull)
		} else {
			err = rows.Scan(&id, &hash, &created)
		}
		if err != nil {
			t.Fatal(err)
		}
		r := map[string]any{"id": id, "hash": hash, "created_at": created}
		if hasName {
			r["name"], r["applied_at_is_null"] = name, appliedNull
		}
		st.Rows = append(st.Rows, r)
	}
	rows.Close()
	return st
}

// normalizeJSON makes both sides comparable (numbers, pointer strings).
func normalizeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	_ = json.Unmarshal(b, &x)
	b, _ = json.MarshalIndent(x, "", "  ")
	return string(b)
}

func assertTable(t *testing.T, db *pgtest.DB, goldenName string) {
	t.Helper()
	var w tableState
	readGoldenJSON(t, goldenName, &w)
	got := readTableState(t, db)
	if g, e := normalizeJSON(t, got.Rows), normalizeJSON(t, w.Rows); g != e {
		t.Errorf("%s rows differ from drizzle-orm's:\n got %s\nwant %s", goldenName, g, e)
	}
	if g, e := normalizeJSON(t, got.Cols), normalizeJSON(t, w.Cols); g != e {
		t.Errorf("%s columns differ from drizzle-orm's:\n got %s\nwant %s", goldenName, g, e)
	}
}

// schemaDump is pg_dump's schema, filtered as the golden README says.
func schemaDump(t *testing.T, db *pgtest.DB) string {
	t.Helper()
	cmd := exec.Command("pg_dump", "--schema-only", "--no-owner", "--no-privileges", db.URL)
	if srv := pgtest.Shared(t); srv.Bin != "" {
		cmd = srv.Command("pg_dump", "--schema-only", "--no-owner", "--no-privileges", db.URL)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "--") || strings.HasPrefix(l, "SET ") || strings.HasPrefix(l, `\restrict`) || strings.HasPrefix(l, `\unrestrict`) || strings.HasPrefix(l, "SELECT pg_catalog.set_config") {
			continue
		}
		keep = append(keep, l)
	}
	return collapseBlank(strings.Join(keep, "\n"))
}

func collapseBlank(s string) string {
	for strings.Contains(s, "\n\n\n") {
		s = strings.ReplaceAll(s, "\n\n\n", "\n\n")
	}
	return strings.TrimSpace(s)
}

func assertSchema(t *testing.T, db *pgtest.DB, goldenName string) {
	t.Helper()
	want := readGoldenFile(t, goldenName, "expected_schema.sql")
	if got, w := schemaDump(t, db), collapseBlank(string(want)); got != w {
		t.Errorf("%s schema differs from what drizzle-orm left:\n%s", goldenName, lineDiff(w, got))
	}
}

func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n   got: %s\n", i+1, w, g)
		}
	}
	return b.String()
}

// copyGolden copies a corpus folder's drizzle/ folder to a writable place.
func copyGolden(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "drizzle")
	if err := os.CopyFS(dir, os.DirFS(goldenDir(name))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// v0FirstRun is a copy of the v0 folder whose journal holds only 0000 and
// 0001: the folder as it stood at drizzle-orm's first run.
func v0FirstRun(t *testing.T) string {
	t.Helper()
	dir := copyGolden(t, "v0-journal")
	jp := filepath.Join(dir, "meta", "_journal.json")
	b, _ := os.ReadFile(jp)
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	j["entries"] = j["entries"].([]any)[:2]
	b, _ = json.MarshalIndent(j, "", "  ")
	os.Chmod(jp, 0o644)
	if err := os.WriteFile(jp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustMigrate(t *testing.T, db *pgtest.DB, args ...string) result {
	t.Helper()
	r := upshift(t, dbEnv(db), append([]string{"migrate"}, args...)...)
	if r.code != 0 {
		t.Fatalf("migrate %v: %v", args, r)
	}
	return r
}

// TestGoldenMigrate: upshift alone produces exactly the rows and schema
// that drizzle-orm produced, run for run.
func TestGoldenMigrate(t *testing.T) {
	srv := pgtest.Shared(t)
	t.Run("v0-journal two runs", func(t *testing.T) {
		db := srv.NewDB(t)
		mustMigrate(t, db, "--dir", v0FirstRun(t))
		db.Exec(t, `INSERT INTO users (email) VALUES ('first@example.com')`)
		mustMigrate(t, db, "--dir", goldenDir("v0-journal"))
		assertTable(t, db, "v0-journal")
		assertSchema(t, db, "v0-journal")
	})
	t.Run("v1-folders", func(t *testing.T) {
		db := srv.NewDB(t)
		mustMigrate(t, db, "--dir", goldenDir("v1-folders"))
		assertTable(t, db, "v1-folders")
		assertSchema(t, db, "v1-folders")
	})
	t.Run("v0-upgraded-to-v1", func(t *testing.T) {
		db := srv.NewDB(t)
		mustMigrate(t, db, "--dir", v0FirstRun(t))
		db.Exec(t, `INSERT INTO users (email) VALUES ('first@example.com')`)
		mustMigrate(t, db, "--dir", goldenDir("v0-journal"))
		r := mustMigrate(t, db, "--dir", goldenDir("v0-upgraded-to-v1"))
		if strings.Contains(r.stdout, "applied  ") {
			t.Errorf("the upgrade applied migrations:\n%s", r.stdout)
		}
		assertTable(t, db, "v0-upgraded-to-v1")
		assertSchema(t, db, "v0-upgraded-to-v1")
		// And the upgraded table is up to date for drizzle-orm 1.0's rules.
		if r := upshift(t, dbEnv(db), "status", "--exit-code", "--dir", goldenDir("v0-upgraded-to-v1")); r.code != 0 {
			t.Errorf("status after upgrade: %v", r)
		}
	})
}

// TestContinueDrizzleState: a database in the state drizzle-orm 0.45 left
// after its first run (golden rows 1-2 and the schema of 0000-0001) is
// continued by upshift to exactly drizzle-orm's final state.
func TestContinueDrizzleState(t *testing.T) {
	srv := pgtest.Shared(t)
	db := srv.NewDB(t)
	seedTable(t, db, "v0", "v0-journal", func(i int, _ *string, _ *int64) bool { return i < 2 })
	for _, f := range []string{"0000_initial_schema.sql", "0001_add_credits_table.sql"} {
		b, err := os.ReadFile(filepath.Join(goldenDir("v0-journal"), f))
		if err != nil {
			t.Fatal(err)
		}
		db.Exec(t, strings.ReplaceAll(string(b), "--> statement-breakpoint", ""))
	}
	db.Exec(t, `INSERT INTO users (email) VALUES ('first@example.com')`)
	r := mustMigrate(t, db, "--dir", goldenDir("v0-journal"))
	if !strings.Contains(r.stdout, "applying 2 migrations") {
		t.Errorf("expected 2 pending:\n%s", r.stdout)
	}
	assertTable(t, db, "v0-journal")
	assertSchema(t, db, "v0-journal")
}
