package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/pgtest"
)

const generatedStored = `ALTER TABLE "events" ADD COLUMN "search" tsvector GENERATED ALWAYS AS (to_tsvector('simple', "body")) STORED;`

func TestLintFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "0007_search.sql")
	writeFile(bad, "SET lock_timeout = '5s';\n--> statement-breakpoint\n"+generatedStored+"\n")
	r := upshift(t, nil, "lint", bad)
	if r.code != 1 {
		t.Fatalf("want exit 1: %v", r)
	}
	for _, want := range []string{bad + ":3:1: error generated-stored-column: stored generated column public.events.search rewrites public.events under ACCESS EXCLUSIVE", "fix: add a plain nullable column", "1 file linted: 1 error"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = upshift(t, nil, "lint", bad, "--format", "json")
	var out struct {
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Findings) != 1 {
		t.Fatalf("%v %v", err, r)
	}
	f := out.Findings[0]
	for _, k := range []string{"rule", "severity", "file", "line", "column", "statement", "message", "fix"} {
		if _, ok := f[k]; !ok {
			t.Errorf("json finding lacks %q: %v", k, f)
		}
	}
	if f["line"].(float64) != 3 || f["statement"] != strings.TrimSuffix(generatedStored, ";") {
		t.Errorf("%v", f)
	}
	r = upshift(t, nil, "lint", bad, "--format", "github")
	if !strings.HasPrefix(r.stdout, "::error file="+bad+",line=3,col=1,title=upshift generated-stored-column::") {
		t.Errorf("%v", r)
	}
	// Suppressed with a reason, it passes.
	writeFile(bad, "SET lock_timeout = '5s';\n--> statement-breakpoint\n-- upshift:ignore generated-stored-column events has 40 rows, measured\n"+generatedStored+"\n")
	if r := upshift(t, nil, "lint", bad); r.code != 0 {
		t.Errorf("suppressed: %v", r)
	}
}

// TestLintWithDatabase: sizes in messages, --min-rows, invalid indexes,
// and only the pending migrations of a folder.
func TestLintWithDatabase(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, `CREATE TABLE events (id bigserial PRIMARY KEY, body text, user_id bigint);
INSERT INTO events (body, user_id) SELECT 'event ' || g, g % 100 FROM generate_series(1, 50000) g;
ANALYZE events;
CREATE TABLE dup (v int); INSERT INTO dup VALUES (1), (1);`)
	// The build fails on the duplicate and leaves an invalid index behind.
	if _, err := db.Connect(t).Exec(context.Background(), `CREATE UNIQUE INDEX CONCURRENTLY dup_v_key ON dup (v)`); err == nil {
		t.Fatal("the unique build should fail")
	}
	dir := folder(t,
		[2]string{"0000_applied", "CREATE INDEX events_body_idx ON events (body);"},
		[2]string{"0001_pending", "SET lock_timeout = '5s';\n--> statement-breakpoint\nCREATE INDEX events_user_idx ON events (user_id);"},
	)
	if r := upshift(t, dbEnv(db), "mark-applied", "--dir", dir, "0000_applied"); r.code != 0 {
		t.Fatal(r)
	}
	r := upshift(t, nil, "lint", "--dir", dir, "--database-url", db.URL)
	if r.code != 1 {
		t.Fatalf("%v", r)
	}
	if !strings.Contains(r.stdout, `CREATE INDEX "events_user_idx" on public.events (~50.0k rows, `) {
		t.Errorf("no size in:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "events_body_idx") {
		t.Errorf("the applied migration was linted:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, `(database):1:1: error invalid-index: index "public"."dup_v_key" on public.dup is INVALID`) {
		t.Errorf("invalid index not reported:\n%s", r.stdout)
	}
	db.Exec(t, `DROP INDEX dup_v_key`)
	if r := upshift(t, nil, "lint", "--dir", dir, "--database-url", db.URL, "--min-rows", "100000"); r.code != 0 {
		t.Errorf("--min-rows: %v", r)
	}
}

// TestMigrateLints: migrate prints lint findings for what it applies, and
// --strict refuses before changing anything.
func TestMigrateLints(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, `CREATE TABLE events (id bigserial PRIMARY KEY, body text);`)
	dir := folder(t, [2]string{"0000_search", generatedStored})
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir, "--strict")
	if r.code != 1 || !strings.Contains(r.stderr, "lint: ") || !strings.Contains(r.stderr, "generated-stored-column") || !strings.Contains(r.stderr, "refusing to migrate (--strict)") {
		t.Fatalf("%v", r)
	}
	if count(t, db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle'") != 0 {
		t.Fatal("--strict refusal changed the database")
	}
	r = mustMigrate(t, db, "--dir", dir)
	if !strings.Contains(r.stderr, "lint: ") || !strings.Contains(r.stdout, "done: 1 migration applied") {
		t.Errorf("%v", r)
	}
}
