package pgsql_test

import (
	"testing"

	"github.com/upshift-dev/upshift/pgsql"
)

const benchStmt = "CREATE TABLE \"t1\" (\n\t\"id\" serial PRIMARY KEY NOT NULL,\n\t\"name\" text NOT NULL,\n\t\"created_at\" timestamp DEFAULT now() NOT NULL\n);"

func BenchmarkParse(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := pgsql.Parse(benchStmt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScan(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := pgsql.Scan(benchStmt); err != nil {
			b.Fatal(err)
		}
	}
}
