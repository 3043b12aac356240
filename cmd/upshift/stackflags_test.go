//go:build !migrator

package main

import (
	"reflect"
	"strings"
	"testing"
)

// Every flag tagged as meaning nothing to a stack run is refused with
// --stack (exit 2, naming it) before anything is opened: the refusals
// come from the same tags as the flags, so they cannot drift apart.
func TestStackRefusesWhatItDoesNotDo(t *testing.T) {
	values := map[string]string{"bool": "", "string": "x", "Seconds": "5s"}
	var flags [][2]string
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			if _, ok := f.Tag.Lookup("stack"); ok {
				v, ok := values[f.Type.Name()]
				if f.Tag.Get("enum") != "" {
					v = "host"
				} else if !ok {
					t.Fatalf("no test value for --%s (%s)", f.Tag.Get("name"), f.Type)
				}
				flags = append(flags, [2]string{f.Tag.Get("name"), v})
			}
		}
	}
	walk(reflect.TypeOf(UpgradeCmd{}))
	if len(flags) < 10 {
		t.Fatalf("only %d flags are refused with --stack: %v", len(flags), flags)
	}
	for _, fl := range flags {
		args := []string{"upgrade", "--stack", "shop", "--service", "app", "--" + fl[0]}
		if fl[1] != "" {
			args = append(args, fl[1])
		}
		r := upshift(t, []string{"UPSHIFT_STATE_DIR=" + t.TempDir()}, args...)
		if r.code != 2 || !strings.Contains(r.stderr+r.stdout, "--"+fl[0]+" cannot be used with --stack") {
			t.Errorf("--%s with --stack: exit %d\n%s", fl[0], r.code, r)
		}
	}
}
