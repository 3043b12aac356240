// Package lint finds migration statements that lock or rewrite busy tables,
// using PostgreSQL's own parser (pg_query_go), and says how to write them
// safely.
package lint

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/pgsql"
)

// File is one migration (or plain .sql file), linted as a unit.
type File struct {
	Path string
	Text string
	// parsed holds the file's pieces parsed ahead by Prepare (nil: each
	// is parsed as linting reaches it).
	parsed []parsedPiece
}

type parsedPiece struct {
	piece drizzle.Statement
	ahead bool // parsed by Prepare; false for pieces too large to hold
	sts   []pgsql.Stmt
	err   error
}

// pieces are the file's breakpoint pieces: those Prepare parsed, or the
// bare pieces to parse as linting goes.
func (f File) pieces() []parsedPiece {
	if f.parsed != nil {
		return f.parsed
	}
	var out []parsedPiece
	for _, pc := range drizzle.Split(f.Text) {
		out = append(out, parsedPiece{piece: pc})
	}
	return out
}

// Prepare parses the files' statements ahead, on every core, so that
// Touched and Lint, which both walk them, parse each once and side by
// side: linting the pending migrations is on the path of every deploy
// that applies some. Pieces of 64 KB and more, and sets larger than 8 MB
// in all, are left to be parsed statement by statement as linting goes,
// so that memory stays bounded.
func Prepare(files []File) []File {
	out := make([]File, len(files))
	copy(out, files)
	type job struct{ f, p int }
	var jobs []job
	total := 0
	for fi := range out {
		pieces := drizzle.Split(out[fi].Text)
		out[fi].parsed = make([]parsedPiece, len(pieces))
		for pi, pc := range pieces {
			out[fi].parsed[pi].piece = pc
			if !pc.Blank() && len(pc.SQL) < 64<<10 {
				jobs = append(jobs, job{fi, pi})
				total += len(pc.SQL)
			}
		}
	}
	if total > 8<<20 {
		return files
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, len(jobs)/64)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				pp := &out[jobs[i].f].parsed[jobs[i].p]
				pp.sts, pp.err = pgsql.Parse(pp.piece.SQL)
				pp.ahead = true
			}
		}()
	}
	wg.Wait()
	return out
}

// TableInfo is what the database says about an existing table.
type TableInfo struct {
	Rows  float64 // pg_class.reltuples (-1: never analyzed)
	Bytes int64   // pg_total_relation_size
	// Indexed lists, for each index, its columns in order.
	Indexes [][]string
	// NotNullChecked holds columns with a validated CHECK (col IS NOT NULL).
	NotNullChecked map[string]bool
	// EnumColumns maps the table's enum-typed columns to their type
	// ("schema.type").
	EnumColumns map[string]string
}

// LargeRows and LargeBytes make an existing table large: the size from
// which schema advice (an unindexed foreign key, a cascading delete) is
// worth a warning at deploy time rather than a note.
const (
	LargeRows  = 100_000
	LargeBytes = 100 << 20
)

// Options give the linter the database's view, when it has one.
type Options struct {
	// Tables maps "schema.table" to what the database knows of it; nil
	// when linting without a database.
	Tables map[string]*TableInfo
	// MinRows lets tables the database reports smaller than this pass the
	// rules about existing tables.
	MinRows float64
	// Level leaves out findings below it ("" keeps all), before their
	// fixes are built.
	Level Severity
	// PerMigration judges each file as a deploy of its own: the tables
	// that earlier files created exist when it runs (reviewing a folder's
	// history, without a database). Without it the files are one pending
	// set, applied together: a table created anywhere in the set is new
	// for the statements after it.
	PerMigration bool
	// From leaves the files before this index unreported: they only say
	// what exists (lint --from TAG).
	From int
	// Indexes maps indexes the database has ("schema.index") to their
	// table, for DROP INDEX.
	Indexes map[string]string
}

// Finding is one problem, located in its file.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// File, Line and Column locate a finding in a migration; a finding
	// about the database itself has no file and names its Object instead
	// ("index public.x_idx on public.x").
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Object string `json:"object"`
	// Table is the table the statement locks or rewrites ("" for findings
	// about no table); Existing says it held data before the linted set
	// (the database has it, or an earlier migration outside the set
	// created it), which is what makes a lock or rewrite a hazard.
	Table     string `json:"table"`
	Existing  bool   `json:"existing"`
	Statement string `json:"statement"`
	Message   string `json:"message"`
	Fix       string `json:"fix"`
}

// Deploy reports whether the finding matters to a deploy: it is about a
// table that holds data already, or the migration would fail wherever it
// runs. The rest is schema advice about new tables,
// for `upshift lint`.
func (f Finding) Deploy() bool {
	return f.Existing || failsAnywhere[f.Rule]
}

var failsAnywhere = map[string]bool{"parse-error": true, "enum-value-same-transaction": true}

func (f Finding) String() string {
	if f.File == "" {
		return fmt.Sprintf("%s: %s %s: %s", f.Object, f.Severity, f.Rule, f.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s %s: %s", f.File, f.Line, f.Column, f.Severity, f.Rule, f.Message)
}

// Lint checks files in order. A table created in an earlier statement of
// the set is new: indexes, constraints and NOT NULL columns on it are fine.
func Lint(files []File, opts Options) []Finding {
	l := &linter{opts: opts, newTables: map[string]bool{}, indexes: map[string][][]string{}, checks: map[string]checkDef{}, notNullOK: map[string]bool{},
		indexTable: map[string]string{}, enumAdded: map[string]map[string]bool{}, columnEnum: map[string]map[string]string{},
		columnTypes: map[string]map[string]*pg_query.TypeName{}}
	for t, info := range opts.Tables {
		for col, typ := range info.EnumColumns {
			l.setColumnEnum(t, col, typ)
		}
	}
	for i, f := range files {
		if opts.PerMigration {
			// What earlier migrations created exists by now; an
			// enum value they added was committed with them.
			clear(l.newTables)
			clear(l.enumAdded)
		}
		l.quiet = i < opts.From
		l.file(f)
	}
	l.finish()
	order := map[string]int{}
	for i, f := range files {
		if _, ok := order[f.Path]; !ok {
			order[f.Path] = i
		}
	}
	slices.SortStableFunc(l.out, func(a, b Finding) int {
		if d := order[a.File] - order[b.File]; d != 0 {
			return d
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return l.out
}

type checkDef struct{ table, column string }

type pendingFK struct {
	f     Finding
	table string
	cols  []string
}

type linter struct {
	opts      Options
	newTables map[string]bool
	indexes   map[string][][]string // table -> index column lists created in the set
	checks    map[string]checkDef   // NOT VALID CHECK (col IS NOT NULL) by constraint name
	notNullOK map[string]bool       // "table.col" with a validated not-null check
	// enumAdded: type -> values that ALTER TYPE ... ADD VALUE added in
	// this transaction; columnEnum: table -> column -> enum type.
	enumAdded  map[string]map[string]bool
	columnEnum map[string]map[string]string
	// columnTypes: table -> column -> its type as the files declared it.
	columnTypes map[string]map[string]*pg_query.TypeName
	indexTable  map[string]string // "schema.index" -> its table, for indexes created in the files
	fks         []pendingFK
	out         []Finding
	quiet       bool // a context file (Options.From): nothing reported

	// per file
	file_       File
	stmt        pgsql.Stmt
	suppress    map[int]map[string]bool
	notValidNow map[string]string // constraints added NOT VALID in this file: the statement
}

func (l *linter) file(f File) {
	l.file_ = f
	l.suppress = l.suppressions(f.Text)
	l.notValidNow = map[string]string{}
	var noTx, tx int
	var noTxStmts []string
	var firstNoTx, risky *pgsql.Stmt
	// COMMITs are judged at the end of the file: one that comes before a
	// statement that must run outside a transaction is drizzle-orm's way
	// out of its transaction, not a split of the migration.
	var commits []pgsql.Stmt
	noTxAfterCommit, validateAfterCommit := false, false
	hasLockTimeout := false
	err := eachStatement(f, func(st pgsql.Stmt) {
		l.stmt = st
		n := st.Node
		if ts := n.GetTransactionStmt(); ts != nil && (ts.Kind == pg_query.TransactionStmtKind_TRANS_STMT_COMMIT) {
			commits = append(commits, st)
			clear(l.enumAdded) // committed: usable from here on
			return
		}
		if len(commits) > 0 && validatesConstraint(n) {
			validateAfterCommit = true
		}
		if pgsql.NoTransaction(n) != "" {
			noTx++
			noTxStmts = append(noTxStmts, oneLine(st.Text(f.Text))+";")
			if firstNoTx == nil {
				firstNoTx = &st
			}
			if len(commits) > 0 {
				noTxAfterCommit = true
			}
		} else if n.GetVariableSetStmt() == nil {
			tx++
		}
		if vs := n.GetVariableSetStmt(); vs != nil && vs.Name == "lock_timeout" {
			hasLockTimeout = true
		}
		if l.statement(n) && risky == nil {
			risky = &st
		}
	})
	if err != nil {
		pe, _ := err.(*pgsql.ParseError)
		off := 0
		if pe != nil && pe.Offset >= 0 {
			off = pe.Offset
		}
		if l.quiet {
			return
		}
		line, col := lineCol(f.Text, off)
		l.out = append(l.out, Finding{Rule: "parse-error", Severity: Error, File: f.Path, Line: line, Column: col, Message: err.Error(), Fix: "correct the statement at this line and column; PostgreSQL would refuse it the same way"})
		return
	}
	for _, st := range commits {
		l.stmt = st
		switch {
		case noTxAfterCommit:
			l.add("commit-before-concurrently", "", fmt.Sprintf("COMMIT before %s in %s", plural(noTx, "statement that must run outside a transaction"), f.Path), "")
		case validateAfterCommit:
			l.add("commit-before-validate", "", "COMMIT before VALIDATE CONSTRAINT in "+f.Path, "")
		default:
			l.add("transaction-control", "", "COMMIT in a migration", "delete this COMMIT; for statements that cannot run in a transaction, upshift already runs them outside one")
		}
	}
	if noTx > 0 && tx > 0 && !noTxAfterCommit {
		l.stmt = *firstNoTx
		l.add("concurrently-mixed", "", fmt.Sprintf("%s that must run outside a transaction, with %s in %s", plural(noTx, "statement"), plural(tx, "transactional statement"), f.Path),
			"move each of these to a migration of its own (drizzle-kit generate --custom), and keep the rest here:"+indent(noTxStmts...))
	}
	if risky != nil && !hasLockTimeout {
		l.stmt = *risky
		t := firstTable(risky.Node)
		l.add("missing-lock-timeout", "", "this migration locks "+t+" and sets no lock_timeout", fixLockTimeout(t))
	}
}

// eachStatement calls fn for each statement of a migration, as the
// migrator sends them: split at drizzle-kit's breakpoints first (a piece
// needs no trailing semicolon), then by PostgreSQL's scanner, one statement
// parsed at a time so that a large data migration costs the memory of its
// largest statement. Offsets are relative to text.
func eachStatement(f File, fn func(pgsql.Stmt)) error {
	for _, pp := range f.pieces() {
		piece := pp.piece
		if piece.Blank() {
			continue
		}
		if pp.ahead {
			if pe, ok := pp.err.(*pgsql.ParseError); ok && pe.Offset >= 0 {
				shifted := *pe
				shifted.Offset += piece.Offset
				return &shifted
			}
			if pp.err != nil {
				return pp.err
			}
			for _, st := range pp.sts {
				st.Offset += piece.Offset
				fn(st)
			}
			continue
		}
		err := pgsql.Each(piece.SQL, func(st pgsql.Stmt) error {
			st.Offset += piece.Offset
			fn(st)
			return nil
		})
		if pe, ok := err.(*pgsql.ParseError); ok && pe.Offset >= 0 {
			pe.Offset += piece.Offset
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// statement checks one statement; it reports whether the statement locks
// an existing table exclusively (for missing-lock-timeout).
func (l *linter) statement(n *pg_query.Node) bool {
	risky := l.check(n)
	l.enumUse(n)
	return risky
}

func (l *linter) check(n *pg_query.Node) bool {
	switch s := n.Node.(type) {
	case *pg_query.Node_CreateStmt:
		t := tableKey(s.CreateStmt.Relation)
		// A table the database already has is judged by its real size,
		// also when the statement that created it is linted again (--all).
		if l.info(t) == nil {
			l.newTables[t] = true
		}
		for _, el := range s.CreateStmt.TableElts {
			if cd := el.GetColumnDef(); cd != nil {
				l.setColumnType(t, cd.Colname, cd.TypeName)
				l.serial(n, cd)
				for _, c := range cd.Constraints {
					if con := c.GetConstraint(); con != nil {
						l.tableConstraint(s.CreateStmt.Relation, con, cd, true)
					}
				}
			}
			if con := el.GetConstraint(); con != nil {
				l.tableConstraint(s.CreateStmt.Relation, con, nil, true)
			}
		}
	case *pg_query.Node_AlterTableStmt:
		return l.alterTable(n, s.AlterTableStmt)
	case *pg_query.Node_IndexStmt:
		is := s.IndexStmt
		t := tableKey(is.Relation)
		var cols []string
		for _, p := range is.IndexParams {
			if e := p.GetIndexElem(); e != nil {
				cols = append(cols, e.Name)
			}
		}
		l.indexes[t] = append(l.indexes[t], cols)
		if is.Idxname != "" {
			l.indexTable[schemaOf(t)+"."+is.Idxname] = t
		}
		// On a new table a concurrent build has nothing to wait for and
		// nothing to fail on half way.
		if is.Concurrent && is.IfNotExists && l.existing(t) {
			l.add("concurrently-if-not-exists", t, fmt.Sprintf("index %s on %s", ident(is.Idxname), rel(is.Relation)), fixIndexIfNotExists(is))
		}
		if !is.Concurrent && l.existing(t) {
			l.add("create-index-non-concurrently", t, fmt.Sprintf("index %s on %s", orName(is.Idxname, "(unnamed)"), l.describe(t)), fixCreateIndex(is))
			return true
		}
	case *pg_query.Node_DropStmt:
		ds := s.DropStmt
		switch ds.RemoveType {
		case pg_query.ObjectType_OBJECT_INDEX:
			if ds.Concurrent {
				break
			}
			// The lock is on the index's table: it matters only where
			// that table holds data.
			table, known := "", false
			for _, o := range ds.Objects {
				if t, ok := l.tableOfIndex(nameList(o)); ok && (!known || l.existing(t)) {
					table, known = t, true
				} else if !ok {
					table, known = "", false
					break
				}
			}
			if known && !l.existing(table) {
				break
			}
			l.add("drop-index-non-concurrently", table, "DROP INDEX "+dropNames(ds), fixDropIndex(ds))
		case pg_query.ObjectType_OBJECT_TABLE:
			for _, o := range ds.Objects {
				t := nameList(o)
				if !l.newTables[t] {
					l.add("drop-table", t, "DROP TABLE "+l.describe(t), fixDropTable(t, deparse(n)))
				}
			}
		}
	case *pg_query.Node_RenameStmt:
		rs := s.RenameStmt
		t := tableKey(rs.Relation)
		if rs.RenameType == pg_query.ObjectType_OBJECT_TABLE {
			// What is known of the table goes with its name.
			nt := schemaOf(t) + "." + rs.Newname
			if l.newTables[t] {
				l.newTables[nt] = true
			}
			l.indexes[nt] = append(l.indexes[nt], l.indexes[t]...)
			if cols := l.columnEnum[t]; cols != nil {
				l.columnEnum[nt] = cols
			}
			if cols := l.columnTypes[t]; cols != nil {
				l.columnTypes[nt] = cols
			}
		}
		if l.newTables[t] {
			break
		}
		switch rs.RenameType {
		case pg_query.ObjectType_OBJECT_COLUMN:
			l.add("rename-column", t, fmt.Sprintf("%s.%s renamed to %s", t, rs.Subname, rs.Newname), fixRenameColumn(rs.Relation, rs.Subname, rs.Newname))
		case pg_query.ObjectType_OBJECT_TABLE:
			l.add("rename-table", t, fmt.Sprintf("%s renamed to %s", t, rs.Newname), fixRenameTable(rs.Relation, rs.Newname))
		}
	case *pg_query.Node_ReindexStmt:
		if pgsql.NoTransaction(n) != "REINDEX CONCURRENTLY" {
			l.add("reindex-non-concurrently", "", "REINDEX "+reindexTarget(s.ReindexStmt), fixReindex(s.ReindexStmt))
		}
	case *pg_query.Node_TruncateStmt:
		if s.TruncateStmt.Behavior == pg_query.DropBehavior_DROP_CASCADE {
			l.add("truncate-cascade", "", "TRUNCATE "+relList(s.TruncateStmt.Relations)+" CASCADE", fixTruncate(s.TruncateStmt))
		}
	case *pg_query.Node_VacuumStmt:
		for _, o := range s.VacuumStmt.Options {
			if d := o.GetDefElem(); d != nil && strings.EqualFold(d.Defname, "full") {
				l.add("vacuum-full", "", "VACUUM FULL"+vacuumTargets(s.VacuumStmt), fixVacuumFull(s.VacuumStmt))
			}
		}
	case *pg_query.Node_ClusterStmt:
		l.add("cluster", "", "CLUSTER "+orDefault(rel(s.ClusterStmt.Relation), "of every clustered table"), fixCluster(s.ClusterStmt))
	case *pg_query.Node_TransactionStmt:
		kind := strings.TrimPrefix(s.TransactionStmt.Kind.String(), "TRANS_STMT_")
		l.add("transaction-control", "", kind+" in a migration", "delete this "+kind+"; for statements that cannot run in a transaction, upshift already runs them outside one")
	case *pg_query.Node_AlterEnumStmt:
		if s.AlterEnumStmt.NewVal != "" {
			typ := qualified(strs(s.AlterEnumStmt.TypeName))
			if l.enumAdded[typ] == nil {
				l.enumAdded[typ] = map[string]bool{}
			}
			l.enumAdded[typ][s.AlterEnumStmt.NewVal] = true
		}
	}
	return false
}

func (l *linter) alterTable(n *pg_query.Node, at *pg_query.AlterTableStmt) bool {
	t := tableKey(at.Relation)
	risky := false
	for _, c := range at.Cmds {
		cmd := c.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		switch cmd.Subtype {
		case pg_query.AlterTableType_AT_AddColumn:
			cd := cmd.Def.GetColumnDef()
			if cd == nil {
				continue
			}
			l.setColumnType(t, cd.Colname, cd.TypeName)
			if !l.existing(tableKey(at.Relation)) {
				l.serial(n, cd) // on an existing table, volatile-default says more
			}
			risky = l.addColumn(at.Relation, cd) || risky
		case pg_query.AlterTableType_AT_AddConstraint:
			if con := cmd.Def.GetConstraint(); con != nil {
				risky = l.tableConstraint(at.Relation, con, nil, false) || risky
			}
		case pg_query.AlterTableType_AT_ValidateConstraint:
			if l.notValidNow[cmd.Name] != "" {
				l.add("validate-same-migration", t, fmt.Sprintf("constraint %s on %s", ident(cmd.Name), t), fixValidateLater(at.Relation, cmd.Name, l.notValidNow[cmd.Name]))
			}
			if cd, ok := l.checks[cmd.Name]; ok {
				l.notNullOK[cd.table+"."+cd.column] = true
			}
		case pg_query.AlterTableType_AT_SetNotNull:
			if l.existing(t) && !l.notNullOK[t+"."+cmd.Name] && !l.dbNotNullChecked(t, cmd.Name) {
				l.add("set-not-null", t, "SET NOT NULL on "+l.sized(t, t+"."+cmd.Name), fixSetNotNull(at.Relation, cmd.Name))
				risky = true
			}
		case pg_query.AlterTableType_AT_AlterColumnType:
			cd := cmd.Def.GetColumnDef()
			old := l.columnTypes[t][cmd.Name]
			l.setColumnType(t, cmd.Name, cd.GetTypeName())
			if l.existing(t) && !noRewrite(old, cd) {
				l.add("column-type-change", t, fmt.Sprintf("%s to %s", l.sized(t, t+"."+cmd.Name), typeText(cmd.Def.GetColumnDef().GetTypeName())), fixTypeChange(at.Relation, cmd.Name, cmd.Def.GetColumnDef()))
				risky = true
			}
		case pg_query.AlterTableType_AT_DropColumn:
			if !l.newTables[t] {
				l.add("drop-column", t, fmt.Sprintf("DROP COLUMN %s.%s", t, cmd.Name), fixDropColumn(at.Relation, cmd.Name))
			}
		}
	}
	if l.existing(t) {
		risky = true // any ALTER TABLE takes a strong lock, however briefly
	}
	return risky
}

func (l *linter) addColumn(rv *pg_query.RangeVar, cd *pg_query.ColumnDef) bool {
	t := tableKey(rv)
	if !l.existing(t) {
		for _, c := range cd.Constraints {
			if con := c.GetConstraint(); con != nil {
				l.tableConstraint(rv, con, cd, true)
			}
		}
		return false
	}
	var notNull, hasDefault bool
	risky := false
	for _, c := range cd.Constraints {
		con := c.GetConstraint()
		if con == nil {
			continue
		}
		switch con.Contype {
		case pg_query.ConstrType_CONSTR_NOTNULL:
			notNull = true
		case pg_query.ConstrType_CONSTR_DEFAULT:
			hasDefault = true
			if fn := volatileCall(con.RawExpr); fn != "" {
				l.add("volatile-default", t, fmt.Sprintf("%s DEFAULT %s()", l.sized(t, t+"."+cd.Colname), fn), fixVolatileDefault(rv, cd, con.RawExpr))
				risky = true
			}
		case pg_query.ConstrType_CONSTR_GENERATED:
			l.add("generated-stored-column", t, "stored generated column "+l.sized(t, t+"."+cd.Colname), fixGenerated(rv, cd, con))
			risky = true
			hasDefault = true
		case pg_query.ConstrType_CONSTR_IDENTITY:
			hasDefault = true
			l.add("volatile-default", t, "identity column "+l.sized(t, t+"."+cd.Colname), fixSequenceColumn(rv, cd))
			risky = true
		default:
			risky = l.tableConstraint(rv, con, cd, false) || risky
		}
	}
	if isSerial(cd) {
		hasDefault = true
		l.add("volatile-default", t, "serial column "+l.sized(t, t+"."+cd.Colname), fixSequenceColumn(rv, cd))
		risky = true
	}
	if notNull && !hasDefault {
		l.add("not-null-without-default", t, fmt.Sprintf("NOT NULL column %s without a DEFAULT", l.sized(t, t+"."+cd.Colname)), fixNotNullNoDefault(rv, cd))
	}
	return risky
}

// tableConstraint handles a constraint on table rv (column: the column it
// is declared on, if inline). created is true inside CREATE TABLE.
func (l *linter) tableConstraint(rv *pg_query.RangeVar, con *pg_query.Constraint, column *pg_query.ColumnDef, created bool) bool {
	t := tableKey(rv)
	var cols []string
	if column != nil {
		cols = []string{column.Colname}
	}
	existing := !created && l.existing(t)
	switch con.Contype {
	case pg_query.ConstrType_CONSTR_PRIMARY, pg_query.ConstrType_CONSTR_UNIQUE:
		keys := strs(con.Keys)
		if len(keys) == 0 {
			keys = cols
		}
		l.indexes[t] = append(l.indexes[t], keys)
		if existing && con.Indexname == "" {
			l.add("add-unique-constraint", t, fmt.Sprintf("%s (%s) on %s", map[bool]string{true: "PRIMARY KEY", false: "UNIQUE"}[con.Contype == pg_query.ConstrType_CONSTR_PRIMARY], strings.Join(keys, ", "), l.describe(t)), fixUnique(rv, con, cols, column))
			return true
		}
	case pg_query.ConstrType_CONSTR_FOREIGN:
		fk := strs(con.FkAttrs)
		if len(fk) == 0 {
			fk = cols
		}
		if existing && !con.SkipValidation {
			l.add("constraint-missing-not-valid", t, fmt.Sprintf("foreign key %s (%s) on %s", orName(con.Conname, "(unnamed)"), strings.Join(fk, ", "), l.describe(t)), fixNotValid(rv, con, cols, column))
		}
		if con.SkipValidation {
			l.notValidNow[con.Conname] = strings.Join(strings.Fields(l.stmt.Text(l.file_.Text)), " ") + ";"
		}
		// Schema advice, not a migration hazard: a note, unless the
		// dependent table holds data already (and, where sizes are
		// known, a lot of it).
		sev := Info
		if l.existing(t) && l.large(t) {
			sev = Warning
		}
		switch con.FkDelAction {
		case "c", "n", "d":
			if !l.wantsAt(sev) {
				break
			}
			action := map[string]string{"c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}[con.FkDelAction]
			l.addAt("cascade-on-dependent", sev, t, fmt.Sprintf("ON DELETE %s from %s to %s", action, rangeVarName(con.Pktable), l.describe(t)), fixCascade(rv, fk, con.Pktable, action))
		}
		if !l.wantsAt(sev) {
			return existing
		}
		f := l.finding("fk-without-index", t, fmt.Sprintf("foreign key %s (%s) to %s: no index of %s starts with those columns", orName(con.Conname, "(unnamed)"), strings.Join(fk, ", "), rangeVarName(con.Pktable), l.describe(t)), fixFKIndex(rv, fk))
		f.Severity = sev
		if !l.quiet {
			l.fks = append(l.fks, pendingFK{f: f, table: t, cols: fk})
		}
		return existing
	case pg_query.ConstrType_CONSTR_CHECK:
		if col := isNotNullCheck(con.RawExpr); col != "" && con.Conname != "" {
			l.checks[con.Conname] = checkDef{t, col}
			if !con.SkipValidation {
				l.notNullOK[t+"."+col] = true
			}
		}
		if existing && !con.SkipValidation {
			l.add("constraint-missing-not-valid", t, fmt.Sprintf("CHECK %s on %s", orName(con.Conname, "(unnamed)"), l.describe(t)), fixNotValid(rv, con, cols, column))
			return true
		}
		if con.SkipValidation {
			l.notValidNow[con.Conname] = strings.Join(strings.Fields(l.stmt.Text(l.file_.Text)), " ") + ";"
		}
	}
	return false
}

func (l *linter) serial(n *pg_query.Node, cd *pg_query.ColumnDef) {
	if isSerial(cd) && l.wants("prefer-identity") {
		l.add("prefer-identity", "", fmt.Sprintf("column %s is %s", cd.Colname, strs(cd.TypeName.Names)[len(cd.TypeName.Names)-1]), fixIdentity(n, cd))
	}
}

// enumUse flags a value that ALTER TYPE ... ADD VALUE added in this
// transaction, used as a value of that type: cast to it, in a statement
// that names the type (a column's type and default), or written to or
// compared with a column of that type. The same string elsewhere (another
// enum's label, a text column) is no use of the new value.
func (l *linter) enumUse(n *pg_query.Node) {
	if len(l.enumAdded) == 0 {
		return
	}
	switch n.Node.(type) {
	case *pg_query.Node_AlterEnumStmt, *pg_query.Node_CreateEnumStmt:
		return
	}
	types := map[string]bool{}
	var consts []string
	pgsql.Walk(n.ProtoReflect(), func(m protoreflect.Message) {
		switch x := m.Interface().(type) {
		case *pg_query.TypeName:
			types[typeKey(x)] = true
		case *pg_query.A_Const:
			if sv := x.GetSval(); sv != nil {
				consts = append(consts, sv.Sval)
			}
		}
	})
	if len(consts) == 0 {
		return
	}
	if t := targetTable(n); t != "" {
		for _, typ := range l.columnEnum[t] {
			types[typ] = true
		}
	}
	for _, v := range consts {
		for typ, vals := range l.enumAdded {
			if !vals[v] || !types[typ] {
				continue
			}
			l.add("enum-value-same-transaction", "", fmt.Sprintf("value '%s' of %s", v, typ),
				fmt.Sprintf("add '%s' to %s in one migration and use it in a later one, applied in a later deploy or with `upshift migrate --tx each` (the default, --tx all, runs every pending migration in one transaction, as drizzle-orm does)", v, typ))
			delete(vals, v)
		}
	}
}

func (l *linter) setColumnType(table, col string, tn *pg_query.TypeName) {
	if tn == nil {
		return
	}
	if l.columnTypes[table] == nil {
		l.columnTypes[table] = map[string]*pg_query.TypeName{}
	}
	l.columnTypes[table][col] = tn
	l.setColumnEnum(table, col, typeKey(tn))
}

func (l *linter) setColumnEnum(table, col, typ string) {
	if typ == "" {
		return
	}
	if l.columnEnum[table] == nil {
		l.columnEnum[table] = map[string]string{}
	}
	l.columnEnum[table][col] = typ
}

// tableOfIndex finds the table of index idx ("schema.index"): created in
// the files, or known to the database.
func (l *linter) tableOfIndex(idx string) (string, bool) {
	if t, ok := l.indexTable[idx]; ok {
		return t, true
	}
	t, ok := l.opts.Indexes[idx]
	return t, ok
}

// large reports whether table t is large enough for schema advice to be
// a warning: with sizes, by them; without, an existing table may be.
func (l *linter) large(t string) bool {
	info := l.info(t)
	if info == nil {
		return true
	}
	return info.Rows >= LargeRows || info.Bytes >= LargeBytes
}

// finish judges foreign keys against the final state of the set: an index
// created later in the set still counts.
func (l *linter) finish() {
	for _, fk := range l.fks {
		if l.covered(fk.table, fk.cols) {
			continue
		}
		if l.suppressed(fk.f) {
			continue
		}
		l.out = append(l.out, fk.f)
	}
}

func (l *linter) covered(t string, cols []string) bool {
	ixs := l.indexes[t]
	if info := l.info(t); info != nil {
		ixs = append(ixs, info.Indexes...)
	}
	for _, ix := range ixs {
		if len(ix) >= len(cols) && slices.Equal(ix[:len(cols)], cols) {
			return true
		}
	}
	return false
}

// existing reports whether t is a table that already holds data: not
// created in this set, and (with a database) not below --min-rows.
func (l *linter) existing(t string) bool {
	if l.newTables[t] {
		return false
	}
	if info := l.info(t); info != nil && l.opts.MinRows > 0 && info.Rows >= 0 && info.Rows < l.opts.MinRows {
		return false
	}
	return true
}

func (l *linter) info(t string) *TableInfo {
	if l.opts.Tables == nil {
		return nil
	}
	return l.opts.Tables[t]
}

func (l *linter) dbNotNullChecked(t, col string) bool {
	info := l.info(t)
	return info != nil && info.NotNullChecked[col]
}

// describe names a table with its size when the database is known.
func (l *linter) describe(t string) string { return l.sized(t, t) }

// sized is what, followed by table t's size when the database is known.
func (l *linter) sized(t, what string) string {
	info := l.info(t)
	if info == nil {
		return what
	}
	rows := "row count unknown (never analyzed)"
	if info.Rows >= 0 {
		rows = "~" + humanCount(info.Rows) + " rows"
	}
	return fmt.Sprintf("%s (%s, %s)", what, rows, humanBytes(info.Bytes))
}

// finding reports rule at the current statement. msg names what the
// statement does to which object; the rule's Why says what that costs.
// fix is the rewrite built from the statement ("" leaves the rule's own).
func (l *linter) finding(rule, table, msg, fix string) Finding {
	r, _ := RuleByID(rule)
	line, col := lineCol(l.file_.Text, l.stmt.Offset)
	if fix == "" {
		fix = r.Fix
	}
	existing := l.existing(table)
	if table == "" {
		// Rules that name no single table (VACUUM FULL, REINDEX, ...)
		// are taken to be about data that exists.
		existing = !aboutNoTable[rule]
	}
	return Finding{Rule: rule, Severity: r.Severity, File: l.file_.Path, Line: line, Column: col, Table: table, Existing: existing,
		Statement: oneLine(l.stmt.Text(l.file_.Text)), Message: msg + ": " + r.Why, Fix: fix}
}

// wants reports whether findings of rule are kept (Options.Level): callers
// skip building a costly fix for a finding that would be dropped.
func (l *linter) wants(rule string) bool {
	r, _ := RuleByID(rule)
	return l.wantsAt(r.Severity)
}

func (l *linter) wantsAt(sev Severity) bool {
	return !l.quiet && (l.opts.Level == "" || sev.AtLeast(l.opts.Level))
}

func (l *linter) add(rule, table, msg, fix string) {
	r, _ := RuleByID(rule)
	l.addAt(rule, r.Severity, table, msg, fix)
}

// addAt reports rule at severity sev, which this finding's facts set
// (schema advice on a large existing table is a warning, elsewhere a note).
func (l *linter) addAt(rule string, sev Severity, table, msg, fix string) {
	if !l.wantsAt(sev) {
		return
	}
	f := l.finding(rule, table, msg, fix)
	f.Severity = sev
	if !l.suppressed(f) {
		l.out = append(l.out, f)
	}
}

// validatesConstraint: ALTER TABLE … VALIDATE CONSTRAINT, the scan a
// migration may deliberately run after a COMMIT so that it holds none of
// the transaction's locks.
func validatesConstraint(n *pg_query.Node) bool {
	at := n.GetAlterTableStmt()
	if at == nil {
		return false
	}
	for _, c := range at.Cmds {
		if cmd := c.GetAlterTableCmd(); cmd != nil && cmd.Subtype == pg_query.AlterTableType_AT_ValidateConstraint {
			return true
		}
	}
	return false
}

// aboutNoTable are the rules whose findings are about the migration, not
// about a table's data.
var aboutNoTable = map[string]bool{"parse-error": true, "transaction-control": true, "commit-before-concurrently": true, "commit-before-validate": true,
	"enum-value-same-transaction": true, "concurrently-mixed": true, "prefer-identity": true, "ignore-unknown-rule": true}

func (l *linter) suppressed(f Finding) bool {
	ids := l.suppress[f.Line-1]
	return ids[f.Rule] || ids["all"]
}

// suppressions maps a line number to the rule ids that
// "-- upshift:ignore RULE_ID[,RULE_ID] reason" on that line silences for
// the statement starting on the next line. Ids no rule has are reported
// (a typo would otherwise silence nothing, silently).
func (l *linter) suppressions(text string) map[int]map[string]bool {
	out := map[int]map[string]bool{}
	lineNo := 0
	for rest := text; rest != ""; {
		lineNo++
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if !strings.Contains(line, "upshift:ignore") {
			continue
		}
		after, ok := strings.CutPrefix(strings.TrimSpace(line), "-- upshift:ignore ")
		if !ok {
			continue
		}
		fields := strings.Fields(after)
		if len(fields) == 0 {
			continue
		}
		ids := map[string]bool{}
		for _, id := range strings.Split(fields[0], ",") {
			ids[id] = true
			if _, known := RuleByID(id); !known && id != "all" && !l.quiet {
				r, _ := RuleByID("ignore-unknown-rule")
				fix := "name one of these rules (or all): " + ruleIDs()
				if near := nearestRule(id); near != "" {
					fix = "did you mean " + near + "?\n  -- upshift:ignore " + strings.Replace(after, id, near, 1)
				}
				l.out = append(l.out, Finding{Rule: r.ID, Severity: r.Severity, File: l.file_.Path, Line: lineNo,
					Column: strings.Index(line, "--") + 1, Statement: strings.TrimSpace(line),
					Message: fmt.Sprintf("%q is no rule of upshift's: %s", id, r.Why), Fix: fix})
			}
		}
		out[lineNo] = ids
	}
	return out
}

func ruleIDs() string {
	ids := make([]string, len(Rules))
	for i, r := range Rules {
		ids[i] = r.ID
	}
	return strings.Join(ids, ", ")
}

// nearestRule is the rule id within a few edits of id, if one is.
func nearestRule(id string) string {
	best, bestD := "", 4
	for _, r := range Rules {
		if d := editDistance(strings.ToLower(id), r.ID); d < bestD {
			best, bestD = r.ID, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
