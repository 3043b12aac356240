package drizzle

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzJournalFastMatchesCareful: whatever the one-pass decoder accepts,
// the token-by-token decoder reads the same way, entry lines included.
func FuzzJournalFastMatchesCareful(f *testing.F) {
	golden, _ := filepath.Glob("../testdata/drizzle-golden/*/drizzle/meta/_journal.json")
	for _, p := range golden {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"version":"7","dialect":"postgresql","entries":[{"idx":0,"when":1,"tag":"0000_a","breakpoints":true},
  {"idx":1,"when":2,"tag":"a\"{[","breakpoints":false}]}`))
	f.Add([]byte(`{"dialect":"postgresql","entries":[{"idx":0,"tag":"x"}],"entries":[]}`))
	f.Add([]byte(`{"dialect":"postgresql","x":{"entries":[{}]},"entries":[null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseJournalFast(data)
		if !ok {
			return
		}
		careful, err := parseJournalCareful(data)
		if err != nil {
			t.Fatalf("fast accepted what careful refuses: %v", err)
		}
		if !reflect.DeepEqual(fast, careful) {
			t.Fatalf("fast %+v\ncareful %+v", fast, careful)
		}
	})
}

func TestJournalFastOnGolden(t *testing.T) {
	golden, _ := filepath.Glob("../testdata/drizzle-golden/*/drizzle/meta/_journal.json")
	if len(golden) == 0 {
		t.Fatal("no golden journals")
	}
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseJournalFast(b); !ok {
			t.Errorf("%s: a drizzle-kit journal takes the slow path", p)
		}
	}
}
