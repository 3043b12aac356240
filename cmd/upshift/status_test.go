package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

type statusOut struct {
	Layout     string `json:"layout"`
	Database   string `json:"database"`
	TableShape string `json:"table_shape"`
	Migrations []struct {
		Tag          string `json:"tag"`
		State        string `json:"state"`
		CreatedAt    *int64 `json:"created_at"`
		Hash         string `json:"hash"`
		RecordedHash string `json:"recorded_hash"`
		ID           *int64 `json:"id"`
	} `json:"migrations"`
	Summary struct {
		Applied, Pending, Modified, Missing int
		OutOfOrder                          int  `json:"out_of_order"`
		UpToDate                            bool `json:"up_to_date"`
	} `json:"summary"`
}

func states(s statusOut) string {
	var out []string
	for _, m := range s.Migrations {
		out = append(out, m.Tag+"="+m.State)
	}
	return strings.Join(out, " ")
}

// TestStatusAgainstGoldenRows: databases holding exactly the rows that
// drizzle-orm wrote, and edits of them, are classified as a user expects.
func TestStatusAgainstGoldenRows(t *testing.T) {
	srv := pgtest.Shared(t)
	for _, tc := range []struct {
		name     string
		folder   string
		shape    string // table shape to seed; "" for no table
		rows     string // golden rows to seed
		edit     func(i int, hash *string, created *int64) bool
		want     string
		exitCode int // with --exit-code
	}{
		{name: "v0 all applied", folder: "v0-journal", shape: "v0", rows: "v0-journal",
			want: "0000_initial_schema=applied 0001_add_credits_table=applied 0002_add_user_preferences=applied 0003_sessions_token_index_concurrently=applied"},
		{name: "v0 first run only (two-run history)", folder: "v0-journal", shape: "v0", rows: "v0-journal",
			edit: func(i int, _ *string, _ *int64) bool { return i < 2 },
			want: "0000_initial_schema=applied 0001_add_credits_table=applied 0002_add_user_preferences=pending 0003_sessions_token_index_concurrently=pending", exitCode: 4},
		{name: "v0 out of order", folder: "v0-journal", shape: "v0", rows: "v0-journal",
			edit: func(i int, _ *string, _ *int64) bool { return i != 2 },
			want: "0000_initial_schema=applied 0001_add_credits_table=applied 0002_add_user_preferences=out-of-order 0003_sessions_token_index_concurrently=applied", exitCode: 4},
		{name: "v0 modified", folder: "v0-journal", shape: "v0", rows: "v0-journal",
			edit: func(i int, h *string, _ *int64) bool {
				if i == 1 {
					*h = strings.Repeat("0", 64)
				}
				return true
			},
			want: "0000_initial_schema=applied 0001_add_credits_table=modified 0002_add_user_preferences=applied 0003_sessions_token_index_concurrently=applied", exitCode: 4},
		{name: "v0 missing", folder: "v0-journal", shape: "v0", rows: "v0-journal",
			edit: func(i int, _ *string, c *int64) bool {
				if i == 3 {
					*c = 1700000000000 // a row no file matches
				}
				return true
			},
			// 0003's row now looks older than 0002's, so 0003 is newer than
			// the newest row: drizzle-orm would apply it again.
			want: "0000_initial_schema=applied 0001_add_credits_table=applied 0002_add_user_preferences=applied 0003_sessions_token_index_concurrently=pending #4=missing", exitCode: 4},
		{name: "v0 no table", folder: "v0-journal",
			want: "0000_initial_schema=pending 0001_add_credits_table=pending 0002_add_user_preferences=pending 0003_sessions_token_index_concurrently=pending", exitCode: 4},
		{name: "v1 all applied", folder: "v1-folders", shape: "v1", rows: "v1-folders",
			want: "20261121131230_initial_schema=applied 20261121131235_add_credits_table=applied 20261121131238_add_user_preferences=applied 20261121131240_backfill_credits=applied"},
		{name: "v1 layout on the v0 table drizzle-orm 0.45 left", folder: "v0-upgraded-to-v1", shape: "v0", rows: "v0-journal",
			want: "20261121131207_initial_schema=applied 20261121131212_add_credits_table=applied 20261121131213_add_user_preferences=applied 20261121131214_sessions_token_index_concurrently=applied"},
		{name: "v1 layout on the upgraded table", folder: "v0-upgraded-to-v1", shape: "v1", rows: "v0-upgraded-to-v1",
			want: "20261121131207_initial_schema=applied 20261121131212_add_credits_table=applied 20261121131213_add_user_preferences=applied 20261121131214_sessions_token_index_concurrently=applied"},
		{name: "v1 older folder from another branch is pending, not skipped", folder: "v1-folders", shape: "v1", rows: "v1-folders",
			edit: func(i int, _ *string, _ *int64) bool { return i != 1 },
			want: "20261121131230_initial_schema=applied 20261121131235_add_credits_table=pending 20261121131238_add_user_preferences=applied 20261121131240_backfill_credits=applied", exitCode: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := srv.NewDB(t)
			if tc.shape != "" {
				seedTable(t, db, tc.shape, tc.rows, tc.edit)
			}
			r := upshift(t, dbEnv(db), "status", "--dir", goldenDir(tc.folder), "--format", "json")
			if r.code != 0 {
				t.Fatalf("status: %v", r)
			}
			var s statusOut
			if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
				t.Fatalf("json: %v\n%s", err, r.stdout)
			}
			if got := states(s); got != tc.want {
				t.Errorf("states:\n got %s\nwant %s", got, tc.want)
			}
			r = upshift(t, dbEnv(db), "status", "--dir", goldenDir(tc.folder), "--exit-code")
			if r.code != tc.exitCode {
				t.Errorf("--exit-code: %v", r)
			}
		})
	}
}

// TestStatusReadOnly: status creates, alters and locks nothing, not even
// the drizzle schema.
func TestStatusReadOnly(t *testing.T) {
	srv := pgtest.Shared(t)
	db := srv.NewDB(t)
	r := upshift(t, dbEnv(db), "status", "--dir", goldenDir("v1-folders"))
	if r.code != 0 {
		t.Fatal(r)
	}
	conn := db.Connect(t)
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("status created the drizzle schema")
	}
	for _, want := range []string{"20261121131230_initial_schema        2026-11-21 13:12:30  pending  -", "(not created yet)", "4 migrations: 4 pending"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestStatusTextOutput(t *testing.T) {
	srv := pgtest.Shared(t)
	db := srv.NewDB(t)
	seedTable(t, db, "v0", "v0-journal", func(i int, h *string, _ *int64) bool {
		if i == 1 {
			*h = strings.Repeat("ab", 32)
		}
		return i != 2
	})
	r := upshift(t, dbEnv(db), "status", "--dir", goldenDir("v0-journal"))
	for _, want := range []string{
		"migrations  " + goldenDir("v0-journal") + " (journal, 4 migrations)",
		"table       drizzle.__drizzle_migrations (v0)",
		"0002_add_user_preferences               2026-11-21 13:12:13  out-of-order",
		"0001_add_credits_table: " + goldenDir("v0-journal") + "/0001_add_credits_table.sql was changed after it was applied (file hash e134631dfabc, recorded abababababab)",
		"drizzle-orm 0.x skips it silently, `upshift migrate --allow-out-of-order` applies it",
		"4 migrations: 2 applied, 1 modified, 1 out of order",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestNothingToMigrate: an empty journal needs no database and is exit 0
// (a missing folder is exit 2: TestMissingMigrationsFolder).
func TestNothingToMigrate(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir+"/meta/_journal.json", `{"version":"7","dialect":"postgresql","entries":[]}`); err != nil {
		t.Fatal(err)
	}
	r := upshift(t, []string{"DATABASE_URL=postgres://nobody@127.0.0.1:1/none"}, "status", "--dir", dir, "--exit-code")
	if r.code != 0 || !strings.Contains(r.stdout, "holds no migrations") {
		t.Errorf("%v", r)
	}
}

func TestBadFolderExitCode(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir+"/meta/_journal.json", `{"dialect": "postgresql", "entries": [`); err != nil {
		t.Fatal(err)
	}
	r := upshift(t, nil, "status", "--dir", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "_journal.json:1:") || !strings.Contains(r.stderr, "hint:") {
		t.Errorf("%v", r)
	}
}

func TestUsageExitCode(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"status", "--format", "yaml"}, {"status", "--nope"}} {
		if r := upshift(t, nil, args...); r.code != 2 {
			t.Errorf("%v: %v", args, r)
		}
	}
	if r := upshift(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "upshift ") {
		t.Errorf("version: %v", r)
	}
	if r := upshift(t, nil, "--help"); r.code != 0 || !strings.Contains(r.stdout, "status") {
		t.Errorf("--help: %v", r)
	}
}
