package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
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
	for _, want := range []string{bad + ":3:1: error generated-stored-column: stored generated column public.events.search: every row is rewritten", "fix: add a plain column that a trigger keeps filled", "ALTER TABLE events ADD COLUMN search tsvector;", "1 file linted: 1 error"} {
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

// TestLintPathsAsGiven: findings and annotations name files the way the
// user wrote them, relative paths included.
func TestLintPathsAsGiven(t *testing.T) {
	dir := t.TempDir()
	writeFile(filepath.Join(dir, "sql", "0001_drop.sql"), "ALTER TABLE credits DROP COLUMN note;\n")
	for _, args := range [][]string{
		{"lint", "sql/0001_drop.sql", "--format", "github"},
		{"lint", "./sql/0001_drop.sql", "--format", "github"},
	} {
		r := upshiftIn(t, dir, nil, args...)
		if !strings.HasPrefix(r.stdout, "::warning file="+args[1]+",line=1,col=1,") {
			t.Errorf("%v: %s", args, r)
		}
	}
	f := folder(t, [2]string{"0000_drop", "ALTER TABLE credits DROP COLUMN note;"})
	rel, err := filepath.Rel(dir, f)
	if err != nil {
		t.Fatal(err)
	}
	r := upshiftIn(t, dir, nil, "lint", "--dir", rel)
	if !strings.HasPrefix(r.stdout, filepath.Join(rel, "0000_drop.sql")+":1:1: warning drop-column") {
		t.Errorf("--dir %s: %s", rel, r)
	}
	if r := upshiftIn(t, dir, nil, "lint", "sql/missing.sql"); r.code != 2 || !strings.Contains(r.stderr, "sql/missing.sql") {
		t.Errorf("missing file: %s", r)
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
	if !strings.Contains(r.stdout, `index "events_user_idx" on public.events (~50.0k rows, `) {
		t.Errorf("no size in:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "events_body_idx") {
		t.Errorf("the applied migration was linted:\n%s", r.stdout)
	}
	// The invalid index is named where it is, with the statements that
	// rebuild it as it was defined.
	if !strings.Contains(r.stdout, "index public.dup_v_key on public.dup: error invalid-index: index public.dup_v_key on public.dup is INVALID") ||
		!strings.Contains(r.stdout, `DROP INDEX CONCURRENTLY IF EXISTS "public"."dup_v_key";`) ||
		!strings.Contains(r.stdout, "CREATE UNIQUE INDEX CONCURRENTLY dup_v_key ON public.dup USING btree (v);") || strings.Contains(r.stdout, "(database)") {
		t.Errorf("invalid index not reported by name:\n%s", r.stdout)
	}
	r = upshift(t, nil, "lint", "--dir", dir, "--database-url", db.URL, "--format", "github")
	if !strings.Contains(r.stdout, "::error title=upshift invalid-index (index public.dup_v_key on public.dup)::") {
		t.Errorf("invalid index annotation:\n%s", r.stdout)
	}
	// --all lints the applied migrations too, against the same real sizes:
	// a table an applied migration created is not new.
	withCreate := folder(t,
		[2]string{"0000_events", "CREATE TABLE events (id bigserial PRIMARY KEY, body text, user_id bigint);"},
		[2]string{"0001_pending", "SET lock_timeout = '5s';\n--> statement-breakpoint\nCREATE INDEX events_user_idx ON events (user_id);"},
	)
	db2 := pgtest.Shared(t).NewDB(t)
	db2.Exec(t, `CREATE TABLE events (id bigserial PRIMARY KEY, body text, user_id bigint);
INSERT INTO events (body, user_id) SELECT 'event ' || g, g % 100 FROM generate_series(1, 50000) g;
ANALYZE events;`)
	if r := upshift(t, dbEnv(db2), "mark-applied", "--dir", withCreate, "0000_events"); r.code != 0 {
		t.Fatal(r)
	}
	pending := upshift(t, nil, "lint", "--dir", withCreate, "--database-url", db2.URL)
	all := upshift(t, nil, "lint", "--dir", withCreate, "--database-url", db2.URL, "--all")
	for _, r := range []result{pending, all} {
		if r.code != 1 || !strings.Contains(r.stdout, `index "events_user_idx" on public.events (~50.0k rows, `) {
			t.Errorf("the index on the existing table:\n%s", r)
		}
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
	if r.code != 1 || !strings.Contains(r.stderr, "lint: ") || !strings.Contains(r.stderr, "generated-stored-column") || !strings.Contains(r.stderr, "--strict: refusing to migrate") {
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

// TestStatementsWithoutSemicolons: custom migrations often end a statement
// at the breakpoint without a semicolon. migrate applies them, so lint and
// migrate --strict accept them too, and still judge each statement.
func TestStatementsWithoutSemicolons(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t, [2]string{"0000_custom", "CREATE TABLE \"credits\" (\"id\" integer PRIMARY KEY, \"user_id\" integer)\n--> statement-breakpoint\nCREATE INDEX \"credits_user_idx\" ON \"credits\" (\"user_id\")\n--> statement-breakpoint\nINSERT INTO \"credits\" VALUES (1, 1)"})
	if r := upshift(t, nil, "lint", "--dir", dir); r.code != 0 || strings.Contains(r.stdout, "parse-error") {
		t.Errorf("lint: %s", r)
	}
	if r := upshift(t, dbEnv(db), "migrate", "--dir", dir, "--strict"); r.code != 0 {
		t.Errorf("migrate --strict: %s", r)
	}
	// Against the table that now exists, the next custom migration's index
	// is found at its own line.
	next := folder(t,
		[2]string{"0000_custom", "CREATE TABLE \"credits\" (\"id\" integer PRIMARY KEY, \"user_id\" integer)\n--> statement-breakpoint\nCREATE INDEX \"credits_user_idx\" ON \"credits\" (\"user_id\")\n--> statement-breakpoint\nINSERT INTO \"credits\" VALUES (1, 1)"},
		[2]string{"0001_more", "SET lock_timeout = '5s'\n--> statement-breakpoint\nCREATE INDEX \"credits_id_user_idx\" ON \"credits\" (\"id\", \"user_id\")"})
	r := upshift(t, nil, "lint", "--dir", next, "--database-url", db.URL)
	if r.code != 1 || !strings.Contains(r.stdout, "0001_more.sql:3:1: error create-index-non-concurrently") || strings.Contains(r.stdout, "parse-error") {
		t.Errorf("lint of the next migration: %s", r)
	}
}
