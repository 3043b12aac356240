package upgrade_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// schema is pg_dump --schema-only of a database in the project's container,
// without the lines that differ between two dumps of the same schema.
func schema(t *testing.T, p *dockertest.Project, db string) string {
	t.Helper()
	out := p.Compose("exec", "-T", "db", "pg_dump", "--schema-only", "--no-owner", "-h", "127.0.0.1", "-U", "postgres", "-d", db)
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, `\restrict`) || strings.HasPrefix(l, `\unrestrict`) || strings.HasPrefix(l, "-- Dumped") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func TestBackupRestoresIntoANewDatabase(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.SQL("INSERT INTO users (name) SELECT 'user ' || g FROM generate_series(1, 250) g")
	r := p.Upshift("backup", "--format", "json")
	if r.Code != 0 {
		t.Fatalf("backup: %s", r)
	}
	doc := decode(t, r)
	b, _ := doc["backup"].(map[string]any)
	if b == nil || doc["kind"] != "backup" || doc["outcome"] != "succeeded" {
		t.Fatalf("backup record: %v", doc)
	}
	file := b["file"].(string)
	if st, err := os.Stat(file); err != nil || st.Size() == 0 || int64(b["size_bytes"].(float64)) != st.Size() {
		t.Fatalf("dump %s: %v", file, err)
	}
	if !strings.HasPrefix(filepath.Base(file), p.Name+"-postgres-") || !strings.Contains(b["restore"].(string), "pg_restore --clean --if-exists --no-owner") {
		t.Errorf("backup %v", b)
	}
	// Restore it into a new database and compare.
	p.Compose("exec", "-T", "db", "createdb", "-h", "127.0.0.1", "-U", "postgres", "restored")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	restore := exec.Command("docker", "compose", "exec", "-T", "db", "pg_restore", "--no-owner", "-h", "127.0.0.1", "-U", "postgres", "-d", "restored")
	restore.Dir, restore.Stdin = p.Dir, f
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	if a, b := schema(t, p, "postgres"), schema(t, p, "restored"); a != b {
		t.Errorf("the restored schema differs:\n--- original\n%s\n--- restored\n%s", a, b)
	}
	count := func(db string) string {
		return strings.TrimSpace(p.Compose("exec", "-T", "db", "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc",
			"SELECT (SELECT count(*) FROM users) || '/' || (SELECT count(*) FROM drizzle.__drizzle_migrations)"))
	}
	if a, b := count("postgres"), count("restored"); a != "250/1" || a != b {
		t.Errorf("row counts users/migrations: original %s, restored %s", a, b)
	}
	if h := history(t, p); h[0]["kind"] != "backup" || h[0]["backup"] == nil {
		t.Errorf("history: %v", h[0])
	}
}

func TestUpgradeBackupFirstAndRestoreHint(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mBroken})
	r := p.Upshift(upgradeArgs(p, "v2", "--backup")...)
	if r.Code != 5 {
		t.Fatalf("exit %d, want 5\n%s", r.Code, r)
	}
	if !strings.Contains(r.Stdout, "✓ backup") || strings.Index(r.Stdout, "✓ backup") > strings.Index(r.Stdout, "→ pull") {
		t.Errorf("the backup did not run before the pull:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "to put the database back as it was before this upgrade (upshift never does): docker compose") ||
		!strings.Contains(r.Stdout, "pg_restore --clean --if-exists --no-owner") {
		t.Errorf("no restore command after the failure:\n%s", r.Stdout)
	}
	if h := history(t, p); h[0]["backup"] == nil {
		t.Errorf("the backup is not in the history: %v", h[0])
	}
}

func TestFailedBackupStopsTheUpgrade(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	before := p.Running("app")
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	dir := t.TempDir()
	r := p.Upshift(upgradeArgs(p, "v2", "--backup", "--backup-dir", dir, "--backup-url", "postgres://postgres:hunter2-secret@db:5432/nosuchdb")...)
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.Code, r)
	}
	if !strings.Contains(r.Stderr, "backup of database nosuchdb (pg_dump in the db container) failed, nothing was stopped or changed") || strings.Contains(r.Stdout+r.Stderr, "hunter2-secret") {
		t.Errorf("%s", r)
	}
	if after := p.Running("app"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("containers changed: %v → %v", before, after)
	}
	expectServing(t, p, "v1")
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("a failed backup left files: %v", left)
	}
}
