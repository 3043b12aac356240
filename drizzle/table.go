package drizzle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
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
	if shape, rows, ok := readTableFast(ctx, q, t); ok {
		return shape, rows, nil
	}
	const cols = `SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a
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
	type column struct{ name, typ string }
	names, err := pgx.CollectRows(r, func(r pgx.CollectableRow) (column, error) {
		var c column
		err := r.Scan(&c.name, &c.typ)
		return c, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("inspect migrations table %s: %w", t, err)
	}
	if len(names) == 0 {
		return ShapeMissing, nil, nil
	}
	has := map[string]bool{}
	for _, c := range names {
		has[c.name] = true
		if want, ok := columnTypes[c.name]; ok && !slices.Contains(want, c.typ) {
			return "", nil, &TableError{Table: t, Column: c.name,
				Msg:  fmt.Sprintf("column %q is %s; drizzle-orm writes %s there", c.name, c.typ, want[0]),
				Hint: "this table was not written by drizzle-orm (or was altered by hand); upshift will not guess which migrations it records: restore the table's shape, or name the right table", Options: []string{"migrations-schema", "migrations-table"}}
		}
	}
	for _, c := range []string{"id", "hash", "created_at"} {
		if !has[c] {
			return "", nil, &TableError{Table: t, Column: c, Msg: fmt.Sprintf("there is no %q column: it is not a drizzle migrations table", c),
				Hint: "name the table drizzle-orm writes (its schema and name)", Options: []string{"migrations-schema", "migrations-table"}}
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
		var id *int64
		var hash *string
		if err := r.Scan(&id, &hash, &row.CreatedAt, &row.Name, &row.AppliedAt); err != nil {
			return row, err
		}
		// A row drizzle-orm cannot have written: refuse rather than guess.
		// A NULL created_at used to read as "not applied", and the
		// migration ran a second time.
		switch {
		case id == nil:
			return row, &TableError{Table: t, Column: "id", Msg: "a row has a NULL id", Hint: "give it an id or delete it: DELETE FROM " + t.Ident() + " WHERE id IS NULL"}
		case hash == nil:
			return row, &TableError{Table: t, RowID: *id, Column: "hash", Msg: "hash is NULL",
				Hint: fmt.Sprintf("set it to the SHA-256 of the migration's file (`upshift status --format json` shows each file's hash): UPDATE %s SET hash = '<hash>' WHERE id = %d", t.Ident(), *id)}
		case row.CreatedAt == nil:
			return row, &TableError{Table: t, RowID: *id, Column: "created_at", Msg: "created_at is NULL, so upshift cannot tell which migration the row records (it would apply that migration again)",
				Hint: fmt.Sprintf("set it to the migration's journal \"when\" (or its folder's timestamp in milliseconds): UPDATE %s SET created_at = <when> WHERE id = %d; or delete the row if that migration was never applied", t.Ident(), *id)}
		}
		row.ID, row.Hash = *id, *hash
		return row, nil
	})
	if err != nil {
		var te *TableError
		if errors.As(err, &te) {
			return "", nil, te
		}
		return "", nil, fmt.Errorf("read migrations table %s: %w", t, err)
	}
	return shape, out, nil
}

// readTableFast reads the table in one round trip: SELECT * tells the
// columns and their types too, so the catalog need not be asked first (on
// a fresh connection that query costs more than reading 1,000 rows). It
// runs only on a connection outside a transaction, where an error costs
// nothing, and gives up (ok false) on anything but a well-formed table, for
// ReadTable's careful path to say what is wrong: a missing table, an
// unexpected column type, a NULL drizzle-orm never writes.
func readTableFast(ctx context.Context, q Querier, t Table) (Shape, []Row, bool) {
	conn, isConn := q.(*pgx.Conn)
	if !isConn || conn.PgConn().TxStatus() != 'I' {
		return "", nil, false
	}
	// Sorted here rather than by the server: on a fresh backend the plan
	// for ORDER BY costs a fifth of the query.
	rows, err := conn.Query(ctx, "SELECT * FROM "+t.Ident(), pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return "", nil, false
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	pos := map[string]int{}
	for i, f := range fields {
		typ, known := oidTypes[f.DataTypeOID]
		if want, drizzles := columnTypes[f.Name]; drizzles && (!known || !slices.Contains(want, typ)) {
			return "", nil, false
		}
		pos[f.Name] = i
	}
	for _, c := range []string{"id", "hash", "created_at"} {
		if _, ok := pos[c]; !ok {
			return "", nil, false
		}
	}
	shape := ShapeV0
	if _, ok := pos["name"]; ok {
		shape = ShapeV1
	}
	var (
		id, createdAt *int64
		hash, name    *string
		appliedAt     *time.Time
		skip          any
	)
	dest := make([]any, len(fields))
	for i := range dest {
		dest[i] = &skip
	}
	dest[pos["id"]], dest[pos["hash"]], dest[pos["created_at"]] = &id, &hash, &createdAt
	if i, ok := pos["name"]; ok {
		dest[i] = &name
	}
	if i, ok := pos["applied_at"]; ok {
		dest[i] = &appliedAt
	}
	var out []Row
	for rows.Next() {
		id, createdAt, hash, name, appliedAt = nil, nil, nil, nil, nil
		if err := rows.Scan(dest...); err != nil || id == nil || hash == nil || createdAt == nil {
			return "", nil, false
		}
		out = append(out, Row{ID: *id, Hash: *hash, CreatedAt: createdAt, Name: name, AppliedAt: appliedAt})
	}
	if rows.Err() != nil {
		return "", nil, false
	}
	// Usually in id order already: the rows were inserted in it.
	if !slices.IsSortedFunc(out, byID) {
		slices.SortStableFunc(out, byID)
	}
	return shape, out, true
}

func byID(a, b Row) int { return cmp.Compare(a.ID, b.ID) }

// oidTypes name the built-in types columnTypes lists, as format_type does.
var oidTypes = map[uint32]string{
	20: "bigint", 21: "smallint", 23: "integer", 1700: "numeric",
	25: "text", 1043: "character varying",
	1184: "timestamp with time zone", 1114: "timestamp without time zone",
}

// columnTypes are the types drizzle-orm creates (first) and those that
// read back the same.
var columnTypes = map[string][]string{
	"id":         {"integer", "bigint", "smallint"},
	"hash":       {"text", "character varying"},
	"created_at": {"bigint", "integer", "numeric"},
	"name":       {"text", "character varying"},
	"applied_at": {"timestamp with time zone", "timestamp without time zone"},
}

// TableError is a migrations table that drizzle-orm cannot have written: a
// column of another type, a NULL where drizzle-orm always writes a value.
type TableError struct {
	Table  Table
	RowID  int64 // 0: not about one row
	Column string
	Msg    string
	Hint   string
	// Options are the settings the hint refers to.
	Options []string
}

func (e *TableError) Error() string {
	where := "migrations table " + e.Table.String()
	if e.RowID != 0 {
		where += fmt.Sprintf(", row id %d", e.RowID)
	}
	return fmt.Sprintf("%s: %s; refusing to plan, nothing was changed", where, e.Msg)
}

// ErrorHint is how to fix the table (printed apart from the error).
func (e *TableError) ErrorHint() string { return e.Hint }

// ErrorOptions are the settings the hint refers to.
func (e *TableError) ErrorOptions() []string { return e.Options }
