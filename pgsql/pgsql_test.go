package pgsql_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/pgsql"
)

func TestNoTransaction(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{`CREATE INDEX CONCURRENTLY "i" ON "t" ("a")`, "CREATE INDEX CONCURRENTLY"},
		{`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t (a) WHERE a > 0`, "CREATE INDEX CONCURRENTLY"},
		{`CREATE INDEX i ON t (a)`, ""},
		{`DROP INDEX CONCURRENTLY IF EXISTS i`, "DROP INDEX CONCURRENTLY"},
		{`DROP INDEX i`, ""},
		{`REINDEX INDEX CONCURRENTLY i`, "REINDEX CONCURRENTLY"},
		{`REINDEX (VERBOSE) TABLE t`, ""},
		{`REINDEX DATABASE app`, "REINDEX SCHEMA/SYSTEM/DATABASE"},
		{`ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY`, "DETACH PARTITION CONCURRENTLY"},
		{`ALTER TABLE p DETACH PARTITION p1`, ""},
		{`VACUUM (ANALYZE) t`, "VACUUM"},
		{`ANALYZE t`, ""},
		{`CLUSTER`, "CLUSTER without a table"},
		{`CLUSTER t USING i`, ""},
		{`CREATE DATABASE x`, "CREATE DATABASE"},
		{`ALTER SYSTEM SET work_mem = '8MB'`, "ALTER SYSTEM"},
		{`ALTER TYPE mood ADD VALUE 'meh'`, ""},
		// A comment that mentions the keyword is not a statement.
		{`/* CREATE INDEX CONCURRENTLY */ SELECT 'CONCURRENTLY'`, ""},
	} {
		sts, err := pgsql.Parse(tc.sql)
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		if got := pgsql.NoTransaction(sts[0].Node); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.sql, got, tc.want)
		}
	}
}

func TestParseOffsets(t *testing.T) {
	in := "-- lead comment\nCREATE TABLE a (id int);\n\n/* c */ INSERT INTO a VALUES (1);\nSELECT 'é'"
	sts, err := pgsql.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CREATE TABLE a (id int)", "INSERT INTO a VALUES (1)", "SELECT 'é'"}
	if len(sts) != len(want) {
		t.Fatalf("%d statements", len(sts))
	}
	for i, s := range sts {
		if got := s.Text(in); got != want[i] {
			t.Errorf("statement %d = %q, want %q", i, got, want[i])
		}
	}
}

func TestParseError(t *testing.T) {
	_, err := pgsql.Parse("SELECT 1;\nCREATE TABLE é (id int,);")
	pe, ok := err.(*pgsql.ParseError)
	if !ok || pe.Offset < 10 {
		t.Fatalf("got %#v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("CREATE INDEX CONCURRENTLY i ON t (a); VACUUM; SELECT 1")
	f.Add("/* x */ -- y\n SELECT $$;$$;")
	f.Fuzz(func(t *testing.T, in string) {
		sts, err := pgsql.Parse(in)
		if err != nil {
			return
		}
		for _, s := range sts {
			if s.Offset < 0 || s.Offset+s.Len > len(in) {
				t.Fatalf("statement out of range: %d+%d of %d", s.Offset, s.Len, len(in))
			}
			_ = pgsql.NoTransaction(s.Node)
		}
	})
}

// Each sees the statements Parse sees, at the same offsets, one at a time,
// whatever the window it slides (here down to a few bytes, so cuts fall in
// strings, dollar quotes, comments and function bodies).
func TestEachMatchesParse(t *testing.T) {
	for _, w := range []int{1 << 20, 64, 16, 5, 1} {
		t.Run(fmt.Sprint("window ", w), func(t *testing.T) {
			defer pgsql.SetEachWindow(w)()
			testEachMatchesParse(t)
		})
		t.Run(fmt.Sprint("parallel, window ", w), func(t *testing.T) {
			defer pgsql.SetEachWindow(w, 0)()
			testEachMatchesParse(t)
		})
	}
}

func testEachMatchesParse(t *testing.T) {
	for _, in := range []string{
		"-- lead comment\nCREATE TABLE a (id int);\n\n/* c */ INSERT INTO a VALUES (1);\nSELECT 'é'",
		"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2; $$ LANGUAGE sql; SELECT ';'; -- ; trailing",
		"CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3",
		"SELECT 1;;; SELECT E'a\\';b'; /* ; */ SELECT \"x;y\" FROM t",
		"-- only a comment",
		"",
		"INSERT INTO t VALUES ('a;\nb');\nINSERT INTO t VALUES ($x$;\n$x$);\n/* ;\n */ SELECT 1;\n-- ;\nSELECT 2;\n",
		"SELECT 1;\n   \n  -- trailing comment only\n",
	} {
		want, err := pgsql.Parse(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		var got []pgsql.Stmt
		if err := pgsql.Each(in, func(s pgsql.Stmt) error { got = append(got, s); return nil }); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d statements, want %d", in, len(got), len(want))
		}
		for i := range want {
			if got[i].Text(in) != want[i].Text(in) || fmt.Sprintf("%T", got[i].Node.Node) != fmt.Sprintf("%T", want[i].Node.Node) {
				t.Errorf("%q: statement %d = %q, want %q", in, i, got[i].Text(in), want[i].Text(in))
			}
		}
	}
}

func TestEachError(t *testing.T) {
	t.Run("sequential", func(t *testing.T) { defer pgsql.SetEachWindow(8)(); testEachError(t) })
	t.Run("parallel", func(t *testing.T) { defer pgsql.SetEachWindow(8, 0)(); testEachError(t) })
}

func testEachError(t *testing.T) {
	in := "SELECT 1;\nCREATE TABLE é (id int,);\nSELECT 2"
	_, werr := pgsql.Parse(in)
	n := 0
	err := pgsql.Each(in, func(pgsql.Stmt) error { n++; return nil })
	pe, ok := err.(*pgsql.ParseError)
	if !ok || pe.Offset != werr.(*pgsql.ParseError).Offset || pe.Msg != werr.(*pgsql.ParseError).Msg {
		t.Fatalf("got %#v, want %#v", err, werr)
	}
	if n != 1 {
		t.Errorf("%d statements before the error, want 1", n)
	}
}

// FuzzEach: wherever Parse succeeds, Each yields the same statements.
func FuzzEach(f *testing.F) {
	f.Add("CREATE INDEX CONCURRENTLY i ON t (a); VACUUM; SELECT 1")
	f.Add("/* x */ -- y\n SELECT $$;$$;")
	f.Add("CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END")
	f.Fuzz(func(t *testing.T, in string) {
		want, err := pgsql.Parse(in)
		if err != nil {
			return
		}
		defer pgsql.SetEachWindow(1+len(in)%17, len(in)%2*len(in))()
		var got []string
		if err := pgsql.Each(in, func(s pgsql.Stmt) error { got = append(got, s.Text(in)); return nil }); err != nil {
			t.Fatalf("Parse accepts, Each: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d statements, Parse has %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i].Text(in) {
				t.Fatalf("statement %d = %q, Parse: %q", i, got[i], want[i].Text(in))
			}
		}
	})
}

func TestIsDML(t *testing.T) {
	long := "INSERT INTO t VALUES ('" + strings.Repeat("x", 300) + "')"
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"INSERT INTO t VALUES (1)", true},
		{"-- backfill\n/* c */ UPDATE t SET a = 1", true},
		{"WITH x AS (SELECT 1) DELETE FROM t", true},
		{long, true},
		{"CREATE INDEX i ON t (a)", false},
		{"ALTER TABLE t ADD COLUMN a int", false},
		{"/* " + strings.Repeat("long comment ", 30) + "*/ INSERT INTO t VALUES (1)", false}, // unsure: parse
		{"'unterminated", false},
	} {
		if got := pgsql.IsDML(tc.sql); got != tc.want {
			t.Errorf("IsDML(%.40q) = %v", tc.sql, got)
		}
	}
}

// An error from fn ends the walk, in either mode, with no call after it.
func TestEachStopsOnError(t *testing.T) {
	in := strings.Repeat("SELECT 1;\n", 200)
	for _, parallel := range []int{1 << 30, 0} {
		restore := pgsql.SetEachWindow(64, parallel)
		boom := fmt.Errorf("boom")
		n := 0
		err := pgsql.Each(in, func(pgsql.Stmt) error {
			n++
			if n == 3 {
				return boom
			}
			return nil
		})
		restore()
		if err != boom || n != 3 {
			t.Errorf("parallel from %d: err %v after %d calls", parallel, err, n)
		}
	}
}
