package drizzle

import (
	"cmp"
	"fmt"
	"strings"
)

// Advice says what a PostgreSQL error code means for a migration, where
// the server's own message does not ("" when it does).
func (e *MigrationError) Advice(canceled bool) string {
	if e.PgErr == nil {
		return ""
	}
	switch e.PgErr.Code {
	case "57014":
		if !canceled {
			return "statement_timeout: the statement ran longer than allowed; allow it longer, or split the change into a safer shape"
		}
	case "55P03":
		return "lock_timeout: another session holds a conflicting lock on the table; retry later, or allow a longer lock wait"
	}
	return ""
}

// Report is the failed run as a person reads it: which statement of which
// file, what the server said (with a caret under its position), what
// stays applied, what was rolled back, and what to do next.
func (e *ApplyError) Report(src *Source) string {
	var b strings.Builder
	if me, ok := e.Err.(*MigrationError); ok {
		fmt.Fprintf(&b, "migration %q failed at statement %d (%s:%d:%d)\n", me.Tag, me.Statement.Index+1, me.File, me.Line, me.Column)
		if pg := me.PgErr; pg != nil {
			fmt.Fprintf(&b, "  %s %s: %s\n", pg.Severity, pg.Code, pg.Message)
			if pg.Detail != "" {
				fmt.Fprintf(&b, "  DETAIL: %s\n", pg.Detail)
			}
			if pg.Hint != "" {
				fmt.Fprintf(&b, "  HINT: %s\n", pg.Hint)
			}
			if a := me.Advice(e.Canceled); a != "" {
				fmt.Fprintf(&b, "  (%s)\n", a)
			}
		} else {
			fmt.Fprintf(&b, "  %v\n", me.Err)
		}
		b.WriteString(caret(src, me))
		if len(me.Ran) > 0 {
			var ran []string
			for _, i := range me.Ran {
				ran = append(ran, fmt.Sprint(i+1))
			}
			fmt.Fprintf(&b, "statements of %s that ran and stay applied (it runs outside a transaction): %s; its row was not recorded, its progress is kept in %s: fix the cause and rerun, a rerun resumes at statement %d\n",
				me.Tag, strings.Join(ran, ", "), e.ProgressTable, me.Statement.Index+1)
		}
	} else {
		fmt.Fprintf(&b, "%v\n", e.Err)
	}
	if e.Canceled {
		b.WriteString("interrupted by a signal: the running statement was cancelled on the server\n")
	}
	if len(e.RolledBack) > 0 {
		fmt.Fprintf(&b, "rolled back, not applied: %s\n", strings.Join(e.RolledBack, ", "))
	}
	for _, s := range e.States {
		if s.State == OutcomeRolledBack && s.Note != "" {
			fmt.Fprintf(&b, "  %s: %s\n", s.Tag, s.Note)
		}
	}
	partly := e.Partly()
	for _, s := range partly {
		if me, ok := e.Err.(*MigrationError); ok && me.Tag == s.Tag && len(me.Ran) > 0 {
			continue // said above, with how a rerun resumes
		}
		var n []string
		for _, i := range s.Committed {
			n = append(n, fmt.Sprint(i))
		}
		what := "statements " + strings.Join(n, ", ") + " committed"
		if len(n) == 0 {
			what = cmp.Or(s.Note, "part of the failing statement committed")
		}
		fmt.Fprintf(&b, "partly applied, not recorded: %s (%s: a migration's own COMMIT, or no transaction, made them stick); check what it changed before a rerun runs it again from the start\n", s.Tag, what)
	}
	switch {
	case len(e.Applied) > 0:
		fmt.Fprintf(&b, "applied and committed before the failure: %s\n", strings.Join(e.Applied, ", "))
	case len(partly) > 0:
	case !e.Confirmed:
		b.WriteString("the server did not confirm the rollback (the connection was lost): PostgreSQL rolls back an open transaction when its session ends; `upshift status` shows what is recorded\n")
	case len(e.RolledBack) > 0:
		b.WriteString("the database is as it was before this run\n")
	}
	if len(e.InvalidIndexes) > 0 {
		b.WriteString("indexes left invalid (not used by queries, still slowing writes); a rerun of upshift drops and rebuilds those its migration creates, or drop them by hand:\n")
		for _, ix := range e.InvalidIndexes {
			fmt.Fprintf(&b, "  %s\n", ix.Drop)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// caret shows the failing line with a caret under the server's position.
func caret(src *Source, me *MigrationError) string {
	var m *Migration
	for _, x := range src.Migrations {
		if x.Tag == me.Tag {
			m = x
		}
	}
	if m == nil || me.PgErr == nil || me.PgErr.Position == 0 {
		return ""
	}
	lines := strings.Split(m.Text, "\n")
	if me.Line < 1 || me.Line > len(lines) {
		return ""
	}
	text := strings.TrimRight(lines[me.Line-1], "\r")
	prefix := fmt.Sprintf("  %d | ", me.Line)
	pad := strings.Repeat(" ", len(prefix)-2)
	// Tabs keep their width under the caret.
	var under strings.Builder
	for i, r := range []rune(text) {
		if i >= me.Column-1 {
			break
		}
		if r == '\t' {
			under.WriteRune('\t')
		} else {
			under.WriteByte(' ')
		}
	}
	return fmt.Sprintf("%s%s\n%s| %s^\n", prefix, text, pad, under.String())
}

// Grouping says how a run with these options groups pending migrations,
// noTx of which run outside a transaction, into transactions.
func (o Options) Grouping(pending, noTx int) string {
	migrations := func(n int) string {
		if n == 1 {
			return "1 migration"
		}
		return fmt.Sprintf("%d migrations", n)
	}
	switch {
	case o.MarkOnly:
		return "one transaction"
	case noTx == pending:
		return "each statement on its own, outside a transaction"
	case noTx > 0 && o.TxMode == TxEach:
		return fmt.Sprintf("one transaction per migration, %s outside a transaction", migrations(noTx))
	case noTx > 0:
		return fmt.Sprintf("transactions split around %s that run outside a transaction", migrations(noTx))
	case o.TxMode == TxEach:
		return "one transaction per migration"
	}
	return "one transaction"
}
