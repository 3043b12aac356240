package drizzle

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/pgsql"
)

// A no-transaction migration runs statement by statement, each committing on
// its own. Its progress is kept in a table of upshift's own beside drizzle's
// (never in drizzle's table, whose rows stay exactly drizzle-orm's), created
// only when such a migration runs: a rerun after a failure resumes at the
// statement that failed instead of running the first ones again.
const progressName = "upshift_progress"

// ProgressTable is the progress table beside t.
func (t Table) ProgressTable() Table { return Table{Schema: t.Schema, Name: progressName} }

// Progress is how far a no-transaction migration got.
type Progress struct {
	Tag       string    `json:"tag"`
	Hash      string    `json:"hash"`
	Done      int       `json:"done"` // statements that ran and committed
	Total     int       `json:"total"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ReadProgress returns the progress rows by tag; none when the table does
// not exist. It reads only.
func ReadProgress(ctx context.Context, q Querier, t Table) (map[string]Progress, error) {
	pt := t.ProgressTable()
	rows, err := q.Query(ctx, "SELECT to_regclass($1) IS NOT NULL", pt.Ident())
	if err != nil {
		return nil, fmt.Errorf("look for %s: %w", pt, err)
	}
	exists, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
	if err != nil || !exists {
		return nil, err
	}
	rows, err = q.Query(ctx, "SELECT tag, hash, done, updated_at FROM "+pt.Ident())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", pt, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Progress, error) {
		var p Progress
		err := r.Scan(&p.Tag, &p.Hash, &p.Done, &p.UpdatedAt)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", pt, err)
	}
	out := make(map[string]Progress, len(list))
	for _, p := range list {
		out[p.Tag] = p
	}
	return out, nil
}

// piece is one statement a no-transaction migration sends on its own.
type piece struct {
	sql  string
	stmt *Statement
	sub  int
}

// noTxPieces splits a migration into the statements sent one by one: a
// multi-statement query string would be an implicit transaction block.
func noTxPieces(m *Migration) []piece {
	var out []piece
	for si := range m.Statements {
		st := &m.Statements[si]
		if st.Blank() {
			continue
		}
		sts, err := pgsql.Parse(st.SQL)
		if err != nil || len(sts) <= 1 {
			out = append(out, piece{sql: st.SQL, stmt: st})
			continue
		}
		for _, s := range sts {
			out = append(out, piece{sql: s.Text(st.SQL), stmt: st, sub: s.Offset})
		}
	}
	return out
}

// StatementCount is how many statements a no-transaction migration sends.
func StatementCount(m *Migration) int { return len(noTxPieces(m)) }

func createProgress(t Table) string {
	return "CREATE TABLE IF NOT EXISTS " + t.ProgressTable().Ident() +
		" (tag text PRIMARY KEY, hash text NOT NULL, done integer NOT NULL, updated_at timestamp with time zone NOT NULL DEFAULT now())"
}

func saveProgress(t Table, m *Migration, done int) op {
	return op{kind: opSQL, sql: "INSERT INTO " + t.ProgressTable().Ident() + ` (tag, hash, done) VALUES ($1, $2, $3)
ON CONFLICT (tag) DO UPDATE SET hash = EXCLUDED.hash, done = EXCLUDED.done, updated_at = now()`, args: []any{m.Tag, m.Hash, done}}
}

func clearProgress(t Table, m *Migration) op {
	return op{kind: opSQL, sql: "DELETE FROM " + t.ProgressTable().Ident() + " WHERE tag = $1", args: []any{m.Tag}}
}
