package lint

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/upshift-dev/upshift/pgsql"
)

// Querier is a *pgx.Conn or a pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Touched lists the tables ("schema.table") the files' statements name.
// Statements that only read or write rows are skipped: no rule judges them
// by the table's size, and a data migration's INSERTs are most of its
// bytes (those not parsed ahead are not even parsed, judged from their
// first token).
func Touched(files []File) []string {
	tables, _ := touched(files)
	return tables
}

// touched lists the tables the files' statements name, and the indexes
// they drop ("schema.index").
func touched(files []File) (tables, dropped []string) {
	seen := map[string]bool{}
	var out []string
	collect := func(s pgsql.Stmt) {
		switch s.Node.Node.(type) {
		case *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt,
			*pg_query.Node_SelectStmt, *pg_query.Node_MergeStmt:
			return
		}
		if ds := s.Node.GetDropStmt(); ds != nil && ds.RemoveType == pg_query.ObjectType_OBJECT_INDEX {
			for _, o := range ds.Objects {
				dropped = append(dropped, nameList(o))
			}
		}
		pgsql.Walk(s.Node.ProtoReflect(), func(m protoMessage) {
			if rv, ok := m.Interface().(*pg_query.RangeVar); ok {
				if k := tableKey(rv); !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
			}
		})
	}
	for _, f := range files {
		for _, pp := range f.pieces() {
			if pp.piece.Blank() {
				continue
			}
			if pp.ahead {
				for _, s := range pp.sts {
					collect(s)
				}
				continue
			}
			sql := pp.piece.SQL
			err := pgsql.EachText(sql, func(_ int, text string) error {
				if pgsql.IsDML(text) {
					return nil
				}
				sts, err := pgsql.Parse(text)
				if err != nil {
					return nil // lint reports it
				}
				for _, s := range sts {
					collect(s)
				}
				return nil
			})
			if r, ok := err.(*pgsql.Rest); ok {
				if sts, err := pgsql.Parse(sql[r.Offset:]); err == nil {
					for _, s := range sts {
						collect(s)
					}
				}
			}
		}
	}
	return out, dropped
}

// Load asks the database what the linter needs to know about the files'
// tables (LoadTables) and about the indexes they drop: Options with
// Tables and Indexes set.
func Load(ctx context.Context, q Querier, files []File) (Options, error) {
	tables, dropped := touched(files)
	infos, err := LoadTables(ctx, q, tables)
	if err != nil {
		return Options{}, err
	}
	opts := Options{Tables: infos, Indexes: map[string]string{}}
	if len(dropped) == 0 {
		return opts, nil
	}
	rows, err := q.Query(ctx, `SELECT n.nspname || '.' || c.relname, tn.nspname || '.' || t.relname
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
WHERE n.nspname || '.' || c.relname = ANY($1)`, dropped)
	if err != nil {
		return Options{}, fmt.Errorf("look up dropped indexes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx, table string
		if err := rows.Scan(&idx, &table); err != nil {
			return Options{}, err
		}
		opts.Indexes[idx] = table
	}
	if err := rows.Err(); err != nil {
		return Options{}, fmt.Errorf("look up dropped indexes: %w", err)
	}
	// An index's table is judged like any other: by its size.
	var more []string
	for _, t := range opts.Indexes {
		if infos[t] == nil {
			more = append(more, t)
		}
	}
	if len(more) > 0 {
		extra, err := LoadTables(ctx, q, more)
		if err != nil {
			return Options{}, err
		}
		for k, v := range extra {
			infos[k] = v
		}
	}
	return opts, nil
}

// LoadTables asks the database about the given tables: estimated rows,
// total size, index columns, and validated NOT NULL checks. Tables that do
// not exist are left out.
func LoadTables(ctx context.Context, q Querier, tables []string) (map[string]*TableInfo, error) {
	out := map[string]*TableInfo{}
	if len(tables) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT n.nspname || '.' || c.relname, c.reltuples::float8, pg_catalog.pg_total_relation_size(c.oid)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname || '.' || c.relname = ANY($1)`, tables)
	if err != nil {
		return nil, fmt.Errorf("look up table sizes: %w", err)
	}
	for rows.Next() {
		var name string
		info := &TableInfo{NotNullChecked: map[string]bool{}}
		if err := rows.Scan(&name, &info.Rows, &info.Bytes); err != nil {
			rows.Close()
			return nil, err
		}
		out[name] = info
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up table sizes: %w", err)
	}
	// Enum-typed columns, for uses of a value added in the same
	// transaction.
	rows, err = q.Query(ctx, `SELECT n.nspname || '.' || c.relname, a.attname::text, tn.nspname || '.' || ty.typname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace
WHERE ty.typtype = 'e' AND a.attnum > 0 AND NOT a.attisdropped AND n.nspname || '.' || c.relname = ANY($1)`, tables)
	if err != nil {
		return nil, fmt.Errorf("look up enum columns: %w", err)
	}
	for rows.Next() {
		var name, col, typ string
		if err := rows.Scan(&name, &col, &typ); err != nil {
			rows.Close()
			return nil, err
		}
		if info := out[name]; info != nil {
			if info.EnumColumns == nil {
				info.EnumColumns = map[string]string{}
			}
			info.EnumColumns[col] = typ
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up enum columns: %w", err)
	}
	// Index columns, in index order (expressions have no name and end
	// the usable prefix).
	rows, err = q.Query(ctx, `SELECT n.nspname || '.' || t.relname,
       array(SELECT coalesce(a.attname::text, '') FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
WHERE i.indisvalid AND n.nspname || '.' || t.relname = ANY($1)`, tables)
	if err != nil {
		return nil, fmt.Errorf("look up indexes: %w", err)
	}
	for rows.Next() {
		var name string
		var cols []string
		if err := rows.Scan(&name, &cols); err != nil {
			rows.Close()
			return nil, err
		}
		if info := out[name]; info != nil {
			info.Indexes = append(info.Indexes, cols)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up indexes: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT n.nspname || '.' || t.relname, pg_catalog.pg_get_constraintdef(c.oid)
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'c' AND c.convalidated AND n.nspname || '.' || t.relname = ANY($1)`, tables)
	if err != nil {
		return nil, fmt.Errorf("look up check constraints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		// def is "CHECK ((col IS NOT NULL))": parse it rather than match text.
		tree, err := pgsql.Parse("ALTER TABLE x ADD " + def)
		if err != nil || len(tree) != 1 {
			continue
		}
		at := tree[0].Node.GetAlterTableStmt()
		if at == nil || len(at.Cmds) != 1 {
			continue
		}
		if con := at.Cmds[0].GetAlterTableCmd().GetDef().GetConstraint(); con != nil {
			if col := isNotNullCheck(con.RawExpr); col != "" && out[name] != nil {
				out[name].NotNullChecked[col] = true
			}
		}
	}
	return out, rows.Err()
}

// InvalidIndexes reports indexes that are already INVALID in the database,
// each with the statements that rebuild it as it was defined.
func InvalidIndexes(ctx context.Context, q Querier) ([]Finding, error) {
	rows, err := q.Query(ctx, `SELECT n.nspname, c.relname, tn.nspname, t.relname, pg_catalog.pg_get_indexdef(c.oid)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
WHERE NOT i.indisvalid ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("look up invalid indexes: %w", err)
	}
	defer rows.Close()
	var out []Finding
	r, _ := RuleByID("invalid-index")
	for rows.Next() {
		var nsp, idx, tnsp, table, def string
		if err := rows.Scan(&nsp, &idx, &tnsp, &table, &def); err != nil {
			return nil, err
		}
		id := pgx.Identifier{nsp, idx}.Sanitize()
		object := fmt.Sprintf("index %s.%s on %s.%s", nsp, idx, tnsp, table)
		fix := "drop it concurrently, then build it again, each in a migration of its own:\n  DROP INDEX CONCURRENTLY IF EXISTS " + id + ";"
		if sts, err := pgsql.Parse(def); err == nil && len(sts) == 1 && sts[0].Node.GetIndexStmt() != nil {
			sts[0].Node.GetIndexStmt().Concurrent = true
			fix += "\n  " + deparse(sts[0].Node)
		}
		out = append(out, Finding{Rule: r.ID, Severity: r.Severity, Object: object, Statement: def,
			Message: object + " is INVALID: " + r.Why, Fix: fix})
	}
	return out, rows.Err()
}
