// Package pgsql understands SQL with PostgreSQL's own parser (pg_query_go,
// libpg_query), never with regular expressions.
package pgsql

import (
	"errors"
	"strings"
	"unsafe"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// Stmt is one parsed statement and where it stands in the input.
type Stmt struct {
	Node *pg_query.Node
	// Offset and Len locate the statement in the input, in bytes. The
	// statement's leading white space and comments are not included.
	Offset, Len int
}

// Text returns the statement's text within input.
func (s Stmt) Text(input string) string { return input[s.Offset : s.Offset+s.Len] }

// ParseError is a statement the parser rejects.
type ParseError struct {
	Msg    string
	Offset int // byte offset in the input, -1 if unknown
}

func (e *ParseError) Error() string { return e.Msg }

// Parse splits input into statements with PostgreSQL's grammar.
func Parse(input string) ([]Stmt, error) {
	tree, err := pg_query.Parse(input)
	if err != nil {
		pe := &ParseError{Msg: err.Error(), Offset: -1}
		var e *parser.Error
		if errors.As(err, &e) {
			pe.Msg = e.Message
			if e.Cursorpos > 0 {
				pe.Offset = RuneToByte(input, e.Cursorpos-1)
			}
		}
		return nil, pe
	}
	out := make([]Stmt, 0, len(tree.Stmts))
	for _, rs := range tree.Stmts {
		off, n := int(rs.StmtLocation), int(rs.StmtLen)
		if n == 0 { // the last statement runs to the end of the input
			n = len(input) - off
		}
		// StmtLocation points just after the previous semicolon: skip the
		// white space and comments that precede the statement itself.
		text := input[off : off+n]
		lead := len(text) - len(trimLeadingNoise(text))
		st := Stmt{Node: rs.Stmt, Offset: off + lead, Len: n - lead}
		st.Len = len(strings.TrimRight(st.Text(input), " \t\r\n;"))
		out = append(out, st)
	}
	return out, nil
}

// Each parses input one statement at a time and calls fn with each, in
// order, offsets relative to input. Unlike Parse, memory stays bounded by
// the largest statement, not the input: PostgreSQL's scanner finds the
// statement boundaries (quotes, dollar quotes and comments included) and
// each statement's tree is garbage once fn returns. A statement the parser
// rejects on its own is parsed again with its whole input, so that the
// error (or, for a body the scanner cut at an inner semicolon, the
// statements) is what Parse would give. An error from fn stops the walk
// and is returned as is.
func Each(input string, fn func(Stmt) error) error {
	if strings.IndexByte(input, 0) >= 0 {
		return eachWhole(input, fn) // the C side would stop at the NUL
	}
	pieces, err := pg_query.SplitWithScanner(input, false)
	if err != nil {
		return eachWhole(input, fn)
	}
	base := uintptr(unsafe.Pointer(unsafe.StringData(input)))
	for _, p := range pieces {
		if strings.TrimSpace(p) == "" {
			continue
		}
		off := int(uintptr(unsafe.Pointer(unsafe.StringData(p))) - base)
		sts, err := Parse(p)
		if err != nil || len(sts) != 1 {
			if len(sts) == 0 && err == nil {
				continue // only comments
			}
			return eachWhole(input[off:], func(s Stmt) error {
				s.Offset += off
				return fn(s)
			}, off)
		}
		st := sts[0]
		st.Offset += off
		if err := fn(st); err != nil {
			return err
		}
	}
	return nil
}

// eachWhole parses input as one: the fallback of Each. base shifts a parse
// error's offset to the caller's input.
func eachWhole(input string, fn func(Stmt) error, base ...int) error {
	sts, err := Parse(input)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) && pe.Offset >= 0 && len(base) > 0 {
			pe.Offset += base[0]
		}
		return err
	}
	for _, st := range sts {
		if err := fn(st); err != nil {
			return err
		}
	}
	return nil
}

// trimLeadingNoise drops white space and -- or /* */ comments.
func trimLeadingNoise(s string) string {
	for {
		t := strings.TrimLeft(s, " \t\r\n\f\v")
		switch {
		case strings.HasPrefix(t, "--"):
			if i := strings.IndexByte(t, '\n'); i >= 0 {
				s = t[i+1:]
				continue
			}
			return ""
		case strings.HasPrefix(t, "/*"):
			if i := strings.Index(t, "*/"); i >= 0 {
				s = t[i+2:]
				continue
			}
			return ""
		}
		return t
	}
}

// RuneToByte converts a character index (as PostgreSQL reports positions)
// to a byte offset.
func RuneToByte(s string, chars int) int {
	n := 0
	for i := range s {
		if n == chars {
			return i
		}
		n++
	}
	return len(s)
}

// noTxWords are the keywords without which no statement can need to run
// outside a transaction block (see NoTransaction).
var noTxWords = []string{"concurrently", "vacuum", "reindex", "cluster", "database", "tablespace", "system", "subscription"}

// MayNeedNoTransaction is a cheap, conservative pre-check: false means no
// statement in sql can be one that NoTransaction flags, so parsing can be
// skipped. True only means "parse it and see"; the parser decides.
func MayNeedNoTransaction(sql string) bool {
	lower := strings.ToLower(sql)
	for _, w := range noTxWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// NoTransaction returns why PostgreSQL refuses to run the statement inside
// a transaction block ("" when it does not). The list follows the callers
// of PreventInTransactionBlock in PostgreSQL's source.
func NoTransaction(n *pg_query.Node) string {
	switch s := n.Node.(type) {
	case *pg_query.Node_IndexStmt:
		if s.IndexStmt.Concurrent {
			return "CREATE INDEX CONCURRENTLY"
		}
	case *pg_query.Node_DropStmt:
		if s.DropStmt.Concurrent {
			return "DROP INDEX CONCURRENTLY"
		}
	case *pg_query.Node_ReindexStmt:
		if hasOption(s.ReindexStmt.Params, "concurrently") {
			return "REINDEX CONCURRENTLY"
		}
		switch s.ReindexStmt.Kind {
		case pg_query.ReindexObjectType_REINDEX_OBJECT_SCHEMA, pg_query.ReindexObjectType_REINDEX_OBJECT_SYSTEM, pg_query.ReindexObjectType_REINDEX_OBJECT_DATABASE:
			return "REINDEX SCHEMA/SYSTEM/DATABASE"
		}
	case *pg_query.Node_AlterTableStmt:
		for _, c := range s.AlterTableStmt.Cmds {
			if cmd := c.GetAlterTableCmd(); cmd != nil && cmd.Subtype == pg_query.AlterTableType_AT_DetachPartition {
				if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Concurrent {
					return "DETACH PARTITION CONCURRENTLY"
				}
			}
		}
	case *pg_query.Node_VacuumStmt:
		if s.VacuumStmt.IsVacuumcmd {
			return "VACUUM"
		}
	case *pg_query.Node_ClusterStmt:
		if s.ClusterStmt.Relation == nil {
			return "CLUSTER without a table"
		}
	case *pg_query.Node_CreatedbStmt:
		return "CREATE DATABASE"
	case *pg_query.Node_DropdbStmt:
		return "DROP DATABASE"
	case *pg_query.Node_AlterDatabaseStmt:
		if hasOption(s.AlterDatabaseStmt.Options, "tablespace") {
			return "ALTER DATABASE SET TABLESPACE"
		}
	case *pg_query.Node_CreateTableSpaceStmt:
		return "CREATE TABLESPACE"
	case *pg_query.Node_DropTableSpaceStmt:
		return "DROP TABLESPACE"
	case *pg_query.Node_AlterSystemStmt:
		return "ALTER SYSTEM"
	case *pg_query.Node_CreateSubscriptionStmt:
		return "CREATE SUBSCRIPTION"
	case *pg_query.Node_DropSubscriptionStmt:
		return "DROP SUBSCRIPTION"
	}
	return ""
}

func hasOption(opts []*pg_query.Node, name string) bool {
	for _, o := range opts {
		if d := o.GetDefElem(); d != nil && strings.EqualFold(d.Defname, name) {
			return true
		}
	}
	return false
}

// CreatedIndex returns the schema (may be "") and name of the index a
// CREATE INDEX statement builds, if it names one.
func CreatedIndex(n *pg_query.Node) (schema, name string, ok bool) {
	is := n.GetIndexStmt()
	if is == nil || is.Idxname == "" {
		return "", "", false
	}
	if is.Relation != nil {
		schema = is.Relation.Schemaname
	}
	return schema, is.Idxname, true
}
