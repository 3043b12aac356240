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

// TestJournalFastPath: the one-pass decoder takes what drizzle-kit and
// people write by hand, indented or not, and leaves the unusual to the
// careful decoder, which reads them the same way or reports them.
func TestJournalFastPath(t *testing.T) {
	for _, c := range []struct {
		json string
		fast bool
	}{
		{`{"version":"7","dialect":"postgresql","entries":[{"idx":0,"version":"7","when":1700000000000,"tag":"0000_a","breakpoints":true}]}`, true},
		{"{\n  \"version\": \"7\",\n  \"dialect\": \"postgresql\",\n  \"entries\": [\n    {\n      \"idx\": 0,\n      \"when\": 1,\n      \"tag\": \"0000_a\",\n      \"breakpoints\": false\n    }\n  ]\n}\n", true},
		{`{"dialect":"postgresql","entries":[]}`, true},
		{`{"dialect":"postgresql","entries":[],"x":{"y":[1,-2.5e3,true,null,"\u00e9\n"]}}`, true},
		{`{"dialect":"postgresql","entries":[{"tag":"0000_a","when":1,"extra":{"a":[]}}]}`, true},
		{`{"dialect":"postgresql","entries":[{"tag":"caf\u00e9","when":1}]}`, false}, // an escape in a tag
		{`{"dialect":"postgresql","entries":[{"Tag":"0000_a","when":1}]}`, false},    // a field by another case
		{`{"dialect":"postgresql","entries":[{"tag":"a","tag":"b","when":1}]}`, false},
		{`{"dialect":"postgresql","entries":[{"tag":"a","when":1.5}]}`, false},
		{`{"dialect":"postgresql","entries":[{"tag":"a","when":01}]}`, false},
		{`{"dialect":"postgresql","entries":[{"tag":"a","when":99999999999999999999}]}`, false},
		{`{"dialect":"postgresql","entries":[null]}`, false},
		{`{"dialect":"postgresql","entries":null}`, false},
		{`{"dialect":"postgresql","dialect":"mysql","entries":[]}`, false},
		{`{"dialect":"postgresql","entries":[],}`, false},
		{`{"dialect":"postgresql","entries":[]} x`, false},
		{`{"entries":[]}`, false},
		{"\uFEFF{\"dialect\":\"postgresql\",\"entries\":[]}", false},
	} {
		j, ok := parseJournalFast([]byte(c.json))
		if ok != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.json, ok, c.fast)
			continue
		}
		careful, err := parseJournalCareful([]byte(c.json))
		if ok && (err != nil || !reflect.DeepEqual(j, careful)) {
			t.Errorf("%s: fast %+v, careful %+v (%v)", c.json, j, careful, err)
		}
	}
}
