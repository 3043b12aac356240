package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

func TestEmptyTableNameIsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"status", "--migrations-table", ""},
		{"migrate", "--migrations-schema", " "},
		{"mark-applied", "--all", "--migrations-table", ""},
	} {
		// A database that refuses connections: the flags are refused first.
		r := upshift(t, []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x"}, append(args, "--dir", goldenDir("v0-journal"))...)
		if r.code != 2 || !strings.Contains(r.stderr, "must not be empty") {
			t.Errorf("%v: %s", args, r)
		}
	}
}

func TestDurationsAcceptBareSeconds(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	r := upshift(t, dbEnv(db), "migrate", "--dir", goldenDir("v0-journal"), "--dry-run", "--statement-timeout", "5", "--lock-timeout", "0.5", "--timeout", "30")
	if r.code != 0 {
		t.Errorf("bare seconds: %s", r)
	}
	r = upshift(t, []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x"}, "wait", "--timeout", "1", "--interval", "0.1")
	if r.code != 1 || strings.Contains(r.stderr, "`upshift wait` blocks") || !strings.Contains(r.stderr, "raise --timeout") {
		t.Errorf("wait: %s", r)
	}
}

func TestSmallWordings(t *testing.T) {
	r := upshift(t, nil, "lockids", "mana-auth", "chat-backend")
	if n := strings.Count(r.stdout, "mana-auth"); n != 1 || !strings.Contains(r.stdout, "chat-backend") {
		t.Errorf("lockids lists mana-auth %d times:\n%s", n, r.stdout)
	}
	empty := t.TempDir()
	r = upshift(t, nil, "status", "--dir", empty)
	if r.code != 0 || strings.Contains(r.stdout, "nothing to migrate") || !strings.Contains(r.stdout, "holds no migrations") {
		t.Errorf("status on an empty folder: %s", r)
	}
	// How the header groups the batch into transactions.
	db := pgtest.Shared(t).NewDB(t)
	mixed := folder(t,
		[2]string{"0000_t", "CREATE TABLE t (id int);"},
		[2]string{"0001_idx", "CREATE INDEX CONCURRENTLY t_id_idx ON t (id);"},
	)
	r = upshift(t, dbEnv(db), "migrate", "--dir", mixed)
	if r.code != 0 || !strings.Contains(r.stdout, "transactions split around 1 migration that run outside a transaction") {
		t.Errorf("mixed batch: %s", r)
	}
	other := pgtest.Shared(t).NewDB(t)
	other.Exec(t, "CREATE TABLE t (id int)")
	onlyNoTx := folder(t, [2]string{"0000_idx", "CREATE INDEX CONCURRENTLY t_id_idx ON t (id);"})
	r = upshift(t, dbEnv(other), "migrate", "--dir", onlyNoTx)
	if r.code != 0 || !strings.Contains(r.stdout, "each statement on its own, outside a transaction") {
		t.Errorf("only no-transaction: %s", r)
	}
}

// A negative duration is refused by the flag's own check, whatever form it
// takes, and not as a "short flag".
func TestNegativeDurationsSayWhatIsWrong(t *testing.T) {
	for _, args := range [][]string{
		{"migrate", "--timeout", "-5"},
		{"migrate", "--lock-timeout", "-0.5"},
		{"wait", "--timeout", "-3s"},
		{"migrate", "--statement-timeout=-5"},
	} {
		r := upshift(t, []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x"}, args...)
		flag, _, _ := strings.Cut(args[1], "=")
		if r.code != 2 || !strings.Contains(r.stderr, flag+": must not be negative") || !strings.Contains(r.stderr, "must not be negative") || strings.Contains(r.stderr, "short flag") {
			t.Errorf("%v: %s", args, r)
		}
	}
	r := upshift(t, nil, "migrate", "--format", "json", "--timeout", "-5")
	var doc struct {
		Error struct {
			Message  string `json:"message"`
			ExitCode int    `json:"exit_code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Error.ExitCode != 2 || !strings.Contains(doc.Error.Message, "--timeout: must not be negative") {
		t.Errorf("usage error as JSON: %v\n%s", err, r)
	}
}
