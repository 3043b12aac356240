// Package pgsql understands SQL with PostgreSQL's own parser (pg_query_go,
// libpg_query), never with regular expressions.
package pgsql

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// ParseTree parses input into PostgreSQL's parse tree, whole.
func ParseTree(input string) (*pg_query.ParseResult, error) { return parseTree(input) }

// Deparse turns a parse tree back into SQL with PostgreSQL's deparser.
func Deparse(tree *pg_query.ParseResult) (string, error) { return deparseTree(tree) }

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
	tree, err := parseTree(input)
	if err != nil {
		pe := &ParseError{Msg: err.Error(), Offset: -1}
		if msg, cursor, ok := parserError(err); ok {
			pe.Msg = msg
			if cursor > 0 {
				pe.Offset = RuneToByte(input, cursor-1)
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
// statement boundaries (quotes, dollar quotes and comments included) in a
// window that slides over the input, and each statement's tree is garbage
// once fn returns. A statement the parser rejects on its own is parsed
// again with the rest of the input, so that the error (or, for a body the
// scanner cut at an inner semicolon, the statements) is what Parse would
// give. An error from fn stops the walk and is returned as is. A large
// input is parsed on every core, statements delivered in order.
func Each(input string, fn func(Stmt) error) error {
	if len(input) < wholeBelow {
		// Small input: its tree is small too, and one parse is cheaper
		// than a scan and a parse per statement.
		return eachWhole(input, 0, fn)
	}
	var err error
	if workers := runtime.GOMAXPROCS(0); workers > 1 && len(input) >= parallelFrom {
		err = eachParallel(input, fn, workers)
	} else {
		err = EachText(input, func(off int, text string) error {
			st, ok, err := parseOne(text)
			switch {
			case err != nil:
				return &Rest{Offset: off}
			case ok:
				st.Offset += off
				return fn(st)
			}
			return nil // only comments
		})
	}
	if r, ok := err.(*Rest); ok {
		return eachWhole(input[r.Offset:], r.Offset, shifted(fn, r.Offset))
	}
	return err
}

// Rest is where EachText stopped because the rest of the input must be
// parsed as one: the scanner could not split it, or the caller asked.
type Rest struct{ Offset int }

func (r *Rest) Error() string { return fmt.Sprintf("parse the input from byte %d as one", r.Offset) }

// parseOne parses a statement the scanner split off; err when the parser
// rejects it alone or finds more than one statement in it.
func parseOne(text string) (Stmt, bool, error) {
	sts, err := Parse(text)
	if err != nil || len(sts) > 1 {
		return Stmt{}, false, errors.New("not one statement")
	}
	if len(sts) == 0 {
		return Stmt{}, false, nil
	}
	return sts[0], true, nil
}

// EachText calls text with each statement of input, unparsed, and its
// offset, as PostgreSQL's scanner splits them, reading a window that slides
// over the input. It returns text's first error; a *Rest when the scanner
// cannot split what is left (text may return one too).
func EachText(input string, text func(off int, s string) error) error {
	if strings.IndexByte(input, 0) >= 0 {
		return &Rest{Offset: 0} // the C side would stop at the NUL
	}
	pos, window := 0, eachWindow
	for pos < len(input) {
		end := min(pos+window, len(input))
		if end < len(input) {
			// Cut where a statement likely ends, so the window rarely
			// stops inside a string. Where it is cut only changes how
			// much is scanned again, never the result: see below.
			if i := strings.LastIndex(input[pos:end], ";\n"); i > 0 {
				end = pos + i + 2
			}
		}
		chunk := input[pos:end]
		pieces, err := splitWithScanner(chunk)
		if err != nil {
			if end == len(input) {
				return &Rest{Offset: pos}
			}
			window *= 2 // the cut fell inside a token: take more
			continue
		}
		// The scanner reads left to right, so every statement that ends
		// with a semicolon before the cut is exactly what scanning the whole
		// input would give; the last piece may run on past the cut and is
		// scanned again with the next window.
		last := len(pieces)
		if end < len(input) {
			last--
		}
		if last <= 0 {
			if end == len(input) {
				return nil // nothing but white space and comments
			}
			window *= 2 // one statement larger than the window
			continue
		}
		base := uintptr(unsafe.Pointer(unsafe.StringData(chunk)))
		next := end
		for i, p := range pieces {
			if len(p) == 0 {
				return &Rest{Offset: pos}
			}
			off := int(uintptr(unsafe.Pointer(unsafe.StringData(p)))-base) + pos
			if i == last {
				next = off
				break
			}
			if strings.TrimSpace(p) == "" {
				continue
			}
			if err := text(off, p); err != nil {
				return err
			}
		}
		pos, window = next, eachWindow
	}
	return nil
}

// wholeBelow is the input size below which Each parses the input whole.
var wholeBelow = 64 << 10

// eachWindow is how much of the input the scanner reads at a time.
var eachWindow = 1 << 20

// parallelFrom is the input size from which Each parses on every core.
var parallelFrom = 1 << 20

type parseJob struct {
	off  int
	text string
	done chan struct{}
	st   Stmt
	ok   bool
	err  error
}

// eachParallel: one goroutine splits, workers parse, and the caller's
// goroutine hands the statements to fn in input order. At most a few
// statements per worker are in flight, so memory stays bounded.
func eachParallel(input string, fn func(Stmt) error, workers int) error {
	jobs := make(chan *parseJob)
	order := make(chan *parseJob, 2*workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j.st, j.ok, j.err = parseOne(j.text)
				close(j.done)
			}
		}()
	}
	var splitErr error
	go func() {
		defer close(jobs)
		defer close(order)
		splitErr = EachText(input, func(off int, text string) error {
			j := &parseJob{off: off, text: text, done: make(chan struct{})}
			for _, ch := range []chan *parseJob{order, jobs} {
				select {
				case ch <- j:
				case <-stop:
					return errStopped
				}
			}
			return nil
		})
	}()
	result := func(err error) error {
		close(stop)
		for range order { // let the splitter end
		}
		wg.Wait()
		return err
	}
	for j := range order {
		<-j.done
		if j.err != nil {
			return result(&Rest{Offset: j.off})
		}
		if !j.ok {
			continue
		}
		st := j.st
		st.Offset += j.off
		if err := fn(st); err != nil {
			return result(err)
		}
	}
	wg.Wait() // order is closed: the splitter is done, splitErr is set
	return splitErr
}

var errStopped = errors.New("stopped")

func shifted(fn func(Stmt) error, by int) func(Stmt) error {
	return func(s Stmt) error {
		s.Offset += by
		return fn(s)
	}
}

// eachWhole parses input as one: the fallback of Each. base is where input
// starts in the caller's input, for a parse error's offset.
func eachWhole(input string, base int, fn func(Stmt) error) error {
	sts, err := Parse(input)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) && pe.Offset >= 0 {
			pe.Offset += base
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

// IsDML reports whether a statement reads or writes rows only (INSERT,
// UPDATE, DELETE, MERGE, SELECT, VALUES or a WITH query), judged from its
// first token, which the scanner reads from at most the statement's first
// 256 bytes: a large data statement is not parsed for it. False when
// unsure; the caller then parses.
func IsDML(text string) bool {
	head := text
	if len(head) > 256 {
		head = head[:256]
	}
	// Stop before the first quote: the first token lies before it, and the
	// scanner refuses a string the cut leaves open.
	if i := strings.IndexAny(head, "'\"$"); i >= 0 {
		head = head[:i]
	}
	res, err := scan(head)
	if err != nil {
		return false
	}
	for _, t := range res.Tokens {
		switch t.Token {
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			continue
		case pg_query.Token_INSERT, pg_query.Token_UPDATE, pg_query.Token_DELETE_P, pg_query.Token_MERGE,
			pg_query.Token_SELECT, pg_query.Token_VALUES, pg_query.Token_WITH:
			return true
		}
		return false
	}
	return false
}
