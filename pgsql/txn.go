package pgsql

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var txWords = []string{"begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare"}

// MayControlTransaction is a cheap, conservative pre-check: false means no
// statement in sql can begin, end or mark a transaction, so parsing can be
// skipped. A statement that reads or writes rows (IsDML) never does,
// whatever its strings hold.
func MayControlTransaction(sql string) bool {
	if IsDML(sql) {
		return false
	}
	lower := strings.ToLower(sql)
	for _, w := range txWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// TransactionControl names the transaction statement n is, as the server's
// command tag spells it ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT",
// "RELEASE", "ROLLBACK TO", "PREPARE TRANSACTION", ...), or "" when n is no
// such statement. END parses as COMMIT, ABORT as ROLLBACK.
func TransactionControl(n *pg_query.Node) string {
	ts := n.GetTransactionStmt()
	if ts == nil {
		return ""
	}
	switch ts.Kind {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		return "BEGIN"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		return "COMMIT"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		return "ROLLBACK"
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return "SAVEPOINT"
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		return "RELEASE"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return "ROLLBACK TO"
	case pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
		return "PREPARE TRANSACTION"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		return "COMMIT PREPARED"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return "ROLLBACK PREPARED"
	}
	return strings.TrimPrefix(ts.Kind.String(), "TRANS_STMT_")
}

// MayAddEnumValue is a cheap, conservative pre-check for EnumValueAdded.
func MayAddEnumValue(sql string) bool {
	return strings.Contains(strings.ToLower(sql), "add value")
}

// EnumValueAdded returns the type (schema-qualified when the statement
// qualifies it) and the value of ALTER TYPE ... ADD VALUE.
func EnumValueAdded(n *pg_query.Node) (typ, value string, ok bool) {
	s := n.GetAlterEnumStmt()
	if s == nil || s.NewVal == "" || s.OldVal != "" {
		return "", "", false
	}
	var names []string
	for _, p := range s.TypeName {
		names = append(names, p.GetString_().GetSval())
	}
	return strings.Join(names, "."), s.NewVal, true
}

// StringConstants lists the string literals in n (a cast's, a default's, a
// VALUES row's, a comparison's), not the bodies of functions or DO blocks,
// which the server parses only when they run.
func StringConstants(n *pg_query.Node) []string {
	var out []string
	Walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if c, ok := m.Interface().(*pg_query.A_Const); ok {
			if sv := c.GetSval(); sv != nil {
				out = append(out, sv.Sval)
			}
		}
	})
	return out
}

// Walk calls fn with m and every message below it, depth first.
func Walk(m protoreflect.Message, fn func(protoreflect.Message)) {
	if m == nil || !m.IsValid() {
		return
	}
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				Walk(l.Get(i).Message(), fn)
			}
		case fd.Message() != nil && !fd.IsMap():
			Walk(v.Message(), fn)
		}
		return true
	})
}
