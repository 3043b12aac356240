package pgsql_test

import (
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
