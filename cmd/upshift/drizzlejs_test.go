package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/drizzlejs"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// drizzleJS installs the real drizzle-orm with npm from ../shared's packed
// copies, or skips on a machine without node — never under CI.
func drizzleJS(t *testing.T, version string) string {
	t.Helper()
	if os.Getenv("UPSHIFT_SKIP_NODE") != "" {
		t.Skip("UPSHIFT_SKIP_NODE is set")
	}
	script, err := drizzlejs.Install(version)
	if err != nil && os.Getenv("CI") != "" {
		// CI has node and ../shared/drizzle-orm: an install that fails
		// there is a finding, never a quiet skip.
		t.Fatalf("real drizzle-orm@%s could not be installed under CI: %v", version, err)
	}
	if err != nil {
		t.Skipf("real drizzle-orm@%s not available: %v", version, err)
	}
	return script
}

func runDrizzle(t *testing.T, script string, db *pgtest.DB, folder string) {
	t.Helper()
	out, err := drizzlejs.Command(script, db.URL, folder).CombinedOutput()
	if err != nil {
		t.Fatalf("drizzle-orm migrate %s: %v\n%s", folder, err, out)
	}
}

// v1FirstTwo is a copy of the v1 folder with only its first two migrations.
func v1FirstTwo(t *testing.T) string {
	t.Helper()
	dir := copyGolden(t, "v1-folders")
	for _, name := range []string{"20261121131238_add_user_preferences", "20261121131240_backfill_credits"} {
		os.Chmod(filepath.Join(dir, name), 0o755)
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRealDrizzleInterop: a database migrated by drizzle-orm is continued
// by upshift and the other way round, ending with drizzle-orm's own rows
// and schema.
func TestRealDrizzleInterop(t *testing.T) {
	srv := pgtest.Shared(t)
	v045 := drizzleJS(t, "0.45.4")
	v1 := drizzleJS(t, "1.0.0-rc.5")

	t.Run("drizzle-orm 0.45 first, upshift continues", func(t *testing.T) {
		db := srv.NewDB(t)
		runDrizzle(t, v045, db, v0FirstRun(t))
		db.Exec(t, `INSERT INTO users (email) VALUES ('first@example.com')`)
		mustMigrate(t, db, "--dir", goldenDir("v0-journal"))
		assertTable(t, db, "v0-journal")
		assertSchema(t, db, "v0-journal")
	})
	t.Run("upshift first, drizzle-orm 0.45 continues", func(t *testing.T) {
		db := srv.NewDB(t)
		mustMigrate(t, db, "--dir", v0FirstRun(t))
		db.Exec(t, `INSERT INTO users (email) VALUES ('first@example.com')`)
		runDrizzle(t, v045, db, goldenDir("v0-journal"))
		assertTable(t, db, "v0-journal")
		assertSchema(t, db, "v0-journal")
	})
	t.Run("upshift first, drizzle-orm 1.0 continues", func(t *testing.T) {
		db := srv.NewDB(t)
		mustMigrate(t, db, "--dir", v1FirstTwo(t))
		runDrizzle(t, v1, db, goldenDir("v1-folders"))
		assertTable(t, db, "v1-folders")
		assertSchema(t, db, "v1-folders")
	})
	t.Run("drizzle-orm 1.0 first, upshift continues", func(t *testing.T) {
		db := srv.NewDB(t)
		runDrizzle(t, v1, db, v1FirstTwo(t))
		mustMigrate(t, db, "--dir", goldenDir("v1-folders"))
		assertTable(t, db, "v1-folders")
		assertSchema(t, db, "v1-folders")
	})
	t.Run("drizzle-orm 1.0 upgrades the table upshift wrote", func(t *testing.T) {
		db := srv.NewDB(t)
		mustMigrate(t, db, "--dir", v0FirstRun(t))
		db.Exec(t, `INSERT INTO users (email) VALUES ('first@example.com')`)
		mustMigrate(t, db, "--dir", goldenDir("v0-journal"))
		runDrizzle(t, v1, db, goldenDir("v0-upgraded-to-v1"))
		assertTable(t, db, "v0-upgraded-to-v1")
		assertSchema(t, db, "v0-upgraded-to-v1")
	})
}
