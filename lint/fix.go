package lint

import (
	"fmt"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/upshift-dev/upshift/pgsql"
)

// Fixes are built from the statement that was found: its own table,
// columns, index and constraint names, deparsed by PostgreSQL's own
// deparser so that the rewrite can be pasted as it stands. Prose is left
// for the steps that belong to the application or to a later release.

// batch is how a backfill is written without knowing the table's key:
// ctid works on every table. Run it until it updates no row.
const batch = 10000

// treeVersion is the parse tree version the deparser expects: the one the
// parser writes.
var treeVersion = sync.OnceValue(func() int32 {
	tree, err := pgsql.ParseTree("SELECT")
	if err != nil {
		return 0
	}
	return tree.Version
})

func deparse(n *pg_query.Node) string {
	s, err := pgsql.Deparse(&pg_query.ParseResult{Version: treeVersion(), Stmts: []*pg_query.RawStmt{{Stmt: n}}})
	if err != nil {
		return ""
	}
	return s + ";"
}

// deparseExpr deparses an expression through a SELECT of it.
func deparseExpr(e *pg_query.Node) string {
	sel := &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
		TargetList: []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: e}}}},
	}}}
	s := strings.TrimSuffix(deparse(sel), ";")
	return strings.TrimPrefix(s, "SELECT ")
}

func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }

// identCache keeps ident's answers: a set names the same tables and
// columns over and over, and each answer costs a trip through the
// deparser.
var identCache sync.Map

// ident quotes a name the way the deparser would: only when it must.
func ident(name string) string {
	if q, ok := identCache.Load(name); ok {
		return q.(string)
	}
	q := quoteIdent(name)
	identCache.Store(name, q)
	return q
}

func quoteIdent(name string) string {
	rv := &pg_query.RangeVar{Relname: name, Inh: true, Relpersistence: "p"}
	n := &pg_query.Node{Node: &pg_query.Node_TruncateStmt{TruncateStmt: &pg_query.TruncateStmt{
		Relations: []*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: rv}}}, Behavior: pg_query.DropBehavior_DROP_RESTRICT}}}
	s := strings.TrimSuffix(strings.TrimPrefix(deparse(n), "TRUNCATE "), ";")
	if s == "" {
		return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
	}
	return s
}

// rel names a table as the statement did (schema only if it gave one).
func rel(rv *pg_query.RangeVar) string {
	if rv == nil {
		return ""
	}
	if rv.Schemaname != "" {
		return ident(rv.Schemaname) + "." + ident(rv.Relname)
	}
	return ident(rv.Relname)
}

// objName builds a name PostgreSQL-style (table_cols_suffix), within the
// 63 bytes an identifier may have.
func objName(table string, cols []string, suffix string) string {
	n := table
	if len(cols) > 0 {
		n += "_" + strings.Join(cols, "_")
	}
	n += "_" + suffix
	if len(n) > 63 {
		n = n[:63-len(suffix)-1] + "_" + suffix
	}
	return n
}

func idents(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = ident(c)
	}
	return strings.Join(q, ", ")
}

func alterNode(at *pg_query.AlterTableStmt) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_AlterTableStmt{AlterTableStmt: at}}
}

// alterOne is an ALTER TABLE of rv with just this command.
func alterOne(rv *pg_query.RangeVar, cmd *pg_query.AlterTableCmd) string {
	return deparse(alterNode(&pg_query.AlterTableStmt{Relation: rv, Objtype: pg_query.ObjectType_OBJECT_TABLE,
		Cmds: []*pg_query.Node{{Node: &pg_query.Node_AlterTableCmd{AlterTableCmd: cmd}}}}))
}

func backfill(rv *pg_query.RangeVar, col, value string) string {
	t := rel(rv)
	return fmt.Sprintf("UPDATE %s SET %s = %s WHERE ctid IN (SELECT ctid FROM %s WHERE %s IS NULL LIMIT %d);",
		t, ident(col), value, t, ident(col), batch)
}

func indent(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		b.WriteString("\n  ")
		b.WriteString(l)
	}
	return b.String()
}

// columnWithout is cd without the constraints drop says to leave out.
func columnWithout(cd *pg_query.ColumnDef, drop func(*pg_query.Constraint) bool) *pg_query.ColumnDef {
	c := clone(cd)
	var keep []*pg_query.Node
	for _, n := range c.Constraints {
		if con := n.GetConstraint(); con != nil && drop(con) {
			continue
		}
		keep = append(keep, n)
	}
	c.Constraints = keep
	return c
}

func addColumn(rv *pg_query.RangeVar, cd *pg_query.ColumnDef) string {
	return alterOne(rv, &pg_query.AlterTableCmd{Subtype: pg_query.AlterTableType_AT_AddColumn,
		Def: &pg_query.Node{Node: &pg_query.Node_ColumnDef{ColumnDef: cd}}, Behavior: pg_query.DropBehavior_DROP_RESTRICT})
}

func addConstraint(rv *pg_query.RangeVar, con *pg_query.Constraint) string {
	return alterOne(rv, &pg_query.AlterTableCmd{Subtype: pg_query.AlterTableType_AT_AddConstraint,
		Def: &pg_query.Node{Node: &pg_query.Node_Constraint{Constraint: con}}, Behavior: pg_query.DropBehavior_DROP_RESTRICT})
}

func isNotNull(con *pg_query.Constraint) bool {
	return con.Contype == pg_query.ConstrType_CONSTR_NOTNULL
}

// stagedNotNull is the three-step way to make col NOT NULL without a scan
// under ACCESS EXCLUSIVE.
func stagedNotNull(rv *pg_query.RangeVar, col string) []string {
	t, c := rel(rv), ident(col)
	name := ident(objName(rv.Relname, []string{col}, "not_null"))
	return []string{
		fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID;", t, name, c),
		fmt.Sprintf("-- next migration (writes go on while it scans): ALTER TABLE %s VALIDATE CONSTRAINT %s;", t, name),
		fmt.Sprintf("-- the migration after: ALTER TABLE %s ALTER COLUMN %s SET NOT NULL; ALTER TABLE %s DROP CONSTRAINT %s;", t, c, t, name),
	}
}

func fixCreateIndex(is *pg_query.IndexStmt) string {
	c := clone(is)
	c.Concurrent = true
	return "build it concurrently, in a migration of its own (upshift runs it outside a transaction):" +
		indent(deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: c}}))
}

func fixIndexIfNotExists(is *pg_query.IndexStmt) string {
	c := clone(is)
	c.IfNotExists = false
	name := ident(is.Idxname)
	if is.Relation != nil && is.Relation.Schemaname != "" {
		name = ident(is.Relation.Schemaname) + "." + name
	}
	return "drop a leftover of a failed build first, then build it, each in a migration of its own:" +
		indent("DROP INDEX CONCURRENTLY IF EXISTS "+name+";", deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: c}}))
}

func fixDropIndex(ds *pg_query.DropStmt) string {
	var lines []string
	for _, o := range ds.Objects {
		c := clone(ds)
		c.Objects = []*pg_query.Node{o}
		c.Concurrent, c.MissingOk = true, true
		c.Behavior = pg_query.DropBehavior_DROP_RESTRICT
		lines = append(lines, deparse(&pg_query.Node{Node: &pg_query.Node_DropStmt{DropStmt: c}}))
	}
	return "drop it concurrently, in a migration of its own (one index per statement):" + indent(lines...)
}

func fixReindex(rs *pg_query.ReindexStmt) string {
	c := clone(rs)
	c.Params = append(c.Params, &pg_query.Node{Node: &pg_query.Node_DefElem{DefElem: &pg_query.DefElem{Defname: "concurrently"}}})
	return "rebuild it concurrently, in a migration of its own:" + indent(deparse(&pg_query.Node{Node: &pg_query.Node_ReindexStmt{ReindexStmt: c}}))
}

func fixSetNotNull(rv *pg_query.RangeVar, col string) string {
	return "stage it over three migrations:" + indent(stagedNotNull(rv, col)...)
}

func fkIndex(rv *pg_query.RangeVar, cols []string) string {
	return fmt.Sprintf("CREATE INDEX CONCURRENTLY %s ON %s (%s);  -- in a migration of its own",
		ident(objName(rv.Relname, cols, "idx")), rel(rv), idents(cols))
}

func fixFKIndex(rv *pg_query.RangeVar, cols []string) string {
	if rv == nil || len(cols) == 0 {
		return ""
	}
	return "index the referencing columns:" + indent(fkIndex(rv, cols))
}

func fixCascade(rv *pg_query.RangeVar, cols []string, parent *pg_query.RangeVar, action string) string {
	if rv == nil || len(cols) == 0 {
		return ""
	}
	t := rel(rv)
	var where []string
	for i, c := range cols {
		where = append(where, fmt.Sprintf("%s = $%d", ident(c), i+1))
	}
	w := strings.Join(where, " AND ")
	job := fmt.Sprintf("DELETE FROM %s WHERE ctid IN (SELECT ctid FROM %s WHERE %s LIMIT 1000);", t, t, w)
	if action != "CASCADE" {
		var sets []string
		for _, c := range cols {
			sets = append(sets, ident(c)+" = "+map[bool]string{true: "NULL", false: "DEFAULT"}[action == "SET NULL"])
		}
		job = fmt.Sprintf("UPDATE %s SET %s WHERE ctid IN (SELECT ctid FROM %s WHERE %s LIMIT 1000);", t, strings.Join(sets, ", "), t, w)
	}
	return fmt.Sprintf("index the referencing columns, and let the application clear the dependents in batches before it deletes a %s row:", rel(parent)) +
		indent(fkIndex(rv, cols), "-- application, repeated until no row is left: "+job)
}

// fixNotValid rewrites an ADD CONSTRAINT (or an inline column constraint)
// as ADD ... NOT VALID, with the VALIDATE for the next migration.
func fixNotValid(rv *pg_query.RangeVar, con *pg_query.Constraint, cols []string, column *pg_query.ColumnDef) string {
	c := clone(con)
	if c.Contype == pg_query.ConstrType_CONSTR_FOREIGN && len(c.FkAttrs) == 0 && len(cols) > 0 {
		for _, col := range cols {
			c.FkAttrs = append(c.FkAttrs, &pg_query.Node{Node: &pg_query.Node_String_{String_: &pg_query.String{Sval: col}}})
		}
	}
	if c.Conname == "" {
		suffix := "check"
		if c.Contype == pg_query.ConstrType_CONSTR_FOREIGN {
			suffix = "fkey"
			cols = strs(c.FkAttrs)
		}
		c.Conname = objName(rv.Relname, cols, suffix)
	}
	c.SkipValidation, c.InitiallyValid = true, false
	var lines []string
	if column != nil {
		lines = append(lines, addColumn(rv, columnWithout(column, func(x *pg_query.Constraint) bool { return proto.Equal(x, con) })))
	}
	lines = append(lines, addConstraint(rv, c),
		fmt.Sprintf("-- next migration (writes go on while it scans): ALTER TABLE %s VALIDATE CONSTRAINT %s;", rel(rv), ident(c.Conname)))
	return "add it NOT VALID, and validate it in the next migration:" + indent(lines...)
}

func fixValidateLater(rv *pg_query.RangeVar, name, added string) string {
	return "keep the NOT VALID constraint here and move the VALIDATE to the next migration:" + indent(added,
		fmt.Sprintf("-- next migration (writes go on while it scans): ALTER TABLE %s VALIDATE CONSTRAINT %s;", rel(rv), ident(name)))
}

// fixVolatileDefault: add the column plain, give new rows the default,
// backfill old rows in batches.
func fixVolatileDefault(rv *pg_query.RangeVar, cd *pg_query.ColumnDef, def *pg_query.Node) string {
	plain := columnWithout(cd, func(c *pg_query.Constraint) bool {
		return c.Contype == pg_query.ConstrType_CONSTR_DEFAULT || isNotNull(c) || c.Contype == pg_query.ConstrType_CONSTR_IDENTITY
	})
	value := deparseExpr(def)
	lines := []string{addColumn(rv, plain),
		fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s;", rel(rv), ident(cd.Colname), value),
		"-- then in batches, repeated until it updates no row: " + backfill(rv, cd.Colname, value)}
	if hasNotNull(cd) {
		lines = append(lines, "-- and once filled, stage NOT NULL: "+stagedNotNull(rv, cd.Colname)[0])
	}
	return "add the column without a default, set the default for new rows, backfill the others in batches:" + indent(lines...)
}

// fixSequenceColumn does the same for serial and identity columns, with a
// sequence of the column's own.
func fixSequenceColumn(rv *pg_query.RangeVar, cd *pg_query.ColumnDef) string {
	typ := "integer"
	if names := strs(cd.TypeName.GetNames()); len(names) > 0 {
		switch names[len(names)-1] {
		case "bigserial", "serial8", "int8", "bigint":
			typ = "bigint"
		case "smallserial", "serial2", "int2", "smallint":
			typ = "smallint"
		}
	}
	plain := columnWithout(cd, func(c *pg_query.Constraint) bool {
		return c.Contype == pg_query.ConstrType_CONSTR_IDENTITY || c.Contype == pg_query.ConstrType_CONSTR_DEFAULT || isNotNull(c)
	})
	plain.TypeName = intType(typ)
	seq := ident(objName(rv.Relname, []string{cd.Colname}, "seq"))
	if rv.Schemaname != "" {
		seq = ident(rv.Schemaname) + "." + seq
	}
	next := fmt.Sprintf("nextval('%s')", strings.ReplaceAll(seq, "'", "''"))
	lines := []string{
		fmt.Sprintf("CREATE SEQUENCE %s AS %s;", seq, typ),
		addColumn(rv, plain),
		fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s;", rel(rv), ident(cd.Colname), next),
		fmt.Sprintf("ALTER SEQUENCE %s OWNED BY %s.%s;", seq, rel(rv), ident(cd.Colname)),
		"-- then in batches, repeated until it updates no row: " + backfill(rv, cd.Colname, next),
	}
	return "add a plain column fed by a sequence of its own, and number the existing rows in batches:" + indent(lines...)
}

// intType is the TypeName the parser makes of integer, bigint, smallint.
func intType(name string) *pg_query.TypeName {
	internal := map[string]string{"integer": "int4", "bigint": "int8", "smallint": "int2"}[name]
	return &pg_query.TypeName{Names: []*pg_query.Node{
		{Node: &pg_query.Node_String_{String_: &pg_query.String{Sval: "pg_catalog"}}},
		{Node: &pg_query.Node_String_{String_: &pg_query.String{Sval: internal}}},
	}, Typemod: -1}
}

func hasNotNull(cd *pg_query.ColumnDef) bool {
	for _, n := range cd.Constraints {
		if con := n.GetConstraint(); con != nil && isNotNull(con) {
			return true
		}
	}
	return false
}

// fixGenerated replaces a stored generated column by a plain one that a
// trigger keeps filled, and a batched backfill.
func fixGenerated(rv *pg_query.RangeVar, cd *pg_query.ColumnDef, gen *pg_query.Constraint) string {
	plain := columnWithout(cd, func(c *pg_query.Constraint) bool {
		return c.Contype == pg_query.ConstrType_CONSTR_GENERATED || isNotNull(c)
	})
	expr := deparseExpr(gen.RawExpr)
	// In the trigger, the row's columns are NEW's.
	withNew := clone(gen.RawExpr)
	pgsql.Walk(withNew.ProtoReflect(), func(m protoMessage) {
		if cr, ok := m.Interface().(*pg_query.ColumnRef); ok && len(cr.Fields) == 1 {
			cr.Fields = append([]*pg_query.Node{{Node: &pg_query.Node_String_{String_: &pg_query.String{Sval: "new"}}}}, cr.Fields...)
		}
	})
	fn := objName(rv.Relname, []string{cd.Colname}, "fill")
	qfn := ident(fn)
	if rv.Schemaname != "" {
		qfn = ident(rv.Schemaname) + "." + qfn
	}
	lines := []string{
		addColumn(rv, plain),
		fmt.Sprintf("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.%s := %s; RETURN NEW; END $$;", qfn, ident(cd.Colname), deparseExpr(withNew)),
		fmt.Sprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s();", ident(fn), rel(rv), qfn),
		"-- then in batches, repeated until it updates no row: " + backfill(rv, cd.Colname, expr),
	}
	return "add a plain column that a trigger keeps filled, and backfill the existing rows in batches:" + indent(lines...)
}

func fixTypeChange(rv *pg_query.RangeVar, col string, cd *pg_query.ColumnDef) string {
	newCol := col + "_new"
	plain := &pg_query.ColumnDef{Colname: newCol, TypeName: cd.GetTypeName(), IsLocal: true}
	value := fmt.Sprintf("%s::%s", ident(col), typeText(cd.GetTypeName()))
	if cd.GetRawDefault() != nil { // ALTER ... TYPE ... USING expr
		value = deparseExpr(cd.RawDefault)
	}
	t := rel(rv)
	return "add a column of the new type and move over in steps:" + indent(
		addColumn(rv, plain),
		fmt.Sprintf("-- the application writes both %s and %s; backfill in batches, repeated until it updates no row:", ident(col), ident(newCol)),
		fmt.Sprintf("UPDATE %s SET %s = %s WHERE ctid IN (SELECT ctid FROM %s WHERE %s IS NULL AND %s IS NOT NULL LIMIT %d);", t, ident(newCol), value, t, ident(newCol), ident(col), batch),
		fmt.Sprintf("-- then switch reads to %s, and drop %s in a later release", ident(newCol), ident(col)))
}

func typeText(tn *pg_query.TypeName) string {
	if tn == nil {
		return "?"
	}
	s := strings.TrimSuffix(addColumn(&pg_query.RangeVar{Relname: "x", Inh: true, Relpersistence: "p"},
		&pg_query.ColumnDef{Colname: "y", TypeName: tn, IsLocal: true}), ";")
	_, after, ok := strings.Cut(s, " ADD COLUMN y ")
	if !ok {
		return "?"
	}
	return after
}

func fixRenameColumn(rv *pg_query.RangeVar, from, to string) string {
	t := rel(rv)
	return fmt.Sprintf("keep %s while the running release uses it: add %s, have the application write both, backfill %s from %s in batches, switch reads to %s, and drop %s in a later release:",
		ident(from), ident(to), ident(to), ident(from), ident(to), ident(from)) +
		indent(fmt.Sprintf("-- ALTER TABLE %s ADD COLUMN %s <the type of %s>;", t, ident(to), ident(from)),
			fmt.Sprintf("-- UPDATE %s SET %s = %s WHERE ctid IN (SELECT ctid FROM %s WHERE %s IS NULL AND %s IS NOT NULL LIMIT %d);", t, ident(to), ident(from), t, ident(to), ident(from), batch))
}

func fixRenameTable(rv *pg_query.RangeVar, to string) string {
	old := rel(rv)
	newRV := clone(rv)
	newRV.Relname = to
	return "leave a view under the old name, so the running release keeps reading and writing through it (a view over one table is updatable), and drop it in the next release:" +
		indent(fmt.Sprintf("-- upshift:ignore rename-table %s stays as a view", old),
			fmt.Sprintf("ALTER TABLE %s RENAME TO %s;", old, ident(to)),
			fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM %s;", old, rel(newRV)),
			fmt.Sprintf("-- next release: DROP VIEW %s;", old))
}

func fixDropColumn(rv *pg_query.RangeVar, col string) string {
	return fmt.Sprintf("release code that no longer reads or writes %s first; drop it in a later migration, saying so:", ident(col)) +
		indent(fmt.Sprintf("-- upshift:ignore drop-column no release uses %s.%s any more", rv.Relname, col),
			fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s;", rel(rv), ident(col)))
}

func fixDropTable(table string, stmt string) string {
	return fmt.Sprintf("release code that no longer uses %s first; drop it in a later migration, saying so:", table) +
		indent(fmt.Sprintf("-- upshift:ignore drop-table no release uses %s any more", table), stmt)
}

func fixUnique(rv *pg_query.RangeVar, con *pg_query.Constraint, cols []string, column *pg_query.ColumnDef) string {
	keys := strs(con.Keys)
	if len(keys) == 0 {
		keys = cols
	}
	name := con.Conname
	kind := "UNIQUE"
	if con.Contype == pg_query.ConstrType_CONSTR_PRIMARY {
		kind = "PRIMARY KEY"
		if name == "" {
			name = objName(rv.Relname, nil, "pkey")
		}
	} else if name == "" {
		name = objName(rv.Relname, keys, "key")
	}
	var lines []string
	if column != nil {
		lines = append(lines, addColumn(rv, columnWithout(column, func(x *pg_query.Constraint) bool { return proto.Equal(x, con) })))
	}
	lines = append(lines,
		fmt.Sprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s);  -- in a migration of its own", ident(name), rel(rv), idents(keys)),
		fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s;  -- next migration", rel(rv), ident(name), kind, ident(name)))
	return "build the unique index concurrently, then attach it:" + indent(lines...)
}

// constantDefault is a constant of the column's type, where one is
// obvious; "" when it is not.
func constantDefault(tn *pg_query.TypeName) string {
	names := strs(tn.GetNames())
	if len(names) == 0 || len(tn.ArrayBounds) > 0 {
		return ""
	}
	switch names[len(names)-1] {
	case "text", "varchar", "bpchar", "citext":
		return "''"
	case "int2", "int4", "int8", "integer", "smallint", "bigint", "numeric", "float4", "float8", "real":
		return "0"
	case "bool", "boolean":
		return "false"
	case "jsonb", "json":
		return "'{}'"
	case "timestamp", "timestamptz", "date":
		return "now()"
	}
	return ""
}

func fixNotNullNoDefault(rv *pg_query.RangeVar, cd *pg_query.ColumnDef) string {
	if v := constantDefault(cd.TypeName); v != "" {
		c := clone(cd)
		c.Constraints = append(c.Constraints, &pg_query.Node{Node: &pg_query.Node_Constraint{Constraint: &pg_query.Constraint{
			Contype: pg_query.ConstrType_CONSTR_DEFAULT, RawExpr: mustExpr(v)}}})
		return "give it a constant default (adding it is instant), or add it nullable, backfill, and stage NOT NULL:" + indent(addColumn(rv, c))
	}
	plain := columnWithout(cd, isNotNull)
	return "add it nullable, backfill it in batches with the value old rows should have, and stage NOT NULL over the next migrations:" +
		indent(append([]string{addColumn(rv, plain), "-- repeated until it updates no row: " + backfill(rv, cd.Colname, "$1")}, stagedNotNull(rv, cd.Colname)...)...)
}

func mustExpr(sql string) *pg_query.Node {
	tree, err := pgsql.ParseTree("SELECT " + sql)
	if err != nil {
		return nil
	}
	return tree.Stmts[0].Stmt.GetSelectStmt().TargetList[0].GetResTarget().Val
}

func fixTruncate(ts *pg_query.TruncateStmt) string {
	c := clone(ts)
	c.Behavior = pg_query.DropBehavior_DROP_RESTRICT
	return "name every table to empty; PostgreSQL refuses while a table you did not name still references one:" +
		indent(deparse(&pg_query.Node{Node: &pg_query.Node_TruncateStmt{TruncateStmt: c}}))
}

func fixVacuumFull(vs *pg_query.VacuumStmt) string {
	c := clone(vs)
	var keep []*pg_query.Node
	for _, o := range c.Options {
		if d := o.GetDefElem(); d != nil && strings.EqualFold(d.Defname, "full") {
			continue
		}
		keep = append(keep, o)
	}
	c.Options = keep
	var tables []string
	for _, r := range vs.Rels {
		if vr := r.GetVacuumRelation(); vr != nil && vr.Relation != nil {
			tables = append(tables, "--table="+rel(vr.Relation))
		}
	}
	out := "use plain VACUUM, which takes no lock that blocks reads or writes:" + indent(deparse(&pg_query.Node{Node: &pg_query.Node_VacuumStmt{VacuumStmt: c}}))
	if len(tables) > 0 {
		out += indent("-- to give space back to the operating system, run outside the migration: pg_repack " + strings.Join(tables, " "))
	}
	return out
}

func fixCluster(cs *pg_query.ClusterStmt) string {
	if cs.Relation == nil {
		return ""
	}
	return "reorder the table outside the migration with pg_repack, which holds its strong lock only for a moment:" +
		indent("pg_repack --table="+rel(cs.Relation)+" --order-by="+orderBy(cs.Indexname))
}

func orderBy(index string) string {
	if index == "" {
		return "<the columns of its clustered index>"
	}
	return "<the columns of " + ident(index) + ">"
}

func fixIdentity(stmt *pg_query.Node, cd *pg_query.ColumnDef) string {
	typ := "integer"
	if names := strs(cd.TypeName.GetNames()); len(names) > 0 {
		switch names[len(names)-1] {
		case "bigserial", "serial8":
			typ = "bigint"
		case "smallserial", "serial2":
			typ = "smallint"
		}
	}
	c := clone(stmt)
	pgsql.Walk(c.ProtoReflect(), func(m protoMessage) {
		d, ok := m.Interface().(*pg_query.ColumnDef)
		if !ok || d.Colname != cd.Colname || !isSerial(d) {
			return
		}
		d.TypeName = intType(typ)
		d.Constraints = append([]*pg_query.Node{{Node: &pg_query.Node_Constraint{Constraint: &pg_query.Constraint{
			Contype: pg_query.ConstrType_CONSTR_IDENTITY, GeneratedWhen: "a"}}}}, d.Constraints...)
	})
	return fmt.Sprintf("declare %s an identity column (in a drizzle schema: %s().generatedAlwaysAsIdentity()):", ident(cd.Colname), typ) + indent(deparse(c))
}

func fixLockTimeout(table string) string {
	return fmt.Sprintf("make the migration's first statement give up rather than queue everyone behind it while %s is busy:", table) +
		indent("SET lock_timeout = '5s';", "-- or for every migration: upshift migrate --lock-timeout 5s")
}
