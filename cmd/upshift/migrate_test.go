package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	mdoc "github.com/upshift-dev/upshift/migrate/result"
)

// folder writes a journal-layout migrations folder: each migration is
// tag -> SQL, with "when" 1000, 2000, ... in order.
func folder(t *testing.T, migrations ...[2]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "drizzle")
	type entry struct {
		Idx         int    `json:"idx"`
		Version     string `json:"version"`
		When        int64  `json:"when"`
		Tag         string `json:"tag"`
		Breakpoints bool   `json:"breakpoints"`
	}
	var entries []entry
	for i, m := range migrations {
		entries = append(entries, entry{i, "7", int64(i+1) * 1000, m[0], true})
		if err := writeFile(filepath.Join(dir, m[0]+".sql"), m[1]); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"version": "7", "dialect": "postgresql", "entries": entries}, "", "  ")
	if err := writeFile(filepath.Join(dir, "meta", "_journal.json"), string(b)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func count(t *testing.T, db *pgtest.DB, sql string) int {
	t.Helper()
	var n int
	if err := db.Connect(t).QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func tableExists(t *testing.T, db *pgtest.DB, name string) bool {
	return count(t, db, fmt.Sprintf("SELECT count(*) FROM pg_class WHERE relname = '%s'", name)) > 0
}

const bp = "\n--> statement-breakpoint\n"

// TestMigrateFailureMidBatch: the whole pending batch rolls back, and the
// error says where, what the server said, with a caret.
func TestMigrateFailureMidBatch(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t,
		[2]string{"0000_a", "CREATE TABLE a (id int);"},
		[2]string{"0001_b", "CREATE TABLE b (id int);" + bp + "INSERT INTO b VALUES (1);" + bp + "INSERT INTO b\n  VALUES (nope);"},
		[2]string{"0002_c", "CREATE TABLE c (id int);"},
	)
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir)
	if r.code != 1 {
		t.Fatalf("want exit 1: %v", r)
	}
	for _, want := range []string{
		`migration "0001_b" failed at statement 3 (` + dir + `/0001_b.sql:6:11)`,
		`ERROR 42703: column "nope" does not exist`,
		"  6 |   VALUES (nope);\n    |           ^",
		"rolled back, not applied: 0000_a, 0001_b",
		"the database is as it was before this run",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if tableExists(t, db, "a") || tableExists(t, db, "b") || tableExists(t, db, "__drizzle_migrations") {
		t.Error("something of the failed batch was left behind")
	}
	// JSON carries the same facts.
	r = upshift(t, dbEnv(db), "migrate", "--dir", dir, "--format", "json")
	var out mdoc.Document
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if r.code != 1 || out.Error == nil || out.Error.Tag != "0001_b" || out.Error.Statement != 3 || out.Error.Line != 6 || out.Error.Column != 11 || out.Error.Code != "42703" ||
		strings.Join(out.RolledBack, ",") != "0000_a,0001_b" {
		t.Errorf("json: %+v %+v", out, out.Error)
	}
}

// TestMigrateTxEach: with --tx each, migrations before the failing one stay.
func TestMigrateTxEach(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t,
		[2]string{"0000_a", "CREATE TABLE a (id int);"},
		[2]string{"0001_b", "CREATE TABLE b (id int);" + bp + "SELECT 1/0;"},
	)
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir, "--tx", "each")
	if r.code != 1 || !strings.Contains(r.stderr, "applied and committed before the failure: 0000_a") || !strings.Contains(r.stderr, "rolled back, not applied: 0001_b") {
		t.Fatalf("%v", r)
	}
	if !tableExists(t, db, "a") || tableExists(t, db, "b") || count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations") != 1 {
		t.Error("wrong state after --tx each failure")
	}
}

// TestMigrateOutOfOrder: an older migration from another branch is refused
// by default (drizzle-orm 0.45 would skip it forever), applied when allowed.
func TestMigrateOutOfOrder(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	full := folder(t,
		[2]string{"0000_a", "CREATE TABLE a (id int);"},
		[2]string{"0001_branch", "CREATE TABLE branch (id int);"},
		[2]string{"0002_c", "CREATE TABLE c (id int);"},
	)
	// main had 0000 and 0002 applied; the branch's 0001 arrives later.
	mainOnly := folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_x", "SELECT 1;"}, [2]string{"0002_c", "CREATE TABLE c (id int);"})
	mustMigrate(t, db, "--dir", mainOnly)
	db.Exec(t, "DELETE FROM drizzle.__drizzle_migrations WHERE created_at = 2000")
	r := upshift(t, dbEnv(db), "migrate", "--dir", full)
	if r.code != 1 {
		t.Fatalf("want refusal: %v", r)
	}
	for _, want := range []string{`migration "0001_branch" (created_at 2000) is older than the already applied "0002_c" (created_at 3000)`, "skip it silently", "--allow-out-of-order", "nothing was changed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if tableExists(t, db, "branch") {
		t.Fatal("refused migration ran")
	}
	mustMigrate(t, db, "--dir", full, "--allow-out-of-order")
	if !tableExists(t, db, "branch") {
		t.Fatal("--allow-out-of-order did not apply it")
	}
	if r := upshift(t, dbEnv(db), "status", "--dir", full, "--exit-code"); r.code != 0 {
		t.Errorf("after applying out of order, status: %v", r)
	}
}

func TestMigrateModified(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"})
	mustMigrate(t, db, "--dir", dir)
	os.WriteFile(filepath.Join(dir, "0000_a.sql"), []byte("CREATE TABLE a (id bigint);"), 0o644)
	writeFile(filepath.Join(dir, "0001_b.sql"), "CREATE TABLE b (id int);")
	j := `{"version":"7","dialect":"postgresql","entries":[{"idx":0,"when":1000,"tag":"0000_a"},{"idx":1,"when":2000,"tag":"0001_b"}]}`
	os.WriteFile(filepath.Join(dir, "meta", "_journal.json"), []byte(j), 0o644)
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, `0000_a.sql: migration "0000_a" was changed after it was applied (file hash `) || !strings.Contains(r.stderr, "recorded hash ") {
		t.Fatalf("%v", r)
	}
	if tableExists(t, db, "b") {
		t.Fatal("ran despite the refusal")
	}
	r = mustMigrate(t, db, "--dir", dir, "--allow-modified")
	if !tableExists(t, db, "b") || !strings.Contains(r.stderr, "changed after it was applied") {
		t.Errorf("%v", r)
	}
}

// TestMigrateMissingWarns: a row with no local migration is a warning.
func TestMigrateMissingWarns(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	mustMigrate(t, db, "--dir", folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_gone", "SELECT 1;"}))
	r := mustMigrate(t, db, "--dir", folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"}))
	if !strings.Contains(r.stderr, "has no migration in") {
		t.Errorf("%v", r)
	}
}

// TestConcurrentlyMigration: CREATE INDEX CONCURRENTLY runs outside a
// transaction (drizzle-orm cannot apply it at all) after the batch before
// it commits; its row is recorded after it succeeds.
func TestConcurrentlyMigration(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t,
		[2]string{"0000_t", "CREATE TABLE t (id int, email text);" + bp + "INSERT INTO t SELECT g, 'u' || g FROM generate_series(1, 1000) g;"},
		[2]string{"0001_idx", `CREATE INDEX CONCURRENTLY IF NOT EXISTS "t_email_idx" ON "t" ("email");` + bp + `CREATE INDEX CONCURRENTLY "t_id_idx" ON "t" ("id"); CREATE INDEX CONCURRENTLY "t_id2_idx" ON "t" (id, email);`},
		[2]string{"0002_after", "CREATE TABLE after_idx (id int);"},
	)
	r := mustMigrate(t, db, "--dir", dir)
	if !strings.Contains(r.stdout, "(outside a transaction: CREATE INDEX CONCURRENTLY)") {
		t.Errorf("%v", r)
	}
	if n := count(t, db, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('t_email_idx', 't_id_idx', 't_id2_idx') AND i.indisvalid"); n != 3 {
		t.Errorf("%d valid indexes, want 3", n)
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations"); n != 3 {
		t.Errorf("%d rows", n)
	}
}

// TestConcurrentlyFailureAndRerun: a CONCURRENTLY build that fails half-way
// leaves an invalid index; upshift says which statements ran, prints the
// DROP that clears it, and the rerun (after the data is fixed) drops and
// rebuilds it instead of letting IF NOT EXISTS skip it forever.
func TestConcurrentlyFailureAndRerun(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t,
		[2]string{"0000_t", "CREATE TABLE t (id int, email text);" + bp + "INSERT INTO t VALUES (1, 'a'), (2, 'a');"},
		[2]string{"0001_idx", `CREATE INDEX CONCURRENTLY IF NOT EXISTS "t_id_idx" ON "t" ("id");` + bp + `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "t_email_key" ON "t" ("email");`},
	)
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir)
	if r.code != 1 {
		t.Fatalf("want failure: %v", r)
	}
	for _, want := range []string{
		`migration "0001_idx" failed at statement 2`,
		"23505",
		"statements of 0001_idx that ran and stay applied (it runs outside a transaction): 1",
		`DROP INDEX CONCURRENTLY IF EXISTS "public"."t_email_key";`,
		"applied and committed before the failure: 0000_t",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations"); n != 1 {
		t.Errorf("%d rows, want only 0000_t's", n)
	}
	db.Exec(t, "UPDATE t SET email = 'b' WHERE id = 2")
	r = mustMigrate(t, db, "--dir", dir)
	if !strings.Contains(r.stdout, `dropping invalid index "public"."t_email_key" left by an earlier failed run of 0001_idx`) {
		t.Errorf("rerun did not clear the invalid index:\n%s", r.stdout)
	}
	if n := count(t, db, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('t_id_idx', 't_email_key') AND i.indisvalid"); n != 2 {
		t.Errorf("%d valid indexes after rerun, want 2", n)
	}
}

// TestDryRun: prints the plan and the exact SQL, changes nothing, not even
// the schema or the table.
func TestDryRun(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	r := mustMigrate(t, db, "--dir", goldenDir("v1-folders"), "--dry-run", "--statement-timeout", "90s")
	for _, want := range []string{
		"dry run: 4 migrations pending",
		"BEGIN;\nSET LOCAL statement_timeout = 90000;\nCREATE SCHEMA IF NOT EXISTS \"drizzle\";",
		`CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint, name text, applied_at timestamp with time zone DEFAULT now());`,
		"-- migration 20261121131240_backfill_credits",
		`INSERT INTO "drizzle"."__drizzle_migrations" ("hash", "created_at", "name") VALUES ('aecabf10ba8b4798fbd15651151327a3a8111d4ba318e841b5c6374229938c98', 1795266750000, '20261121131230_initial_schema'), `,
		`('668028a72dff7bcea99b36f405681f2d81d92e3f457b51cffd8658613d42300e', 1795266760000, '20261121131240_backfill_credits');`,
		"COMMIT;",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle'") + count(t, db, "SELECT count(*) FROM pg_class WHERE relname = 'users'"); n != 0 {
		t.Error("dry run changed the database")
	}
}

// TestStatementTimeout: --statement-timeout applies to the migrations, and
// 0 lifts a role-level limit (the recovery runbook's move).
func TestStatementTimeout(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, fmt.Sprintf("ALTER DATABASE %s SET statement_timeout = '200ms'", db.Name))
	dir := folder(t, [2]string{"0000_slow", "SELECT pg_sleep(0.5);" + bp + "CREATE TABLE slow (id int);"})
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "57014") || !strings.Contains(r.stderr, "statement_timeout") {
		t.Fatalf("want a statement timeout: %v", r)
	}
	mustMigrate(t, db, "--dir", dir, "--statement-timeout", "0")
	if !tableExists(t, db, "slow") {
		t.Error("--statement-timeout 0 did not lift the limit")
	}
}

func TestMarkApplied(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := goldenDir("v0-journal")
	r := upshift(t, dbEnv(db), "mark-applied", "--dir", dir, "0000_initial_schema")
	if r.code != 0 || !strings.Contains(r.stdout, "recorded  0000_initial_schema") {
		t.Fatalf("%v", r)
	}
	if tableExists(t, db, "users") {
		t.Error("mark-applied ran the migration")
	}
	// Recording it again is nothing to do.
	if r := upshift(t, dbEnv(db), "mark-applied", "--dir", dir, "0000_initial_schema"); r.code != 0 || !strings.Contains(r.stdout, "nothing to record: 1 applied") {
		t.Errorf("recording twice: %v", r)
	}
	// Recording 0002 while 0001 is pending would leave 0001 out of order.
	r = upshift(t, dbEnv(db), "mark-applied", "--dir", dir, "0002_add_user_preferences")
	if r.code != 1 || !strings.Contains(r.stderr, `refusing to record "0002_add_user_preferences"`) || !strings.Contains(r.stderr, "0001_add_credits_table is older and still pending") ||
		!strings.Contains(r.stderr, "upshift mark-applied 0001_add_credits_table 0002_add_user_preferences") {
		t.Errorf("an out-of-order history: %v", r)
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations"); n != 1 {
		t.Errorf("%d rows after a refusal, want 1", n)
	}
	if r := upshift(t, dbEnv(db), "mark-applied", "--dir", dir, "nope"); r.code != 2 {
		t.Errorf("unknown tag: %v", r)
	}
	if r := upshift(t, dbEnv(db), "mark-applied", "--dir", dir); r.code != 2 {
		t.Errorf("no tags and no --all: %v", r)
	}
	r = upshift(t, dbEnv(db), "mark-applied", "--dir", dir, "--all")
	if r.code != 0 || count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations") != 4 {
		t.Fatalf("--all: %v", r)
	}
	if r := upshift(t, dbEnv(db), "mark-applied", "--dir", dir, "--all"); r.code != 0 || !strings.Contains(r.stdout, "nothing to record") {
		t.Errorf("--all when up to date: %v", r)
	}
	// Baselined rows are the rows drizzle-orm would have written.
	conn := db.Connect(t)
	var hash string
	var created int64
	conn.QueryRow(context.Background(), "SELECT hash, created_at FROM drizzle.__drizzle_migrations WHERE id = 4").Scan(&hash, &created)
	if hash != "668028a72dff7bcea99b36f405681f2d81d92e3f457b51cffd8658613d42300e" || created != 1795266734754 {
		t.Errorf("row 4: %s %d", hash, created)
	}
}

// TestNoTransactionResumes: a no-transaction migration whose second
// statement fails is resumed at that statement once the cause is fixed —
// the first (not idempotent: no IF NOT EXISTS) is not run again. Progress
// lives in a table of upshift's own, made only when such a migration runs,
// and status shows it.
func TestNoTransactionResumes(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t,
		[2]string{"0000_u", "CREATE TABLE u (a int, b int);" + bp + "INSERT INTO u VALUES (1, 1), (2, 1);"},
		[2]string{"0001_u_idx", "-- upshift:no-transaction\nCREATE INDEX CONCURRENTLY u_a_idx ON u (a);" + bp + "CREATE UNIQUE INDEX CONCURRENTLY u_b_key ON u (b);"},
	)
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "a rerun resumes at statement 2") {
		t.Fatalf("want a failure that says where a rerun resumes: %v", r)
	}
	st := upshift(t, dbEnv(db), "status", "--dir", dir)
	if !strings.Contains(st.stdout, "0001_u_idx") || !strings.Contains(st.stdout, "partly applied: statement 1 of 2 ran") {
		t.Errorf("status does not show the progress:\n%s", st.stdout)
	}
	db.Exec(t, "UPDATE u SET b = 2 WHERE a = 2")
	r = upshift(t, dbEnv(db), "migrate", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("rerun after the fix: %v", r)
	}
	if !strings.Contains(r.stdout, "resuming 0001_u_idx at statement 2") {
		t.Errorf("the rerun does not say it resumes:\n%s", r.stdout)
	}
	if n := count(t, db, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('u_a_idx', 'u_b_key') AND i.indisvalid"); n != 2 {
		t.Errorf("%d valid indexes, want 2", n)
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations"); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.upshift_progress"); n != 0 {
		t.Errorf("progress left behind: %d rows", n)
	}
	// A database that never ran a no-transaction migration has no such table.
	other := pgtest.Shared(t).NewDB(t)
	mustMigrate(t, other, "--dir", goldenDir("v1-folders"))
	if n := count(t, other, "SELECT count(*) FROM pg_class WHERE relname = 'upshift_progress'"); n != 0 {
		t.Errorf("upshift_progress was created where no no-transaction migration ran")
	}
}

// With UPSHIFT_RESULT=line (what `upshift upgrade` sets for its setup
// step) the human output is as without it, and one last line carries the
// typed result: what was applied, and on failure where and with which exit
// code. The orchestrator reads that line, never the wording above it.
func TestMigrateResultLine(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_b", "CREATE TABLE b (id int);"})
	plain := upshift(t, dbEnv(db), "migrate", "--dir", dir, "--dry-run")
	r := upshift(t, append(dbEnv(db), "UPSHIFT_RESULT=line"), "migrate", "--dir", dir)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if r.code != 0 || !strings.HasPrefix(lines[len(lines)-1], mdoc.LinePrefix) {
		t.Fatalf("no result line at the end:\n%s", r)
	}
	if !strings.Contains(r.stdout, "applied   0000_a") || !strings.Contains(plain.stdout, "0001_b") {
		t.Errorf("the human output changed:\n%s", r.stdout)
	}
	doc, err := mdoc.Find(lines)
	if err != nil || strings.Join(doc.AppliedTags(), ",") != "0000_a,0001_b" || doc.Error != nil {
		t.Fatalf("%+v %v", doc, err)
	}
	fail := folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_b", "CREATE TABLE b (id int);"}, [2]string{"0002_c", "SELECT nope FROM a;"})
	r = upshift(t, append(dbEnv(db), "UPSHIFT_RESULT=line"), "migrate", "--dir", fail)
	doc, err = mdoc.Find(strings.Split(strings.TrimRight(r.stdout, "\n"), "\n"))
	if err != nil || r.code != 1 || doc.Error == nil || doc.Error.Tag != "0002_c" || doc.Error.ExitCode != 1 || len(doc.Applied) != 0 || strings.Join(doc.RolledBack, ",") != "0002_c" {
		t.Fatalf("%+v %+v %v\n%s", doc, doc.Error, err, r)
	}
}

// Progress reaches a pipe (a CI log) while the run is under way, not when
// it ends: a CI job killed mid-deploy still shows how far it got.
func TestProgressThroughAPipe(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_slow", "SELECT pg_sleep(3);"})
	cmd := exec.Command(binary, "migrate", "--dir", dir)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, dbEnv(db)...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	started := time.Now()
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "applying 2 migrations") {
			break
		}
	}
	if took := time.Since(started); took > 2500*time.Millisecond {
		t.Errorf("the first progress line arrived after %s, with the 3 s migration, not before it", took)
	}
	_, _ = io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
