package main

// Databases as they are in the field: SQL_ASCII clusters, least-privilege
// roles, damaged migrations tables, read-only databases, missing folders.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// rawDB creates a database with extra CREATE DATABASE options and returns
// its URL; it is dropped when the test ends.
func rawDB(t *testing.T, options string) (string, *pgtest.Server) {
	t.Helper()
	srv := pgtest.Shared(t)
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "raw_" + hex.EncodeToString(b)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 "+options); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, srv.URL)
		if err == nil {
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			admin.Close(ctx)
		}
	})
	u, _ := url.Parse(srv.URL)
	u.Path = "/" + name
	return u.String(), srv
}

func execURL(t *testing.T, dbURL, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.PgConn().Exec(context.Background(), sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestSQLASCIIDatabase(t *testing.T) {
	dbURL, _ := rawDB(t, "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'")
	env := []string{"DATABASE_URL=" + dbURL}
	for _, args := range [][]string{
		{"status", "--dir", goldenDir("v0-journal")},
		{"migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth"},
		{"status", "--dir", goldenDir("v0-journal"), "--exit-code"},
	} {
		if r := upshift(t, env, args...); r.code != 0 {
			t.Fatalf("%v on a SQL_ASCII database: %s", args, r)
		}
	}
}

func TestLeastPrivilegeRole(t *testing.T) {
	dbURL, _ := rawDB(t, "")
	role := "app_" + strings.TrimPrefix(filepath.Base(dbURL), "raw_")[:8]
	// The schema exists, the role may use and create in it, but may not
	// create schemas in the database.
	execURL(t, dbURL, `CREATE ROLE `+role+` LOGIN;
CREATE SCHEMA drizzle; GRANT USAGE, CREATE ON SCHEMA drizzle TO `+role+`;
GRANT USAGE, CREATE ON SCHEMA public TO `+role+`;
REVOKE CREATE ON DATABASE `+strings.TrimPrefix(mustPath(dbURL), "/")+` FROM PUBLIC;`)
	t.Cleanup(func() { execURL(t, dbURL, "DROP OWNED BY "+role+"; DROP ROLE "+role) })
	u, _ := url.Parse(dbURL)
	u.User = url.User(role)
	r := upshift(t, []string{"DATABASE_URL=" + u.String()}, "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth")
	if r.code != 0 || !strings.Contains(r.stdout, "done: 4 migrations applied") {
		t.Fatalf("a role with USAGE+CREATE on the drizzle schema only: %s", r)
	}
}

func mustPath(u string) string {
	p, _ := url.Parse(u)
	return p.Path
}

func TestDamagedMigrationsTable(t *testing.T) {
	const create = "CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text, created_at bigint);"
	for _, tc := range []struct {
		name, sql string
		want      []string
	}{
		{"null created_at", create + " INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('abc', NULL);",
			[]string{"drizzle.__drizzle_migrations, row id 1", "created_at is NULL", "UPDATE \"drizzle\".\"__drizzle_migrations\" SET created_at"}},
		{"null hash", create + " INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (NULL, 1);",
			[]string{"row id 1", "hash is NULL"}},
		{"text created_at", "CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text, created_at text);",
			[]string{`column "created_at" is text`, "drizzle-orm writes bigint"}},
		{"timestamptz created_at", "CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text, created_at timestamptz DEFAULT now());",
			[]string{`column "created_at" is timestamp with time zone`}},
		{"uuid id", "CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id uuid PRIMARY KEY, hash text, created_at bigint);",
			[]string{`column "id" is uuid`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := pgtest.Shared(t).NewDB(t)
			db.Exec(t, tc.sql)
			before := count(t, db, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace")
			for _, cmd := range []string{"status", "migrate"} {
				r := upshift(t, dbEnv(db), cmd, "--dir", goldenDir("v0-journal"), "--service", "mana-auth")
				if r.code != 1 {
					t.Errorf("%s: exit %d, want 1\n%s", cmd, r.code, r)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("%s: stderr lacks %q:\n%s", cmd, w, r.stderr)
					}
				}
			}
			if after := count(t, db, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"); after != before {
				t.Errorf("migrations were applied on a damaged table: %d tables → %d", before, after)
			}
		})
	}
}

func TestReadOnlyDatabase(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, "ALTER DATABASE "+db.Name+" SET default_transaction_read_only = on")
	r := upshift(t, dbEnv(db), "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth")
	if r.code != 1 || !strings.Contains(r.stderr, "is read-only for this session (default_transaction_read_only is on") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("read-only database: %s", r)
	}
}

func TestMissingMigrationsFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "drizle")
	for _, args := range [][]string{
		{"status", "--dir", dir, "--exit-code"},
		{"migrate", "--dir", dir},
		{"status", "--dir", dir, "--format", "json"},
	} {
		// A broken URL too: the folder is checked first.
		r := upshift(t, []string{"DATABASE_URL=postgres://nobody@127.0.0.1:1/x"}, args...)
		if r.code != 2 || !strings.Contains(r.stderr+r.stdout, dir) || !strings.Contains(r.stderr+r.stdout, "does not exist") {
			t.Errorf("%v: %s", args, r)
		}
	}
	// An existing folder with an empty journal is still "nothing to migrate".
	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "meta"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "meta", "_journal.json"), []byte(`{"version":"7","dialect":"postgresql","entries":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	db := pgtest.Shared(t).NewDB(t)
	if r := upshift(t, dbEnv(db), "migrate", "--dir", empty); r.code != 0 || !strings.Contains(r.stdout, "nothing to migrate") {
		t.Errorf("empty journal: %s", r)
	}
}

func TestHotStandby(t *testing.T) {
	primary, _ := ownServer(t)
	if err := primary.Run(); err != nil {
		t.Fatal(err)
	}
	standby, err := primary.Standby()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Stop)
	r := upshift(t, []string{"DATABASE_URL=" + standby.URL}, "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth")
	if r.code != 1 || !strings.Contains(r.stderr, "is a hot standby (pg_is_in_recovery() is true)") || !strings.Contains(r.stderr, "point --database-url (DATABASE_URL) at the primary") {
		t.Errorf("migrate on a hot standby: %s", r)
	}
	// status reads, and works there.
	if r := upshift(t, []string{"DATABASE_URL=" + standby.URL}, "status", "--dir", goldenDir("v0-journal")); r.code != 0 {
		t.Errorf("status on a hot standby: %s", r)
	}
}
