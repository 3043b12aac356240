// Package layout checks docs/design.md's floors: no package's non-test
// code imports a package on a higher floor, and none imports a harness.
package layout

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/upshift-dev/upshift"

// floors is docs/design.md's table: a package by its path in the module,
// a prefix ending in "/" for a folder of packages.
var floors = map[string]int{
	"cmd/upshift": 5, "cmd/upshift/internal/": 5,
	"upgrade": 4, "scaffold": 4,
	"migrate": 3, "migrate/result": 3, "lint": 3, "compose": 3, "compose/composetest": 3, "maint": 3,
	"drizzle": 2, "drizzle/kitconfig": 2,
	"dbconn": 1, "pglock": 1,
	"pgsql": 0, "pgwatch": 0, "redact": 0, "lockids": 0, "internal/shell": 0, "internal/ghactions": 0,
}

// beside are the folders outside the floors: harnesses (imported by tests
// only) and the project's own programs (imported by nothing).
var beside = []string{"internal/harness/", "internal/cmd/"}

func floorOf(pkg string) (int, bool) {
	if f, ok := floors[pkg]; ok {
		return f, true
	}
	for p, f := range floors {
		if strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p) {
			return f, true
		}
	}
	return 0, false
}

func besides(pkg string) bool {
	for _, b := range beside {
		if strings.HasPrefix(pkg, b) {
			return true
		}
	}
	return false
}

func TestFloors(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	seen := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin" || name == "npm") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files (or only tests)
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		seen++
		mine, onFloor := floorOf(rel)
		if !onFloor && !besides(rel) {
			t.Errorf("%s is on no floor of docs/design.md: add it there and to this test's table", rel)
			return nil
		}
		for _, imp := range pkg.Imports {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			switch theirs, depOnFloor := floorOf(dep); {
			case besides(dep) && !strings.HasPrefix(rel, "internal/cmd/"):
				t.Errorf("%s imports %s, a harness or program, outside its tests", rel, dep)
			case onFloor && depOnFloor && theirs > mine:
				t.Errorf("%s (floor %d) imports %s (floor %d): a package imports only its own floor and below", rel, mine, dep, theirs)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 20 {
		t.Fatalf("read only %d packages", seen)
	}
}
