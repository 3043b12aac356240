// Package realworld finds the public projects' drizzle-kit folders, config
// files and compose deployments kept in ../shared/realworld beside the
// checkout, for tests that run upshift on what real teams generate. Tests
// skip cleanly where the folder is absent; nothing from it is copied into
// the repository.
package realworld

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Root is ../shared/realworld beside the checkout; $UPSHIFT_REALWORLD
// overrides it.
func Root() string {
	if d := os.Getenv("UPSHIFT_REALWORLD"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "realworld")
}

// Path is a path below Root, or a skip when it is not there.
func Path(t testing.TB, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{Root()}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is not here (../shared/realworld beside the checkout): %v", p, err)
	}
	return p
}

// Folders are the visible drizzle-kit folders.
var Folders = []string{"ai-chatbot", "ai-chatbot-2023", "dokploy", "lmnr", "sim"}

// Applicable is a drizzle-kit folder as a fresh database can take it:
// sim's migrations from 0039 on need the pgvector extension, which
// Debian's PostgreSQL does not ship, so for sim it is a copy (in a
// temporary folder) whose journal ends before 0039.
func Applicable(t testing.TB, name string) string {
	t.Helper()
	dir := Path(t, "drizzle", name)
	if name != "sim" {
		return dir
	}
	return Truncated(t, dir, "0039")
}

// Truncated copies a journal folder into a temporary folder with only
// the entries whose tags sort before stop.
func Truncated(t testing.TB, dir, stop string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "meta", "_journal.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber() // "when" stays the integer it was
	if err := dec.Decode(&j); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	if err := os.MkdirAll(filepath.Join(out, "meta"), 0o755); err != nil {
		t.Fatal(err)
	}
	var kept []any
	for _, e := range j["entries"].([]any) {
		tag := e.(map[string]any)["tag"].(string)
		if strings.Compare(tag, stop) >= 0 {
			continue
		}
		kept = append(kept, e)
		sql, err := os.ReadFile(filepath.Join(dir, tag+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, tag+".sql"), sql, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	j["entries"] = kept
	b, err = json.MarshalIndent(j, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "meta", "_journal.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
