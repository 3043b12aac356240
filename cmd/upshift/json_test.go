package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/pgtest"
)

// doc parses stdout as exactly one JSON document.
func doc(t *testing.T, r result) map[string]json.RawMessage {
	t.Helper()
	var d map[string]json.RawMessage
	dec := json.NewDecoder(stringsReader(r.stdout))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, r)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document:\n%s", r.stdout)
	}
	return d
}

// Every command asked for JSON prints one document, errors included.
func TestJSONOnEveryPath(t *testing.T) {
	refused := []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x"}
	for _, args := range [][]string{
		{"status", "--dir", "/nope", "--format", "json"},
		{"migrate", "--dir", "/nope", "--format", "json"},
		{"lint", "--dir", "/nope", "--format", "json"},
		{"locks", "--format", "json", "--connect-retries", "1"},
		{"status", "--dir", goldenDir("v0-journal"), "--format", "json", "--connect-retries", "1"},
	} {
		r := upshift(t, refused, args...)
		if r.code == 0 {
			t.Errorf("%v: exit 0", args)
			continue
		}
		var e struct {
			Message  string `json:"message"`
			ExitCode int    `json:"exit_code"`
		}
		if err := json.Unmarshal(doc(t, r)["error"], &e); err != nil || e.Message == "" || e.ExitCode != r.code {
			t.Errorf("%v: error %+v (%v), exit %d\n%s", args, e, err, r.code, r.stdout)
		}
	}
}

// migrate's keys are there on every path, and pending is reported whenever
// it is known (here: a lock timeout).
func TestMigrateJSONKeys(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	holder := db.Connect(t)
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock(987654321)"); err != nil {
		t.Fatal(err)
	}
	r := upshift(t, dbEnv(db), "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth", "--timeout", "0.3", "--format", "json", "--no-lint")
	if r.code != 3 {
		t.Fatalf("%s", r)
	}
	d := doc(t, r)
	for _, k := range []string{"database", "lock_id", "lint", "pending", "applied", "error"} {
		if _, ok := d[k]; !ok {
			t.Errorf("key %q missing:\n%s", k, r.stdout)
		}
	}
	var pending []string
	_ = json.Unmarshal(d["pending"], &pending)
	if len(pending) != 4 || string(d["lock_id"]) != `"987654321"` {
		t.Errorf("pending %v, lock_id %s", pending, d["lock_id"])
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
