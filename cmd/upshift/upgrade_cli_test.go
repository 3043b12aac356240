package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// history's document has the same keys on every path.
func TestHistoryJSON(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("name: shop\nservices:\n  api:\n    image: registry.example.com/shop/api:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := []string{"UPSHIFT_STATE_DIR=" + t.TempDir(), "UPSHIFT_STATE=local"}
	keys := func(r result) map[string]json.RawMessage {
		t.Helper()
		var doc map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("not one JSON document: %v\n%s", err, r)
		}
		for _, k := range []string{"project", "state_dir", "runs", "error"} {
			if _, ok := doc[k]; !ok {
				t.Errorf("key %q missing:\n%s", k, r.stdout)
			}
		}
		return doc
	}
	r := upshift(t, state, "history", "-f", filepath.Join(dir, "compose.yaml"), "--format", "json")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if doc := keys(r); string(doc["runs"]) != "[]" || string(doc["project"]) != `"shop"` || string(doc["error"]) != "null" {
		t.Errorf("empty history: %s", r.stdout)
	}
	r = upshift(t, state, "history", "-f", filepath.Join(dir, "missing.yaml"), "--format", "json")
	if r.code != 2 {
		t.Errorf("missing compose file: exit %d\n%s", r.code, r)
	}
	if doc := keys(r); !strings.Contains(string(doc["error"]), "missing.yaml") {
		t.Errorf("error does not name the file: %s", r.stdout)
	}
	r = upshift(t, state, "history", "-f", filepath.Join(dir, "compose.yaml"))
	if r.code != 0 || !strings.Contains(r.stdout, "no upgrades of project shop recorded") {
		t.Errorf("text: %s", r)
	}
}
