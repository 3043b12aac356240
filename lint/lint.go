// Package lint finds migration statements that lock or rewrite busy tables,
// using PostgreSQL's own parser (pg_query_go), and says how to write them
// safely.
package lint

import (
	"fmt"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/upshift-dev/upshift/pgsql"
)

// File is one migration (or plain .sql file), linted as a unit.
type File struct {
	Path string
	Text string
}

// TableInfo is what the database says about an existing table.
type TableInfo struct {
	Rows  float64 // pg_class.reltuples (-1: never analyzed)
	Bytes int64   // pg_total_relation_size
	// Indexed lists, for each index, its columns in order.
	Indexes [][]string
	// NotNullChecked holds columns with a validated CHECK (col IS NOT NULL).
	NotNullChecked map[string]bool
}

// Options give the linter the database's view, when it has one.
type Options struct {
	// Tables maps "schema.table" to what the database knows of it; nil
	// when linting without a database.
	Tables map[string]*TableInfo
	// MinRows lets tables the database reports smaller than this pass the
	// rules about existing tables.
	MinRows float64
}

// Finding is one problem, located in its file.
type Finding struct {
	Rule      string   `json:"rule"`
	Severity  Severity `json:"severity"`
	File      string   `json:"file"`
	Line      int      `json:"line"`
	Column    int      `json:"column"`
	Statement string   `json:"statement"`
	Message   string   `json:"message"`
	Fix       string   `json:"fix"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s %s: %s", f.File, f.Line, f.Column, f.Severity, f.Rule, f.Message)
}

// Lint checks files in order. A table created in an earlier statement of
// the set is new: indexes, constraints and NOT NULL columns on it are fine.
func Lint(files []File, opts Options) []Finding {
	l := &linter{opts: opts, newTables: map[string]bool{}, indexes: map[string][][]string{}, checks: map[string]checkDef{}, notNullOK: map[string]bool{}}
	for _, f := range files {
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
	enumVals  map[string]string     // value -> type, added in this set
	fks       []pendingFK
	out       []Finding

	// per file
	file_       File
	stmt        pgsql.Stmt
	suppress    map[int]map[string]bool
	notValidNow map[string]bool // constraints added NOT VALID in this file
}

func (l *linter) file(f File) {
	l.file_ = f
	l.suppress = suppressions(f.Text)
	l.notValidNow = map[string]bool{}
	sts, err := pgsql.Parse(f.Text)
	if err != nil {
		pe, _ := err.(*pgsql.ParseError)
		off := 0
		if pe != nil && pe.Offset >= 0 {
			off = pe.Offset
		}
		line, col := lineCol(f.Text, off)
		l.out = append(l.out, Finding{Rule: "parse-error", Severity: Error, File: f.Path, Line: line, Column: col, Message: err.Error(), Fix: "fix the syntax"})
		return
	}
	var noTx, tx int
	var risky *pgsql.Stmt
	hasLockTimeout := false
	for i := range sts {
		l.stmt = sts[i]
		n := sts[i].Node
		if pgsql.NoTransaction(n) != "" {
			noTx++
		} else if n.GetVariableSetStmt() == nil {
			tx++
		}
		if vs := n.GetVariableSetStmt(); vs != nil && vs.Name == "lock_timeout" {
			hasLockTimeout = true
		}
		if l.statement(n) && risky == nil {
			risky = &sts[i]
		}
	}
	if noTx > 0 && tx > 0 {
		l.stmt = sts[0]
		l.add("concurrently-mixed", "", fmt.Sprintf("%d statement(s) that must run outside a transaction are mixed with %d transactional one(s)", noTx, tx))
	}
	if risky != nil && !hasLockTimeout {
		l.stmt = *risky
		l.add("missing-lock-timeout", "", "this migration takes an exclusive lock on an existing table without SET lock_timeout")
	}
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
		l.newTables[t] = true
		for _, el := range s.CreateStmt.TableElts {
			if cd := el.GetColumnDef(); cd != nil {
				l.serial(cd)
				for _, c := range cd.Constraints {
					if con := c.GetConstraint(); con != nil {
						l.tableConstraint(t, con, []string{cd.Colname}, true)
					}
				}
			}
			if con := el.GetConstraint(); con != nil {
				l.tableConstraint(t, con, nil, true)
			}
		}
	case *pg_query.Node_AlterTableStmt:
		return l.alterTable(s.AlterTableStmt)
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
		if is.Concurrent && is.IfNotExists {
			l.add("concurrently-if-not-exists", t, fmt.Sprintf("index %q: a failed build leaves an invalid index that IF NOT EXISTS then skips forever", is.Idxname))
		}
		if !is.Concurrent && l.existing(t) {
			l.add("create-index-non-concurrently", t, fmt.Sprintf("CREATE INDEX %q on %s takes a SHARE lock", is.Idxname, l.describe(t)))
			return true
		}
	case *pg_query.Node_DropStmt:
		ds := s.DropStmt
		switch ds.RemoveType {
		case pg_query.ObjectType_OBJECT_INDEX:
			if !ds.Concurrent {
				l.add("drop-index-non-concurrently", "", "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table")
			}
		case pg_query.ObjectType_OBJECT_TABLE:
			for _, o := range ds.Objects {
				t := nameList(o)
				if !l.newTables[t] {
					l.add("drop-table", t, fmt.Sprintf("dropping %s: the running release may still use it", l.describe(t)))
				}
			}
		}
	case *pg_query.Node_RenameStmt:
		rs := s.RenameStmt
		t := tableKey(rs.Relation)
		if l.newTables[t] {
			break
		}
		switch rs.RenameType {
		case pg_query.ObjectType_OBJECT_COLUMN:
			l.add("rename-column", t, fmt.Sprintf("renaming %s.%s to %s breaks the running release", t, rs.Subname, rs.Newname))
		case pg_query.ObjectType_OBJECT_TABLE:
			l.add("rename-table", t, fmt.Sprintf("renaming %s to %s breaks the running release", t, rs.Newname))
		}
	case *pg_query.Node_ReindexStmt:
		if pgsql.NoTransaction(n) != "REINDEX CONCURRENTLY" {
			l.add("reindex-non-concurrently", "", "REINDEX blocks writes (and reads using the index) for the rebuild")
		}
	case *pg_query.Node_TruncateStmt:
		if s.TruncateStmt.Behavior == pg_query.DropBehavior_DROP_CASCADE {
			l.add("truncate-cascade", "", "TRUNCATE ... CASCADE also empties every table that references these")
		}
	case *pg_query.Node_VacuumStmt:
		for _, o := range s.VacuumStmt.Options {
			if d := o.GetDefElem(); d != nil && strings.EqualFold(d.Defname, "full") {
				l.add("vacuum-full", "", "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE")
			}
		}
	case *pg_query.Node_ClusterStmt:
		l.add("cluster", "", "CLUSTER rewrites the table under ACCESS EXCLUSIVE")
	case *pg_query.Node_TransactionStmt:
		l.add("transaction-control", "", fmt.Sprintf("%s inside a migration", strings.TrimPrefix(s.TransactionStmt.Kind.String(), "TRANS_STMT_")))
	case *pg_query.Node_AlterEnumStmt:
		if s.AlterEnumStmt.NewVal != "" {
			if l.enumVals == nil {
				l.enumVals = map[string]string{}
			}
			l.enumVals[s.AlterEnumStmt.NewVal] = nameList(&pg_query.Node{Node: &pg_query.Node_List{List: &pg_query.List{Items: s.AlterEnumStmt.TypeName}}})
		}
	}
	return false
}

func (l *linter) alterTable(at *pg_query.AlterTableStmt) bool {
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
			l.serial(cd)
			risky = l.addColumn(t, cd) || risky
		case pg_query.AlterTableType_AT_AddConstraint:
			if con := cmd.Def.GetConstraint(); con != nil {
				risky = l.tableConstraint(t, con, nil, false) || risky
			}
		case pg_query.AlterTableType_AT_ValidateConstraint:
			if l.notValidNow[cmd.Name] {
				l.add("validate-same-migration", t, fmt.Sprintf("constraint %q is validated in the migration that adds it NOT VALID", cmd.Name))
			}
			if cd, ok := l.checks[cmd.Name]; ok {
				l.notNullOK[cd.table+"."+cd.column] = true
			}
		case pg_query.AlterTableType_AT_SetNotNull:
			if l.existing(t) && !l.notNullOK[t+"."+cmd.Name] && !l.dbNotNullChecked(t, cmd.Name) {
				l.add("set-not-null", t, fmt.Sprintf("SET NOT NULL on %s.%s scans %s under ACCESS EXCLUSIVE; stage a validated CHECK (%s IS NOT NULL) first", t, cmd.Name, l.describe(t), cmd.Name))
				risky = true
			}
		case pg_query.AlterTableType_AT_AlterColumnType:
			if l.existing(t) {
				l.add("column-type-change", t, fmt.Sprintf("changing the type of %s.%s rewrites %s under ACCESS EXCLUSIVE", t, cmd.Name, l.describe(t)))
				risky = true
			}
		case pg_query.AlterTableType_AT_DropColumn:
			if !l.newTables[t] {
				l.add("drop-column", t, fmt.Sprintf("dropping %s.%s: the running release may still use it", t, cmd.Name))
			}
		}
	}
	if l.existing(t) {
		risky = true // any ALTER TABLE takes a strong lock, however briefly
	}
	return risky
}

func (l *linter) addColumn(t string, cd *pg_query.ColumnDef) bool {
	if !l.existing(t) {
		for _, c := range cd.Constraints {
			if con := c.GetConstraint(); con != nil {
				l.tableConstraint(t, con, []string{cd.Colname}, true)
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
				l.add("volatile-default", t, fmt.Sprintf("column %s.%s gets DEFAULT %s(), which is volatile: %s is rewritten under ACCESS EXCLUSIVE", t, cd.Colname, fn, l.describe(t)))
				risky = true
			}
		case pg_query.ConstrType_CONSTR_GENERATED:
			l.add("generated-stored-column", t, fmt.Sprintf("stored generated column %s.%s rewrites %s under ACCESS EXCLUSIVE", t, cd.Colname, l.describe(t)))
			risky = true
			hasDefault = true
		case pg_query.ConstrType_CONSTR_IDENTITY:
			hasDefault = true
			l.add("volatile-default", t, fmt.Sprintf("identity column %s.%s is filled per row: %s is rewritten under ACCESS EXCLUSIVE", t, cd.Colname, l.describe(t)))
			risky = true
		default:
			risky = l.tableConstraint(t, con, []string{cd.Colname}, false) || risky
		}
	}
	if isSerial(cd) {
		hasDefault = true
		l.add("volatile-default", t, fmt.Sprintf("serial column %s.%s defaults to nextval(): %s is rewritten under ACCESS EXCLUSIVE", t, cd.Colname, l.describe(t)))
		risky = true
	}
	if notNull && !hasDefault {
		l.add("not-null-without-default", t, fmt.Sprintf("NOT NULL column %s.%s without a DEFAULT fails on %s if it has rows", t, cd.Colname, l.describe(t)))
	}
	return risky
}

// tableConstraint handles a constraint on table t (cols: the column it is
// declared on, if inline). created is true inside CREATE TABLE.
func (l *linter) tableConstraint(t string, con *pg_query.Constraint, cols []string, created bool) bool {
	existing := !created && l.existing(t)
	switch con.Contype {
	case pg_query.ConstrType_CONSTR_PRIMARY, pg_query.ConstrType_CONSTR_UNIQUE:
		keys := strs(con.Keys)
		if len(keys) == 0 {
			keys = cols
		}
		l.indexes[t] = append(l.indexes[t], keys)
		if existing && con.Indexname == "" {
			l.add("add-unique-constraint", t, fmt.Sprintf("%s on %s builds a unique index under ACCESS EXCLUSIVE", strings.TrimPrefix(con.Contype.String(), "CONSTR_"), l.describe(t)))
			return true
		}
	case pg_query.ConstrType_CONSTR_FOREIGN:
		fk := strs(con.FkAttrs)
		if len(fk) == 0 {
			fk = cols
		}
		if existing && !con.SkipValidation {
			l.add("constraint-missing-not-valid", t, fmt.Sprintf("foreign key %s validates every row of %s while writes wait; add it NOT VALID and VALIDATE later", orName(con.Conname, strings.Join(fk, ", ")), l.describe(t)))
		}
		if con.SkipValidation {
			l.notValidNow[con.Conname] = true
		}
		switch con.FkDelAction {
		case "c", "n", "d":
			action := map[string]string{"c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}[con.FkDelAction]
			l.add("cascade-on-dependent", t, fmt.Sprintf("ON DELETE %s: deleting a %s row touches every matching row of %s", action, rangeVarName(con.Pktable), l.describe(t)))
		}
		l.fks = append(l.fks, pendingFK{f: l.finding("fk-without-index", t, fmt.Sprintf("foreign key %s on %s (%s) has no index on the referencing columns: deletes in %s scan %s", orName(con.Conname, "?"), t, strings.Join(fk, ", "), rangeVarName(con.Pktable), l.describe(t))), table: t, cols: fk})
		return existing
	case pg_query.ConstrType_CONSTR_CHECK:
		if col := isNotNullCheck(con.RawExpr); col != "" && con.Conname != "" {
			l.checks[con.Conname] = checkDef{t, col}
			if !con.SkipValidation {
				l.notNullOK[t+"."+col] = true
			}
		}
		if existing && !con.SkipValidation {
			l.add("constraint-missing-not-valid", t, fmt.Sprintf("CHECK %s scans every row of %s under ACCESS EXCLUSIVE; add it NOT VALID and VALIDATE later", orName(con.Conname, ""), l.describe(t)))
			return true
		}
		if con.SkipValidation {
			l.notValidNow[con.Conname] = true
		}
	}
	return false
}

func (l *linter) serial(cd *pg_query.ColumnDef) {
	if isSerial(cd) {
		l.add("prefer-identity", "", fmt.Sprintf("column %s is serial; identity columns are the standard replacement", cd.Colname))
	}
}

// enumUse flags string constants equal to an enum value added earlier in
// the set.
func (l *linter) enumUse(n *pg_query.Node) {
	if len(l.enumVals) == 0 {
		return
	}
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if s, ok := m.Interface().(*pg_query.String); ok {
			if typ, hit := l.enumVals[s.Sval]; hit {
				l.add("enum-value-same-transaction", "", fmt.Sprintf("value %q of %s is used in the transaction that adds it", s.Sval, typ))
				delete(l.enumVals, s.Sval)
			}
		}
	})
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
func (l *linter) describe(t string) string {
	info := l.info(t)
	if info == nil {
		return t
	}
	rows := "row count unknown (never analyzed)"
	if info.Rows >= 0 {
		rows = "~" + humanCount(info.Rows) + " rows"
	}
	return fmt.Sprintf("%s (%s, %s)", t, rows, humanBytes(info.Bytes))
}

func (l *linter) finding(rule, table, msg string) Finding {
	r, _ := RuleByID(rule)
	line, col := lineCol(l.file_.Text, l.stmt.Offset)
	return Finding{Rule: rule, Severity: r.Severity, File: l.file_.Path, Line: line, Column: col,
		Statement: oneLine(l.stmt.Text(l.file_.Text)), Message: msg + "; " + r.Why, Fix: r.Fix}
}

func (l *linter) add(rule, table, msg string) {
	f := l.finding(rule, table, msg)
	if !l.suppressed(f) {
		l.out = append(l.out, f)
	}
}

func (l *linter) suppressed(f Finding) bool {
	ids := l.suppress[f.Line-1]
	return ids[f.Rule] || ids["all"]
}

// suppressions maps a line number to the rule ids that
// "-- upshift:ignore RULE_ID[,RULE_ID] reason" on that line silences for
// the statement starting on the next line.
func suppressions(text string) map[int]map[string]bool {
	out := map[int]map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "-- upshift:ignore ")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		ids := map[string]bool{}
		for _, id := range strings.Split(fields[0], ",") {
			ids[id] = true
		}
		out[i+1] = ids
	}
	return out
}
