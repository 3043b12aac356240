package drizzle

import (
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/pgsql"
)

// txFacts is what the parser says of a migration that bears on the
// transactions a run puts it in.
type txFacts struct {
	// control is the migration's first statement that begins, ends or
	// marks a transaction itself ("COMMIT at statement 2"), "" if none.
	control string
	// single are the statements that are sent on their own, with the
	// session's transaction state read after each: those that control a
	// transaction, and those the parser could not read that may.
	single map[int]bool
	// kinds are each statement's transaction statements, in order (the
	// server's command tag does not tell ROLLBACK TO from ROLLBACK).
	kinds map[int][]string
	// adds are the enum values the migration adds.
	adds []enumValue
}

type enumValue struct{ typ, value, by string }

func (v enumValue) String() string { return fmt.Sprintf("'%s' of %s", v.value, v.typ) }

// transactionFacts parses what it must of m, once.
func transactionFacts(m *Migration) *txFacts {
	m.txOnce.Do(func() {
		f := &txFacts{}
		for _, st := range m.Statements {
			control, add := pgsql.MayControlTransaction(st.SQL), pgsql.MayAddEnumValue(st.SQL)
			if !control && !add {
				continue
			}
			sts, err := pgsql.Parse(st.SQL)
			if err != nil {
				if control {
					// The server may read what this parser does not
					// (a newer release's syntax): watch it run.
					f.mark(st.Index, "")
				}
				continue
			}
			for _, s := range sts {
				if kind := pgsql.TransactionControl(s.Node); kind != "" {
					f.mark(st.Index, kind)
				}
				if typ, v, ok := pgsql.EnumValueAdded(s.Node); ok {
					f.adds = append(f.adds, enumValue{typ: typ, value: v})
				}
			}
		}
		m.tx = f
	})
	return m.tx
}

func (f *txFacts) mark(index int, kind string) {
	if f.single == nil {
		f.single, f.kinds = map[int]bool{}, map[int][]string{}
	}
	f.single[index] = true
	if kind != "" {
		f.kinds[index] = append(f.kinds[index], kind)
	}
	if f.control == "" && kind != "" {
		f.control = fmt.Sprintf("%s at statement %d", kind, index+1)
	}
}

// usesValue returns a value of added that m names as a string literal
// outside function bodies: a use PostgreSQL refuses (55P04) until the
// transaction that added the value commits. A literal of the same text
// that is no use of the enum (a text column's value) splits a transaction
// that need not be split: atomicity is given up where it was not needed,
// never a failure risked.
func usesValue(m *Migration, added []enumValue) (enumValue, bool) {
	for _, v := range added {
		lit := "'" + strings.ReplaceAll(v.value, "'", "''") + "'"
		if !strings.Contains(m.Text, lit) {
			continue
		}
		for _, st := range m.Statements {
			if !strings.Contains(st.SQL, lit) {
				continue
			}
			sts, err := pgsql.Parse(st.SQL)
			if err != nil {
				return v, true // unsure: commit first
			}
			for _, s := range sts {
				if _, _, ok := pgsql.EnumValueAdded(s.Node); ok {
					continue
				}
				for _, c := range pgsql.StringConstants(s.Node) {
					if c == v.value {
						return v, true
					}
				}
			}
		}
	}
	return enumValue{}, false
}
