package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/completion"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// -update rewrites the golden files; a diff in one is otherwise a finding.
var update = flag.Bool("update", false, "rewrite testdata/golden from what the binary prints now")

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := writeFile(path, got); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/upshift -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from what the binary prints now; if the change is meant, rerun with -update and review the diff\n--- now\n%s", path, got)
	}
}

// TestHelpGolden: every command's --help, as users read it.
func TestHelpGolden(t *testing.T) {
	parser, err := kong.New(&CLI{}, kong.Name("upshift"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range append([]string{""}, completion.Leaves(parser.Model.Node)...) {
		name := strings.ReplaceAll(path, " ", "_")
		if name == "" {
			name = "upshift"
		}
		t.Run(name, func(t *testing.T) {
			r := upshift(t, nil, append(strings.Fields(path), "--help")...)
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			goldenFile(t, filepath.Join("help", name+".txt"), r.stdout)
		})
	}
}

// shape lists a JSON document's paths with their types, so that a golden
// file pins the keys and types that scripts read, not the values.
func shape(t *testing.T, doc string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	seen := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			seen[path+": object"] = true
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			seen[path+": array"] = true
			for _, e := range x {
				walk(path+"[]", e)
			}
		case string:
			seen[path+": string"] = true
		case float64:
			seen[path+": number"] = true
		case bool:
			seen[path+": bool"] = true
		case nil:
			seen[path+": null"] = true
		}
	}
	walk("", v)
	var lines []string
	for l := range seen {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestJSONShapesGolden: the documents scripts parse keep their keys and
// types.
func TestJSONShapesGolden(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	ok := folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_b", "CREATE INDEX a_id ON a (id);"})
	bad := folder(t, [2]string{"0000_a", "CREATE TABLE a (id int);"}, [2]string{"0001_b", "SELECT nope FROM a;"})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"migrate-dry-run", []string{"migrate", "--dir", ok, "--dry-run"}},
		{"migrate", []string{"migrate", "--dir", ok}},
		{"migrate-up-to-date", []string{"migrate", "--dir", ok}},
		{"migrate-failed", []string{"migrate", "--dir", bad, "--migrations-table", "other"}},
		{"status", []string{"status", "--dir", ok}},
		{"lint", []string{"lint", "--dir", ok, "--level", "info"}},
		{"locks", []string{"locks"}},
		{"lockids", []string{"lockids", "billing"}},
		{"version", []string{"version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := upshift(t, dbEnv(db), append(tc.args, "--format", "json")...)
			goldenFile(t, filepath.Join("json", tc.name+".txt"), fmt.Sprintf("exit %d\n%s", r.code, shape(t, r.stdout)))
		})
	}
}
