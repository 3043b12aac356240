package lint

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/pgsql"
)

// tableKey is "schema.table"; unqualified names are taken to be in public,
// the schema drizzle-kit writes to.
func tableKey(rv *pg_query.RangeVar) string {
	if rv == nil {
		return ""
	}
	schema := rv.Schemaname
	if schema == "" {
		schema = "public"
	}
	return schema + "." + rv.Relname
}

func rangeVarName(rv *pg_query.RangeVar) string {
	if rv == nil {
		return "parent"
	}
	return tableKey(rv)
}

// nameList turns a List of String nodes (a qualified name) into a key.
func nameList(n *pg_query.Node) string {
	var parts []string
	if l := n.GetList(); l != nil {
		parts = strs(l.Items)
	}
	if len(parts) == 1 {
		return "public." + parts[0]
	}
	return strings.Join(parts, ".")
}

func strs(nodes []*pg_query.Node) []string {
	var out []string
	for _, n := range nodes {
		if s := n.GetString_(); s != nil {
			out = append(out, s.Sval)
		}
	}
	return out
}

func isSerial(cd *pg_query.ColumnDef) bool {
	if cd.TypeName == nil {
		return false
	}
	names := strs(cd.TypeName.Names)
	if len(names) == 0 {
		return false
	}
	switch names[len(names)-1] {
	case "serial", "bigserial", "smallserial", "serial4", "serial8", "serial2":
		return true
	}
	return false
}

// volatileFuncs are the volatile functions drizzle schemas use as defaults.
// now(), current_timestamp and constants are stable: instant since PG 11.
var volatileFuncs = map[string]bool{
	"random": true, "gen_random_uuid": true, "uuid_generate_v1": true, "uuid_generate_v1mc": true,
	"uuid_generate_v4": true, "clock_timestamp": true, "timeofday": true, "nextval": true,
	"random_normal": true, "uuidv4": true, "uuidv7": true, "txid_current": true,
}

// volatileCall returns the name of a volatile function called anywhere in
// the expression.
func volatileCall(expr *pg_query.Node) string {
	if expr == nil {
		return ""
	}
	found := ""
	pgsql.Walk(expr.ProtoReflect(), func(m protoreflect.Message) {
		if fc, ok := m.Interface().(*pg_query.FuncCall); ok && found == "" {
			names := strs(fc.Funcname)
			if len(names) > 0 && volatileFuncs[names[len(names)-1]] {
				found = names[len(names)-1]
			}
		}
	})
	return found
}

// isNotNullCheck returns col for an expression "col IS NOT NULL".
func isNotNullCheck(expr *pg_query.Node) string {
	nt := expr.GetNullTest()
	if nt == nil || nt.Nulltesttype != pg_query.NullTestType_IS_NOT_NULL {
		return ""
	}
	if cr := nt.Arg.GetColumnRef(); cr != nil {
		if names := strs(cr.Fields); len(names) > 0 {
			return names[len(names)-1]
		}
	}
	return ""
}

func orName(name, fallback string) string {
	if name != "" {
		return fmt.Sprintf("%q", name)
	}
	return fallback
}

func lineCol(text string, off int) (int, int) { return drizzle.LineCol(text, off) }

func oneLine(s string) string {
	if len(s) > 4096 { // a data migration's statement can be megabytes
		s = s[:4096]
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func humanCount(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func humanBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(b)/float64(div), "kMGTPE"[exp])
}

type protoMessage = protoreflect.Message

// firstTable is the first table a statement names.
func firstTable(n *pg_query.Node) string {
	found := ""
	pgsql.Walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if rv, ok := m.Interface().(*pg_query.RangeVar); ok && found == "" {
			found = tableKey(rv)
		}
	})
	if found == "" {
		return "a table"
	}
	return found
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// dropNames lists the objects of a DROP.
func dropNames(ds *pg_query.DropStmt) string {
	var names []string
	for _, o := range ds.Objects {
		names = append(names, nameList(o))
	}
	return strings.Join(names, ", ")
}

func relList(nodes []*pg_query.Node) string {
	var names []string
	for _, n := range nodes {
		if rv := n.GetRangeVar(); rv != nil {
			names = append(names, tableKey(rv))
		}
	}
	return strings.Join(names, ", ")
}

func reindexTarget(rs *pg_query.ReindexStmt) string {
	kind := strings.ToLower(strings.TrimPrefix(rs.Kind.String(), "REINDEX_OBJECT_"))
	if rs.Relation != nil {
		return kind + " " + tableKey(rs.Relation)
	}
	return kind + " " + rs.Name
}

func vacuumTargets(vs *pg_query.VacuumStmt) string {
	var names []string
	for _, r := range vs.Rels {
		if vr := r.GetVacuumRelation(); vr != nil && vr.Relation != nil {
			names = append(names, tableKey(vr.Relation))
		}
	}
	if len(names) == 0 {
		return " of every table"
	}
	return " " + strings.Join(names, ", ")
}

// qualified is a possibly qualified name as "schema.name" (public when
// unqualified, as drizzle-kit writes).
func qualified(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "public." + names[0]
	}
	return strings.Join(names[len(names)-2:], ".")
}

// typeKey is a type's name as "schema.type".
func typeKey(tn *pg_query.TypeName) string {
	if tn == nil {
		return ""
	}
	return qualified(strs(tn.Names))
}

func schemaOf(table string) string {
	schema, _, _ := strings.Cut(table, ".")
	return schema
}

// targetTable is the table a statement writes or alters, if it names one.
func targetTable(n *pg_query.Node) string {
	switch s := n.Node.(type) {
	case *pg_query.Node_UpdateStmt:
		return tableKey(s.UpdateStmt.Relation)
	case *pg_query.Node_InsertStmt:
		return tableKey(s.InsertStmt.Relation)
	case *pg_query.Node_DeleteStmt:
		return tableKey(s.DeleteStmt.Relation)
	case *pg_query.Node_MergeStmt:
		return tableKey(s.MergeStmt.Relation)
	case *pg_query.Node_AlterTableStmt:
		return tableKey(s.AlterTableStmt.Relation)
	}
	return ""
}

// noRewrite reports whether changing a column of type old to the column
// definition cd keeps every row as it is: varchar(n) to text, to varchar
// without a length, or to a longer varchar, without USING or a new
// collation (which rebuild indexes). PostgreSQL then only takes a brief
// ACCESS EXCLUSIVE lock. An unknown old type is taken to rewrite.
func noRewrite(old *pg_query.TypeName, cd *pg_query.ColumnDef) bool {
	if old == nil || cd == nil || cd.TypeName == nil || cd.RawDefault != nil || cd.CollClause != nil || len(old.ArrayBounds) > 0 || len(cd.TypeName.ArrayBounds) > 0 {
		return false
	}
	base := func(tn *pg_query.TypeName) string {
		names := strs(tn.Names)
		if len(names) == 0 {
			return ""
		}
		return names[len(names)-1]
	}
	length := func(tn *pg_query.TypeName) int64 {
		if len(tn.Typmods) != 1 {
			return -1 // none: unbounded
		}
		if c := tn.Typmods[0].GetAConst(); c != nil && c.GetIval() != nil {
			return int64(c.GetIval().Ival)
		}
		return -2 // not a plain number
	}
	if base(old) != "varchar" {
		return false
	}
	switch base(cd.TypeName) {
	case "text":
		return len(cd.TypeName.Typmods) == 0
	case "varchar":
		from, to := length(old), length(cd.TypeName)
		return to == -1 || from >= 0 && to >= from
	}
	return false
}
