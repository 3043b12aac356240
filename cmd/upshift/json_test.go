package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
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

func TestWaitCreateUnlockJSON(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	r := upshift(t, dbEnv(db), "wait", "--format", "json")
	if d := doc(t, r); r.code != 0 || string(d["ready"]) != "true" {
		t.Errorf("wait: %s", r)
	}
	fresh := []string{"DATABASE_URL=" + strings.Replace(db.URL, db.Name, db.Name+"_json", 1)}
	t.Cleanup(func() { db.Exec(t, "DROP DATABASE IF EXISTS "+db.Name+"_json") })
	r = upshift(t, fresh, "db", "create", "--format", "json")
	if d := doc(t, r); r.code != 0 || string(d["created"]) != "true" {
		t.Errorf("db create: %s", r)
	}
	r = upshift(t, fresh, "db", "create", "--format", "json")
	if d := doc(t, r); r.code != 0 || string(d["created"]) != "false" {
		t.Errorf("db create again: %s", r)
	}
	holder := db.Connect(t)
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock(987654321)"); err != nil {
		t.Fatal(err)
	}
	r = upshift(t, dbEnv(db), "unlock", "--service", "mana-auth", "--format", "json")
	if d := doc(t, r); r.code != 0 || string(d["held"]) != "true" || string(d["lock_id"]) != `"987654321"` || string(d["terminated"]) != "[]" {
		t.Errorf("unlock: %s", r)
	}
	r = upshift(t, dbEnv(db), "unlock", "--service", "mana-auth", "--force", "--format", "json")
	if d := doc(t, r); r.code != 0 || len(d["terminated"]) < 3 {
		t.Errorf("unlock --force: %s", r)
	}
	r = upshift(t, []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x"}, "wait", "--timeout", "0.5", "--format", "json")
	if d := doc(t, r); r.code != 1 || len(d["error"]) == 0 {
		t.Errorf("wait, refused: %s", r)
	}
}

// migrate's document has every key on success too.
func TestMigrateJSONKeysOnSuccess(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	r := upshift(t, dbEnv(db), "migrate", "--dir", goldenDir("v1-folders"), "--format", "json")
	d := doc(t, r)
	for _, k := range []string{"dir", "layout", "database", "table", "lock_id", "dry_run", "pending", "applied", "script", "warnings", "lint", "error", "rolled_back", "invalid_indexes", "duration_ms"} {
		if _, ok := d[k]; !ok {
			t.Errorf("key %q missing:\n%s", k, r.stdout)
		}
	}
	if string(d["error"]) != "null" || string(d["rolled_back"]) != "[]" {
		t.Errorf("error %s, rolled_back %s", d["error"], d["rolled_back"])
	}
}
