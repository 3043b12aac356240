// Package sqlgen writes the large migrations that tests and benchmarks
// measure upshift against.
package sqlgen

import (
	"bufio"
	"fmt"
	"os"
)

// Backfill writes a data migration of about size bytes to path: a table,
// then INSERTs of 500 rows each, as a backfill a script generates. It
// streams to the file, so that the writing process stays small (a child's
// peak RSS, as the kernel reports it, includes its parent's RSS at the
// moment the child is started).
func Backfill(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	n, _ := w.WriteString(`CREATE TABLE "ledger" ("id" integer PRIMARY KEY, "account" text, "amount" integer, "memo" text);` + "\n--> statement-breakpoint\n")
	for id := 1; n < size; {
		k, _ := w.WriteString(`INSERT INTO "ledger" ("id", "account", "amount", "memo") VALUES `)
		n += k
		for r := 0; r < 500; r, id = r+1, id+1 {
			if r > 0 {
				k, _ = w.WriteString(", ")
				n += k
			}
			k, _ = fmt.Fprintf(w, "(%d, 'acct-%d', %d, 'backfilled row %d; it says ''why'' at length')", id, id%977, id%1000, id)
			n += k
		}
		k, _ = w.WriteString(";\n")
		n += k
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
