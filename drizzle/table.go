package drizzle

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Table names the migrations table.
type Table struct {
	Schema string
	Name   string
}

// DefaultTable is where drizzle-orm keeps its migrations unless configured.
var DefaultTable = Table{Schema: "drizzle", Name: "__drizzle_migrations"}

// Ident is the quoted, schema-qualified name for use in SQL.
func (t Table) Ident() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

func (t Table) String() string { return t.Schema + "." + t.Name }

// Shape is which columns the migrations table has.
type Shape string

const (
	ShapeMissing Shape = "missing" // no table (or no schema): nothing applied
	ShapeV0      Shape = "v0"      // id, hash, created_at (drizzle-orm 0.x)
	ShapeV1      Shape = "v1"      // plus name, applied_at (drizzle-orm 1.0)
)

// Row is one row of the migrations table.
type Row struct {
	ID        int64      `json:"id"`
	Hash      string     `json:"hash"`
	CreatedAt *int64     `json:"created_at"`
	Name      *string    `json:"name,omitempty"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// Querier is what reading the table needs: a *pgx.Conn or a pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ReadTable returns the table's shape and its rows ordered by id. It takes
// no locks and creates nothing: a missing schema or table means nothing has
// been applied.
func ReadTable(ctx context.Context, q Querier, t Table) (Shape, []Row, error) {
	const cols = `SELECT a.attname FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped`
	// Simple protocol: one round trip each instead of prepare + execute;
	// this runs on every deploy and container start.
	r, err := q.Query(ctx, cols, pgx.QueryExecModeSimpleProtocol, t.Schema, t.Name)
	if err != nil {
		return "", nil, fmt.Errorf("inspect migrations table %s: %w", t, err)
	}
	names, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		return "", nil, fmt.Errorf("inspect migrations table %s: %w", t, err)
	}
	if len(names) == 0 {
		return ShapeMissing, nil, nil
	}
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	for _, c := range []string{"id", "hash", "created_at"} {
		if !has[c] {
			return "", nil, fmt.Errorf("migrations table %s has no %q column; it is not a drizzle migrations table (pick another with --migrations-table)", t, c)
		}
	}
	shape := ShapeV0
	query := "SELECT id, hash, created_at, NULL::text, NULL::timestamptz FROM " + t.Ident() + " ORDER BY id"
	if has["name"] {
		shape = ShapeV1
		applied := "NULL::timestamptz"
		if has["applied_at"] {
			applied = "applied_at"
		}
		query = "SELECT id, hash, created_at, name, " + applied + " FROM " + t.Ident() + " ORDER BY id"
	}
	rows, err := q.Query(ctx, query, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return "", nil, fmt.Errorf("read migrations table %s: %w", t, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
		var row Row
		err := r.Scan(&row.ID, &row.Hash, &row.CreatedAt, &row.Name, &row.AppliedAt)
		return row, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("read migrations table %s: %w", t, err)
	}
	return shape, out, nil
}
