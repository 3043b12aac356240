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
	"github.com/upshift-dev/upshift/internal/harness/realworld"
)

// rowsOf is a migrations table's rows as drizzle-orm wrote them.
func rowsOf(t *testing.T, db *pgtest.DB, table string) []string {
	t.Helper()
	rows, err := db.Connect(t).Query(context.Background(), "SELECT id, hash, created_at FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id int64
		var hash string
		var created int64
		if err := rows.Scan(&id, &hash, &created); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s %d", id, hash, created))
	}
	return out
}

// lintLines are the lines a deploy printed about linting.
func lintLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "lint:") {
			out = append(out, l)
		}
	}
	return out
}

// TestRealworldFreshDeploy: `upshift migrate` of each real folder into a
// fresh database prints at most one lint line, and writes the rows the
// real drizzle-orm writes; `status` after drizzle-orm finds everything
// applied.
func TestRealworldFreshDeploy(t *testing.T) {
	srv := pgtest.Shared(t)
	script := ""
	for _, name := range realworld.Folders {
		t.Run(name, func(t *testing.T) {
			dir := realworld.Applicable(t, name)
			db := srv.NewDB(t)
			r := mustMigrate(t, db, "--dir", dir)
			if lines := lintLines(r.stderr); len(lines) > 1 {
				t.Errorf("%d lint lines at a fresh deploy:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			if script == "" {
				script = drizzleJS(t, "0.45.4")
			}
			ref := srv.NewDB(t)
			runDrizzle(t, script, ref, dir)
			if got, want := rowsOf(t, db, "drizzle.__drizzle_migrations"), rowsOf(t, ref, "drizzle.__drizzle_migrations"); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("rows differ from drizzle-orm's (%d vs %d)", len(got), len(want))
			}
			if r := upshift(t, dbEnv(ref), "status", "--dir", dir, "--exit-code"); r.code != 0 {
				t.Errorf("status after drizzle-orm: %v", r)
			}
		})
	}
}

// project lays out a real project's drizzle.config.ts and the folder its
// out names in a temporary working directory.
func project(t *testing.T, config, folder, out string) string {
	t.Helper()
	work := t.TempDir()
	b, err := os.ReadFile(realworld.Path(t, "drizzle-config", config+".drizzle.config.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(work, "drizzle.config.ts"), string(b)); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(work, out), os.DirFS(realworld.Path(t, "drizzle", folder))); err != nil {
		t.Fatal(err)
	}
	return work
}

// TestDrizzleConfig: dropped into a project's db:migrate script, upshift
// reads drizzle.config.ts as drizzle-kit migrate would: the folder, the
// table and the URL's variable; and names what the file computes.
func TestDrizzleConfig(t *testing.T) {
	srv := pgtest.Shared(t)
	t.Run("ai-chatbot: out and POSTGRES_URL", func(t *testing.T) {
		work := project(t, "ai-chatbot", "ai-chatbot", "lib/db/migrations")
		r := upshiftIn(t, work, nil, "migrate")
		if r.code != 2 || !strings.Contains(r.stderr, "process.env.POSTGRES_URL") || !strings.Contains(r.stderr, ".env.local") || !strings.Contains(r.stderr, "--database-url") {
			t.Fatalf("without POSTGRES_URL: %v", r)
		}
		db := srv.NewDB(t)
		r = upshiftIn(t, work, []string{"POSTGRES_URL=" + db.URL}, "migrate")
		if r.code != 0 || !strings.Contains(r.stderr, "folder ./lib/db/migrations") {
			t.Fatalf("%v", r)
		}
		if n := len(rowsOf(t, db, "drizzle.__drizzle_migrations")); n != 9 {
			t.Errorf("%d rows", n)
		}
		if strings.Contains(r.stdout+r.stderr, db.SecretURL()) {
			t.Errorf("the URL's password is printed")
		}
		r = upshiftIn(t, work, []string{"POSTGRES_URL=" + db.URL}, "status", "--format", "json", "--exit-code")
		var doc struct {
			Settings map[string]struct{ Value, From string } `json:"settings"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 {
			t.Fatalf("%v %v", err, r)
		}
		if s := doc.Settings["dir"]; s.Value != "./lib/db/migrations" || !strings.Contains(s.From, "drizzle.config.ts:10 out") {
			t.Errorf("dir %+v", s)
		}
		if s := doc.Settings["database_url"]; s.Value != "" || !strings.Contains(s.From, "POSTGRES_URL") {
			t.Errorf("database_url %+v", s)
		}
		if s := doc.Settings["migrations_table"]; s.Value != "__drizzle_migrations" || s.From != "default" {
			t.Errorf("migrations_table %+v", s)
		}
	})
	t.Run("dokploy: public.migrations, URL from DATABASE_URL", func(t *testing.T) {
		work := project(t, "dokploy", "dokploy", "drizzle")
		db := srv.NewDB(t)
		r := upshiftIn(t, work, nil, "status")
		if r.code != 2 || !strings.Contains(r.stderr, "dbCredentials.url is computed") || !strings.Contains(r.stderr, "(dbUrl)") {
			t.Fatalf("without a URL: %v", r)
		}
		r = upshiftIn(t, work, dbEnv(db), "migrate")
		if r.code != 0 || !strings.Contains(r.stderr, "table public.migrations") {
			t.Fatalf("%v", r)
		}
		if n := len(rowsOf(t, db, "public.migrations")); n != 186 {
			t.Errorf("%d rows in public.migrations", n)
		}
		if tableExists(t, db, "__drizzle_migrations") {
			t.Errorf("drizzle.__drizzle_migrations was created too")
		}
		// A flag still wins.
		r = upshiftIn(t, work, dbEnv(db), "status", "--migrations-schema", "drizzle", "--migrations-table", "__drizzle_migrations", "--exit-code")
		if r.code != 4 {
			t.Errorf("with the default table named: %v", r)
		}
		// lint reads the same folder, and connects only when asked.
		if r := upshiftIn(t, work, nil, "lint", "--latest", "1"); r.code != 0 || !strings.Contains(r.stdout, "186 files linted, the last 1 reported") {
			t.Errorf("lint: %v", r)
		}
	})
	t.Run("sim: a computed out is named with the flag that supplies it", func(t *testing.T) {
		work := project(t, "sim", "ai-chatbot", "migrations")
		r := upshiftIn(t, work, nil, "lint")
		if r.code != 2 || !strings.Contains(r.stderr, "drizzle.config.ts:13 out is computed") || !strings.Contains(r.stderr, "migrationsPath") || !strings.Contains(r.stderr, "--dir") {
			t.Fatalf("%v", r)
		}
		if r := upshiftIn(t, work, nil, "lint", "--dir", "migrations"); r.code == 2 || !strings.Contains(r.stdout, "9 files linted") {
			t.Errorf("with --dir: %v", r)
		}
	})
	t.Run("lmnr: credentials built by a helper", func(t *testing.T) {
		work := project(t, "lmnr", "ai-chatbot", "lib/db/migrations")
		r := upshiftIn(t, work, nil, "migrate")
		if r.code != 2 || !strings.Contains(r.stderr, "dbCredentials is built") || !strings.Contains(r.stderr, "DATABASE_URL") {
			t.Fatalf("%v", r)
		}
		db := srv.NewDB(t)
		if r := upshiftIn(t, work, dbEnv(db), "migrate"); r.code != 0 {
			t.Errorf("with DATABASE_URL: %v", r)
		}
	})
	t.Run("--config names a file elsewhere; out stays relative to the working directory", func(t *testing.T) {
		work := project(t, "ai-chatbot", "ai-chatbot", "lib/db/migrations")
		cfg := filepath.Join(t.TempDir(), "server", "db", "drizzle.config.ts")
		if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(work, "drizzle.config.ts"), cfg); err != nil {
			t.Fatal(err)
		}
		db := srv.NewDB(t)
		if r := upshiftIn(t, work, []string{"POSTGRES_URL=" + db.URL}, "migrate", "--config", cfg); r.code != 0 {
			t.Fatalf("%v", r)
		}
		if r := upshiftIn(t, work, nil, "lint", "--config", filepath.Join(work, "nope.ts")); r.code != 2 || !strings.Contains(r.stderr, "--config") {
			t.Errorf("a missing --config: %v", r)
		}
	})
}

// TestDeployLintLines: a deploy prints one line per finding about a table
// that holds data, then one line with the count and the command that
// shows the safe rewrites — a command that runs as printed.
func TestDeployLintLines(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, `CREATE TABLE jobs (id bigint PRIMARY KEY, name text); INSERT INTO jobs SELECT g, 'n' || g FROM generate_series(1, 50) g;`)
	dir := folder(t,
		[2]string{"0000_runs", `CREATE TABLE "runs" ("id" bigint PRIMARY KEY, "job_id" bigint REFERENCES "jobs"("id") ON DELETE CASCADE);`},
		[2]string{"0001_jobs_name", `CREATE INDEX "jobs_name_idx" ON "jobs" ("name");`})
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir, "--dry-run")
	lines := lintLines(r.stderr)
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("%d lint lines:\n%s\n%v", len(lines), strings.Join(lines, "\n"), r)
	}
	if !strings.Contains(lines[0], "0001_jobs_name.sql:1:1: error create-index-non-concurrently") || strings.Contains(r.stderr, "runs") {
		t.Errorf("the finding line: %s", lines[0])
	}
	cmd := "upshift lint --dir " + dir + ` --database-url "$DATABASE_URL"`
	if !strings.Contains(lines[1], "1 finding about tables that hold data (1 error) in 2 pending migrations") || !strings.HasSuffix(lines[1], cmd) {
		t.Fatalf("the summary line: %s", lines[1])
	}
	// As printed, through a shell.
	sh := exec.Command("sh", "-c", binary+strings.TrimPrefix(cmd, "upshift"))
	sh.Env = append(os.Environ(), dbEnv(db)...)
	out, err := sh.CombinedOutput()
	if !strings.Contains(string(out), "CREATE INDEX CONCURRENTLY jobs_name_idx") {
		t.Errorf("the details: %v\n%s", err, out)
	}
}
