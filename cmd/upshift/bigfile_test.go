package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/internal/harness/sqlgen"
)

// backfill is a migrations folder holding one data migration of about
// size bytes.
func backfill(t *testing.T, size int) string {
	t.Helper()
	dir := folder(t, [2]string{"0000_backfill", ""})
	if err := sqlgen.Backfill(filepath.Join(dir, "0000_backfill.sql"), size); err != nil {
		t.Fatal(err)
	}
	return dir
}

// peakRSS runs the binary and reports its exit code and peak resident set.
func peakRSS(t *testing.T, env []string, args ...string) (int, int64, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	code := mustExitCode(t, err)
	return code, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024, string(out)
}

// TestLargeDataMigrationMemory: a 50 MB data migration is linted (alone and
// before migrate applies it) statement by statement, so a db-setup
// container with a 256 MB memory limit is not killed.
func TestLargeDataMigrationMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and applies 50 MB")
	}
	dir := backfill(t, 50<<20)
	if fi, err := os.Stat(filepath.Join(dir, "0000_backfill.sql")); err != nil || fi.Size() < 50<<20 {
		t.Fatalf("%v %v", fi, err)
	}
	const limit = 256 << 20
	code, rss, out := peakRSS(t, nil, "lint", "--dir", dir)
	if code != 0 || rss > limit {
		t.Errorf("lint: exit %d, peak %d MB (limit 256 MB)\n%s", code, rss>>20, out)
	}
	t.Logf("lint: peak %d MB", rss>>20)
	db := pgtest.Shared(t).NewDB(t)
	code, rss, out = peakRSS(t, dbEnv(db), "migrate", "--dir", dir)
	if code != 0 || rss > limit {
		t.Errorf("migrate: exit %d, peak %d MB (limit 256 MB)\n%s", code, rss>>20, out)
	}
	t.Logf("migrate: peak %d MB", rss>>20)
	var n int
	if err := db.Connect(t).QueryRow(t.Context(), `SELECT count(*) FROM ledger`).Scan(&n); err != nil || n < 100000 {
		t.Errorf("ledger has %d rows: %v", n, err)
	}
}
