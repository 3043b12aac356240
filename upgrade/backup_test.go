package upgrade

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// The restore command a backup records is printed for a person to paste at
// 3 a.m.: it must run as printed, also from a folder whose name has a space
// and a quote in it, and it must not carry the password.
func TestHostBackupRestoresWithItsPrintedCommand(t *testing.T) {
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("no pg_dump on PATH")
	}
	db := pgtest.Shared(t).NewDB(t)
	conn := db.Connect(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1), (2); GRANT ALL ON orders TO "+pgtest.SecretUser); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "db dumps", "it's here")
	x := &Executor{Project: &compose.Project{Name: "shop"}, Runner: &Runner{Now: func() time.Time { return time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC) }}}
	rec := newRecord(KindBackup, "shop", x.now(), Holder{})
	if err := x.backup(ctx, rec, Backup{Dir: dir, URL: db.SecretURL()}); err != nil {
		t.Fatal(err)
	}
	b := rec.Backup
	if b == nil || b.SizeBytes == 0 || filepath.Dir(b.File) != dir {
		t.Fatalf("backup record %+v", b)
	}
	if strings.Contains(b.Restore, pgtest.Password) {
		t.Fatalf("the restore command carries the password: %s", b.Restore)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM orders"); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-c", b.Restore)
	sh.Env = append(os.Environ(), "PGPASSWORD="+pgtest.Password)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the printed restore command failed: %s\n%v\n%s", b.Restore, err, out)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after the restore, orders has %d rows (%v), want 2", n, err)
	}
}
