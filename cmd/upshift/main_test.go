package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// binary is the upshift binary built once for the package's tests: the
// end-to-end tests run it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "upshift-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "upshift")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build upshift: %v\n%s", err, out)
		os.Exit(1)
	}
	// Runs that keep state on the engine keep it in a volume of this
	// process's own, removed at the end.
	os.Setenv("UPSHIFT_STATE_VOLUME", dockertest.KeepVolume)
	code := pgtest.Main(m)
	dockertest.RemoveKeep(dockertest.KeepVolume)
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// upshift runs the binary with args; env entries are added to a clean
// environment (no DATABASE_URL or PG* leaking in from the machine).
func upshift(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return upshiftIn(t, "", env, args...)
}

// upshiftIn runs the binary in the working directory dir.
func upshiftIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	// The engine's state of these runs is in this process's own volume
	// (TestMain removes it), never in the machine's upshift-state.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "UPSHIFT_STATE_VOLUME=" + dockertest.KeepVolume}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := mustExitCode(t, cmd.Run())
	return result{out.String(), errb.String(), code}
}

const golden = "../../testdata/drizzle-golden"

func goldenDir(name string) string { return filepath.Join(golden, name, "drizzle") }

type goldenTable struct {
	Rows []struct {
		ID              int64   `json:"id"`
		Hash            string  `json:"hash"`
		Name            *string `json:"name"`
		CreatedAt       int64   `json:"created_at"`
		AppliedAtIsNull *bool   `json:"applied_at_is_null"`
	} `json:"rows"`
}

func readGolden(t *testing.T, name string) goldenTable {
	t.Helper()
	var g goldenTable
	readGoldenJSON(t, name, &g)
	return g
}

// readGoldenJSON decodes a corpus folder's expected_migrations_table.json.
func readGoldenJSON(t *testing.T, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(readGoldenFile(t, name, "expected_migrations_table.json"), v); err != nil {
		t.Fatal(err)
	}
}

func readGoldenFile(t *testing.T, name, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(golden, name, file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedTable creates the migrations table in drizzle-orm's shape for v0 or
// v1 and inserts the golden rows, optionally edited.
func seedTable(t *testing.T, db *pgtest.DB, shape, goldenName string, edit func(i int, hash *string, created *int64) bool) {
	t.Helper()
	ddl := `CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint`
	if shape == "v1" {
		ddl += `, name text, applied_at timestamp with time zone DEFAULT now()`
	}
	db.Exec(t, ddl+");")
	var sb strings.Builder
	for i, r := range readGolden(t, goldenName).Rows {
		hash, created := r.Hash, r.CreatedAt
		if edit != nil && !edit(i, &hash, &created) {
			continue
		}
		if shape == "v1" && r.Name != nil {
			fmt.Fprintf(&sb, "INSERT INTO drizzle.__drizzle_migrations (hash, created_at, name) VALUES ('%s', %d, '%s');", hash, created, *r.Name)
		} else {
			fmt.Fprintf(&sb, "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('%s', %d);", hash, created)
		}
	}
	if sb.Len() > 0 {
		db.Exec(t, sb.String())
	}
}

func dbEnv(db *pgtest.DB) []string { return []string{"DATABASE_URL=" + db.URL} }

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
