package drizzle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Outcome is what a run left of one pending migration (MigrationState).
type Outcome string

const (
	OutcomeApplied    Outcome = "applied"        // its statements committed and its row recorded
	OutcomeRolledBack Outcome = "rolled-back"    // nothing of it is committed
	OutcomePartly     Outcome = "partly-applied" // some of its statements committed; no row
	OutcomeNotRun     Outcome = "not-run"        // the run stopped before it
	outcomeRunning    Outcome = ""               // its statements run (never reported)
)

// MigrationState is what a run left of one pending migration, as the
// server reported it: the transaction state after every statement.
type MigrationState struct {
	Tag   string  `json:"tag"`
	State Outcome `json:"state"`
	// Committed lists the statements (1-based) whose effects committed
	// although the migration's row was not recorded (partly-applied).
	Committed []int `json:"statements_committed,omitempty"`
	// Note says what ended or undid it where that was not the run's own
	// transaction (a migration's own COMMIT or ROLLBACK).
	Note string `json:"note,omitempty"`
}

// ApplyError is a failed run: what failed, and what it left behind.
type ApplyError struct {
	Err error // *MigrationError, or a bookkeeping failure
	// Applied were committed before the failure and stay applied.
	Applied []string
	// RolledBack were part of the failed transaction and are not applied.
	RolledBack []string
	// States is every pending migration's state (Prepared.States).
	States []MigrationState
	// Confirmed: the server confirmed that nothing of the failed
	// transaction stays (its ROLLBACK succeeded, or none was open).
	Confirmed bool
	// ProgressTable keeps how far a failed no-transaction migration got.
	ProgressTable string
	// InvalidIndexes are indexes left invalid, with the SQL that drops each.
	InvalidIndexes []InvalidIndex
	// Canceled is set when the run stopped because its context ended.
	Canceled bool
}

// InvalidIndex is an index a failed CONCURRENTLY build left behind.
type InvalidIndex struct {
	Name string `json:"name"`
	Drop string `json:"drop"`
}

func (e *ApplyError) Error() string { return e.Err.Error() }
func (e *ApplyError) Unwrap() error { return e.Err }

// Partly lists the migrations some of whose statements committed although
// they are not recorded.
func (e *ApplyError) Partly() []MigrationState {
	var out []MigrationState
	for _, s := range e.States {
		if s.State == OutcomePartly {
			out = append(out, s)
		}
	}
	return out
}

// States is what the last Apply left of each pending migration.
func (r *Prepared) States() []MigrationState { return slices.Clone(r.states) }

// Control names a pending migration's own transaction statement ("" if
// none): Apply follows the session's transaction state through it.
func (r *Prepared) Control(e *Entry) string { return r.control[e] }

// Break says why a pending migration starts a transaction of its own
// where the mode would keep it in the one before ("" when it does not).
func (r *Prepared) Break(e *Entry) string { return r.breaks[e] }

// applying is one Apply's view of the session: which transaction is open,
// which migrations it holds, and what each migration's statements left.
type applying struct {
	r    *Prepared
	conn *pgx.Conn
	ctx  context.Context

	planned bool     // the plan has a transaction open here
	open    bool     // a transaction is open on the server that this run commits
	inTx    []*Entry // migrations completed in the open transaction
	state   map[*Entry]*MigrationState
	done    []string // committed and recorded, in order
	cur     *Entry   // the migration whose statements run
	pending []int    // statements of cur run in the open transaction
	ran     []int    // statements of cur that succeeded (no-transaction resume)
	endedBy string   // the migration's statement that last ended the run's transaction
	lost    bool     // a statement ended the transaction where none was expected
}

func (a *applying) st(e *Entry) *MigrationState { return a.state[e] }

// Apply carries the run out on conn, which must not be inside a
// transaction. It returns the migrations applied; on failure the error is
// an *ApplyError.
//
// A migration may end the run's transaction itself (its own COMMIT, END
// or ROLLBACK: drizzle-orm runs everything in one transaction, and such a
// statement ends it there too). Apply reads the session's transaction
// state after each of that migration's statements (the server reports it
// with every ReadyForQuery): after a COMMIT the migrations it committed
// are recorded at once, in their own commit, as drizzle-orm's rows would
// have been committed with them; the rest of the migration runs as
// drizzle-orm runs it, each statement committing on its own (or in the
// transaction it opens, which Apply then commits as its own); and the
// migrations after it run in a new transaction — drizzle-orm's result when
// they succeed, and all or nothing of them when one fails. After a
// ROLLBACK, the migrations it undid are said so and stay unrecorded, as
// drizzle-orm's rows for them are rolled back too.
func (r *Prepared) Apply(ctx context.Context, conn *pgx.Conn) ([]Result, error) {
	defer r.watch(ctx, conn)()
	a := &applying{r: r, conn: conn, ctx: ctx, state: map[*Entry]*MigrationState{}}
	for _, e := range r.pending {
		a.state[e] = &MigrationState{Tag: e.Tag(), State: OutcomeNotRun}
	}
	defer func() {
		r.states = r.states[:0]
		for _, e := range r.pending {
			r.states = append(r.states, *a.state[e])
		}
	}()
	var (
		results []Result
		started time.Time
		count   int
	)
	for i := 0; i < len(r.ops); i++ {
		o := r.ops[i]
		if err := ctx.Err(); err != nil {
			return results, a.fail(fmt.Errorf("interrupted: %w", err), o)
		}
		if err := a.reopen(o); err != nil {
			return results, a.fail(err, o)
		}
		if a.open && r.pipelined(o) {
			// The statements up to the next COMMIT (or the size limit) in
			// one round trip; migrations complete in order as before.
			j, size := i, 0
			var queries []string
			for ; j < len(r.ops) && (r.pipelined(r.ops[j]) || r.ops[j].kind == opDone); j++ {
				if r.ops[j].kind == opDone {
					continue
				}
				if size += len(r.ops[j].sql); size > pipelineLimit && len(queries) > 0 {
					break
				}
				queries = append(queries, r.ops[j].sql)
			}
			segStart := time.Now()
			times, status, failed, err := pipeline(ctx, conn.PgConn(), queries)
			for k, st := range status {
				if st != 'T' && st != 'E' && (failed < 0 || k < failed) {
					// The parser found no statement here that ends a
					// transaction; the server says this one did, and
					// the statements after it ran outside any.
					failed, err = k, fmt.Errorf("this statement ended the run's transaction, which upshift did not expect of it: the statements before it committed, those after it in this migration ran on their own; check the database before a rerun")
					for _, e := range a.inTx {
						a.st(e).State, a.st(e).Note = OutcomePartly, "committed, unrecorded, by a statement of a later migration that ended the transaction"
					}
					a.open, a.inTx, a.lost = false, nil, true
					break
				}
			}
			q := 0
			for _, po := range r.ops[i:j] {
				if po.kind == opDone {
					end := segStart
					if q > 0 {
						end = times[q-1]
					}
					res := Result{Tag: po.entry.Tag(), File: r.plan.Source.Path(po.entry.Migration.File), Statements: count, Duration: end.Sub(started)}
					results = append(results, res)
					a.completed(po.entry)
					count, started = 0, end
					r.applied(res)
					continue
				}
				a.begun(po.entry)
				if q == failed {
					return results, a.fail(r.statementError(po, err), po)
				}
				if started.IsZero() {
					started = segStart
				}
				count++
				a.pending = append(a.pending, po.stmt.Index)
				a.ran = append(a.ran, po.stmt.Index)
				q++
			}
			if r.ops[j-1].kind == opDone {
				started = time.Time{}
			}
			i = j - 1
			continue
		}
		switch o.kind {
		case opBegin:
			a.planned = true
			if a.open {
				continue // a migration's own transaction, adopted: it commits with the run's
			}
			if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
				return results, a.fail(fmt.Errorf("begin transaction: %w", err), o)
			}
			a.open, a.inTx = true, nil
			continue
		case opCommit:
			a.planned = false
			if !a.open {
				continue // a migration ended it; what it held is recorded
			}
			if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
				return results, a.fail(fmt.Errorf("commit: %w", err), o)
			}
			a.committed()
			continue
		case opNote:
			r.note(o.note)
			continue
		case opCleanup:
			r.note(o.note)
		case opDone:
			res := Result{Tag: o.entry.Tag(), File: r.plan.Source.Path(o.entry.Migration.File), Statements: count, Duration: time.Since(started), NoTransaction: r.noTx[o.entry]}
			results = append(results, res)
			if err := a.finished(o.entry); err != nil {
				return results, a.fail(err, o)
			}
			count, started = 0, time.Time{}
			r.applied(res)
			continue
		case opRecord:
			if o = a.unrecorded(o); o.rows == nil {
				continue
			}
		}
		if o.kind == opStatement {
			a.begun(o.entry)
			if started.IsZero() {
				started = time.Now()
			}
		}
		var err error
		if o.kind == opStatement {
			// Simple protocol, as node-postgres sends drizzle's raw SQL: a
			// piece may hold several statements.
			var res []*pgconn.Result
			res, err = conn.PgConn().Exec(ctx, o.sql).ReadAll()
			if terr := a.after(o, res, err); terr != nil {
				return results, a.fail(terr, o)
			}
		} else {
			_, err = conn.Exec(ctx, o.sql, o.args...)
		}
		if err != nil {
			if o.kind == opStatement {
				return results, a.fail(r.statementError(o, err), o)
			}
			what := "bookkeeping"
			if o.kind == opRecord {
				what = "record migrations in " + r.plan.Table.String()
			}
			return results, a.fail(fmt.Errorf("%s: %s: %w", what, strings.TrimSpace(inline(o.sql, o.args)), err), o)
		}
		if o.kind == opStatement {
			count++
			a.ran = append(a.ran, o.stmt.Index)
		}
	}
	return results, nil
}

func (r *Prepared) applied(res Result) {
	if r.opts.OnApplied != nil {
		r.opts.OnApplied(res)
	}
}

// begun marks e as the migration whose statements run.
func (a *applying) begun(e *Entry) {
	if a.cur != e {
		a.cur, a.pending, a.ran = e, nil, nil
		a.st(e).State = outcomeRunning
	}
}

// reopen starts a transaction where the plan has one open and a
// migration's own COMMIT or ROLLBACK ended it, before the next migration
// (or the bookkeeping) that the plan puts in it. The rest of the migration
// that ended it runs as drizzle-orm runs it.
func (a *applying) reopen(o op) error {
	if !a.planned || a.open {
		return nil
	}
	switch {
	case o.kind == opStatement && o.entry == a.cur && a.cur != nil:
		return nil
	case o.kind == opStatement, o.kind == opSQL, o.kind == opRecord && a.unrecorded(o).rows != nil:
	default:
		return nil
	}
	if _, err := a.conn.Exec(a.ctx, "BEGIN"); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	a.open, a.inTx = true, nil
	for _, s := range a.r.settings("SET LOCAL ") {
		if _, err := a.conn.Exec(a.ctx, s.sql); err != nil {
			return fmt.Errorf("bookkeeping: %s: %w", s.sql, err)
		}
	}
	if o.entry != nil {
		a.r.note(fmt.Sprintf("a new transaction for %s and what follows it in the plan: the %s ended the one before", o.entry.Tag(), a.endedBy))
	}
	return nil
}

// after reads the session's transaction state once a statement sent on its
// own has run (err or not): a statement of the migration may have ended
// the run's transaction, or opened one.
func (a *applying) after(o op, res []*pgconn.Result, err error) error {
	e, idx := o.entry, o.stmt.Index
	status := a.conn.PgConn().TxStatus()
	end := a.end(e, idx, res)
	ended := false
	if a.open && (status == 'I' || end != "") {
		ended, a.open = true, false
		if rerr := a.ended(e, idx, end, err == nil); rerr != nil {
			return rerr
		}
	}
	switch {
	case !a.open && status != 'I':
		// The migration opened a transaction of its own (or chained a
		// new one): the run commits it, with the migration's row, as
		// drizzle-orm's COMMIT would.
		a.open, a.inTx = true, nil
		if err == nil && !ended {
			a.pending = append(a.pending, idx)
		}
	case a.open:
		if err == nil {
			a.pending = append(a.pending, idx)
		}
	case err == nil && !ended:
		// No transaction: the statement committed on its own.
		a.st(e).Committed = append(a.st(e).Committed, idx+1)
	}
	return nil
}

// end is the statement of the piece that ended the run's transaction
// (COMMIT, ROLLBACK, PREPARE TRANSACTION), or "": the first end in the
// piece ends the run's, a later one a transaction the piece opened. The
// parser's kinds say what each transaction command tag was (ROLLBACK TO
// SAVEPOINT reports ROLLBACK); without them, the tags are read as they
// are.
func (a *applying) end(e *Entry, idx int, res []*pgconn.Result) string {
	kinds := transactionFacts(e.Migration).kinds[idx]
	end, k := "", 0
	for _, x := range res {
		tag := x.CommandTag.String()
		switch tag {
		case "BEGIN", "START TRANSACTION", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PREPARE TRANSACTION", "COMMIT PREPARED", "ROLLBACK PREPARED":
		default:
			continue
		}
		if k < len(kinds) {
			tag = kinds[k]
			k++
		}
		switch tag {
		case "COMMIT", "ROLLBACK", "PREPARE TRANSACTION":
			if end == "" || !a.open {
				end = tag
			}
		}
	}
	return end
}

// ended: statement idx of e ended the run's transaction with end (the
// server's command tag; "" reads as COMMIT: the session is idle).
func (a *applying) ended(e *Entry, idx int, end string, ok bool) error {
	a.endedBy = fmt.Sprintf("%s of %s (statement %d)", cmp.Or(end, "COMMIT"), e.Tag(), idx+1)
	switch end {
	case "ROLLBACK":
		var undone []string
		for _, u := range a.inTx {
			a.st(u).State, a.st(u).Note = OutcomeRolledBack, "undone by the "+a.endedBy+", as drizzle-orm's run would undo it; it stays pending"
			undone = append(undone, u.Tag())
		}
		a.inTx, a.pending = nil, nil
		if len(undone) > 0 {
			// drizzle-orm inserted their rows before the ROLLBACK undid
			// them; the ids those took stay taken (a sequence is not
			// rolled back), and the rows that follow have drizzle-orm's
			// ids only if they stay taken here too.
			seq := "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)"
			if _, err := a.conn.Exec(a.ctx, seq, a.r.plan.Table.Ident(), len(undone)); err != nil {
				return fmt.Errorf("bookkeeping: %s: %w", strings.TrimSpace(inline(seq, []any{a.r.plan.Table.Ident(), len(undone)})), err)
			}
		}
		note := fmt.Sprintf("the %s rolled back the run's transaction", a.endedBy)
		if len(undone) > 0 {
			note += ": " + strings.Join(undone, ", ") + " undone with it, not recorded (still pending)"
		}
		a.r.note(note + "; the rest of " + e.Tag() + " runs as drizzle-orm runs it, each statement committing on its own")
		return nil
	case "PREPARE TRANSACTION":
		return fmt.Errorf("%s prepared the run's transaction (PREPARE TRANSACTION, statement %d): whether it commits is decided by COMMIT PREPARED or ROLLBACK PREPARED, which upshift does not run; nothing of this transaction is recorded", e.Tag(), idx+1)
	}
	s := a.st(e)
	s.Committed = append(s.Committed, plus1(a.pending)...)
	if ok {
		s.Committed = append(s.Committed, idx+1)
	} else {
		s.State, s.Note = OutcomePartly, fmt.Sprintf("statement %d committed up to its COMMIT, then failed", idx+1)
	}
	a.pending = nil
	committed := a.inTx
	a.inTx = nil
	note := fmt.Sprintf("the %s committed the run's transaction", a.endedBy)
	if len(committed) > 0 {
		if err := a.record(committed); err != nil {
			return err
		}
		note += ": " + strings.Join(Tags(committed), ", ") + " committed with it and recorded now, in a commit of their own"
	}
	a.r.note(note + "; the rest of " + e.Tag() + " runs as drizzle-orm runs it, each statement committing on its own")
	return nil
}

// completed: e's statements all ran inside the open transaction.
func (a *applying) completed(e *Entry) {
	a.inTx = append(a.inTx, e)
	a.cur, a.pending = nil, nil
}

// finished: e's statements all ran. Its row goes with the open
// transaction, or, when none is open (a migration that ended the run's
// transaction, or ran outside one and was recorded by the plan), now.
func (a *applying) finished(e *Entry) error {
	defer func() { a.cur, a.pending = nil, nil }()
	switch {
	case a.open:
		if a.r.noTx[e] == "" {
			a.inTx = append(a.inTx, e)
			return nil
		}
	case a.r.noTx[e] == "" && a.planned:
		if err := a.record([]*Entry{e}); err != nil {
			return err
		}
		return nil
	}
	// A no-transaction migration's row committed with its progress.
	a.applied(e)
	return nil
}

// committed: the open transaction committed.
func (a *applying) committed() {
	for _, e := range a.inTx {
		a.applied(e)
	}
	a.open, a.inTx = false, nil
}

func (a *applying) applied(e *Entry) {
	s := a.st(e)
	s.State, s.Committed = OutcomeApplied, nil
	a.done = append(a.done, e.Tag())
}

// record writes the rows of es in a commit of their own.
func (a *applying) record(es []*Entry) error {
	o := a.r.record(es...)
	if _, err := a.conn.Exec(a.ctx, o.sql, o.args...); err != nil {
		for _, e := range es {
			s := a.st(e)
			s.State = OutcomePartly
			if s.Note == "" {
				s.Note = "its statements committed, but its row could not be recorded"
			}
		}
		return fmt.Errorf("record migrations in %s: %s: %w", a.r.plan.Table, strings.TrimSpace(inline(o.sql, o.args)), err)
	}
	for _, e := range es {
		a.applied(e)
	}
	return nil
}

// unrecorded is o without the rows already recorded or undone (rows nil
// when none are left).
func (a *applying) unrecorded(o op) op {
	if o.kind != opRecord {
		return o
	}
	var keep []*Entry
	for _, e := range o.rows {
		if s := a.st(e); s == nil || (s.State != OutcomeApplied && s.State != OutcomeRolledBack) {
			keep = append(keep, e)
		}
	}
	if len(keep) == len(o.rows) {
		return o
	}
	if len(keep) == 0 {
		o.rows = nil
		return o
	}
	n := a.r.record(keep...)
	n.kind = opRecord
	return n
}

// fail ends the run: the open transaction rolled back (the server's word
// on it kept), and each migration's state said.
func (a *applying) fail(err error, o op) error {
	ae := &ApplyError{Err: err, Canceled: a.ctx.Err() != nil, Confirmed: !a.lost}
	// The server's state, not the plan's: a migration may have ended the
	// transaction, or opened one.
	if st := a.conn.PgConn().TxStatus(); st == 'T' || st == 'E' || (a.open && a.conn.IsClosed()) {
		// A canceled context cannot carry the ROLLBACK; use a fresh one.
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, rbErr := a.conn.Exec(rctx, "ROLLBACK")
		cancel()
		if rbErr != nil {
			ae.Confirmed = false
			if !a.conn.IsClosed() {
				ae.Err = fmt.Errorf("%w (and ROLLBACK failed: %v)", err, rbErr)
			}
		}
		for _, e := range a.inTx {
			if s := a.st(e); len(s.Committed) > 0 {
				s.State = OutcomePartly // committed by its own COMMIT before it opened this one
				continue
			}
			a.st(e).State = OutcomeRolledBack
			ae.RolledBack = append(ae.RolledBack, e.Tag())
		}
		a.inTx = nil
	} else if a.conn.IsClosed() {
		ae.Confirmed = false
	}
	if e := a.cur; e != nil || (o.entry != nil && a.st(o.entry) != nil) {
		if e == nil {
			e = o.entry
		}
		s := a.st(e)
		noTx := a.r.noTx[e] != ""
		switch {
		case s.State == OutcomeApplied:
		case noTx && len(a.ran) > 0:
			s.State, s.Committed = OutcomePartly, plus1(a.ran)
		case a.lost:
			s.State, s.Committed = OutcomePartly, plus1(a.pending)
		case len(s.Committed) > 0:
			s.State = OutcomePartly
		case s.State != OutcomePartly:
			s.State = OutcomeRolledBack
			if !slices.Contains(ae.RolledBack, e.Tag()) {
				ae.RolledBack = append(ae.RolledBack, e.Tag())
			}
		}
		if noTx {
			var me *MigrationError
			if errors.As(err, &me) {
				me.Ran = a.ran
			}
			ae.InvalidIndexes = invalidIndexes(a.conn)
			ae.ProgressTable = a.r.plan.Table.ProgressTable().String()
		}
	}
	for _, e := range a.r.pending {
		if s := a.st(e); s.State == outcomeRunning {
			s.State = OutcomeRolledBack
		}
	}
	ae.Applied = a.done
	for _, e := range a.r.pending {
		ae.States = append(ae.States, *a.st(e))
	}
	return ae
}

func plus1(idx []int) []int {
	out := make([]int, len(idx))
	for i, x := range idx {
		out[i] = x + 1
	}
	return out
}

// Tags are the entries' tags, in order.
func Tags(es []*Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Tag()
	}
	return out
}
