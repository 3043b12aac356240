package main

import (
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// TestPipelinedStatements: a transaction's statements go to the server in
// one round trip, and it shows in nothing a user sees: the failing
// statement is named at its own line, everything before it is rolled
// back, a statement that returns many rows or a notice does not stall the
// run, and COPY FROM STDIN fails with a message instead of hanging.
func TestPipelinedStatements(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	good := [2]string{"0000_accounts", "CREATE TABLE accounts (id int PRIMARY KEY);\n--> statement-breakpoint\nDROP TABLE IF EXISTS not_there;\n--> statement-breakpoint\nSELECT g, repeat('x', 100) FROM generate_series(1, 200000) g;"}
	bad := [2]string{"0001_credits", "CREATE TABLE credits (id int, account_id int);\n--> statement-breakpoint\nINSERT INTO accounts VALUES (1);\n--> statement-breakpoint\nINSERT INTO accounts\n  VALUES (1);\n--> statement-breakpoint\nCREATE INDEX credits_account_idx ON credits (account_id);"}
	r := upshift(t, dbEnv(db), "migrate", "--dir", folder(t, good, bad))
	if r.code != 1 || !strings.Contains(r.stderr, "0001_credits.sql:5:1") || !strings.Contains(r.stderr, "duplicate key") {
		t.Fatalf("failing statement: %s", r)
	}
	if n := count(t, db, "SELECT count(*) FROM pg_tables WHERE tablename IN ('accounts', 'credits')"); n != 0 {
		t.Errorf("%d tables left behind by a failed transaction", n)
	}
	fixed := [2]string{"0001_credits", "CREATE TABLE credits (id int, account_id int);\n--> statement-breakpoint\nINSERT INTO accounts VALUES (1);\n--> statement-breakpoint\nINSERT INTO accounts\n  VALUES (2);\n--> statement-breakpoint\nCREATE INDEX credits_account_idx ON credits (account_id);"}
	r = upshift(t, dbEnv(db), "migrate", "--dir", folder(t, good, fixed))
	if r.code != 0 || !strings.Contains(r.stdout, "0000_accounts") || !strings.Contains(r.stdout, "0001_credits") {
		t.Fatalf("fixed: %s", r)
	}
	if n := count(t, db, "SELECT count(*) FROM accounts"); n != 2 {
		t.Errorf("accounts has %d rows", n)
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations"); n != 2 {
		t.Errorf("%d migrations recorded", n)
	}
	copyIn := [2]string{"0002_copy", "CREATE TABLE imports (v int);\n--> statement-breakpoint\nCOPY imports FROM STDIN;"}
	r = upshift(t, dbEnv(db), "migrate", "--dir", folder(t, good, fixed, copyIn))
	if r.code != 1 || !strings.Contains(r.stderr, "0002_copy.sql:3:1") || !strings.Contains(r.stderr, "COPY FROM STDIN") {
		t.Errorf("COPY FROM STDIN: %s", r)
	}
	if n := count(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'imports'"); n != 0 {
		t.Errorf("the failed migration's table is there")
	}
}
