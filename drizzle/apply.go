package drizzle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/upshift-dev/upshift/internal/shell"
	"github.com/upshift-dev/upshift/pgsql"
	"github.com/upshift-dev/upshift/pgwatch"
)

// TxMode chooses how migrations are grouped into transactions.
type TxMode string

const (
	// TxAll runs every pending migration in one transaction, as drizzle-orm
	// does: the database ends at the old version or the new one.
	TxAll TxMode = "all"
	// TxEach commits after every migration.
	TxEach TxMode = "each"
)

// NoTransactionMarker, as the first line of a migration, makes it run
// outside a transaction even when the parser sees no need to.
const NoTransactionMarker = "-- upshift:no-transaction"

// Options tune Apply.
type Options struct {
	TxMode          TxMode
	AllowOutOfOrder bool
	AllowModified   bool
	// StatementTimeout and LockTimeout, when set, apply to the migrations'
	// statements only; 0 lifts a role-level setting.
	StatementTimeout *time.Duration
	LockTimeout      *time.Duration
	// MarkOnly records migrations as applied without running them (the
	// recovery path after a migration was finished by hand).
	MarkOnly bool
	// Only restricts the run to these tags (each must be pending or out of
	// order).
	Only []string
	// OnApplied is called after each migration is recorded.
	OnApplied func(Result)
	// OnNote receives progress a person should see (rolled back, invalid
	// index dropped before a rerun, ...).
	OnNote func(string)
	// OnActivity, when set, receives what PostgreSQL says of a statement
	// that has run for over WatchAfter (2s): its progress, the lock it
	// waits for and who holds it (package pgwatch, from a second
	// connection opened only then).
	OnActivity func(Activity)
	WatchAfter time.Duration
}

// Result describes one applied migration.
type Result struct {
	Tag           string        `json:"tag"`
	File          string        `json:"file"`
	Statements    int           `json:"statements"`
	Duration      time.Duration `json:"-"`
	NoTransaction string        `json:"no_transaction,omitempty"` // why it ran outside a transaction
}

// Refusal is a plan that Apply will not carry out without an override:
// Options.AllowOutOfOrder where OutOfOrder is set, AllowModified where
// Modified is.
type Refusal struct {
	Entries              []*Entry
	Msg                  string
	Hint                 string // what to do instead of overriding
	OutOfOrder, Modified bool
	// Together lists the tags to record at once instead (mark-applied).
	Together []string
}

func (r *Refusal) Error() string { return r.Msg }

// ErrorHint is what to do instead of overriding the refusal.
func (r *Refusal) ErrorHint() string { return r.Hint }
func (r *Refusal) Unwrap() error     { return ErrRefused }

// Advice is the hint with the flags that override the refusal; record says
// the run records (mark-applied) rather than applies.
func (r *Refusal) Advice(record bool) string {
	parts := []string{r.Hint}
	if len(r.Together) > 0 {
		parts[0] += " (`" + shell.Join(append([]string{"upshift", "mark-applied"}, r.Together...)...) + "`)"
	}
	if r.OutOfOrder {
		parts = append(parts, "--allow-out-of-order "+map[bool]string{false: "applies", true: "records"}[record]+" it anyway")
	}
	if r.Modified {
		parts = append(parts, "--allow-modified proceeds anyway (nothing is re-run)")
	}
	return strings.TrimPrefix(strings.Join(parts, "; "), "; ")
}

// selectTags picks the named migrations, in plan order. A tag already
// recorded is nothing to do. With a journal (ordered by created_at),
// recording a migration while an older one stays pending would leave that
// one out of order — drizzle-orm 0.x would then skip it forever — so that is
// refused unless allowOutOfOrder.
func (p *Plan) selectTags(tags []string, allowOutOfOrder bool) ([]*Entry, error) {
	want := map[string]bool{}
	for _, t := range tags {
		want[t] = true
	}
	var out []*Entry
	var olderPending []*Entry
	for _, e := range p.Entries {
		if e.Migration == nil {
			continue
		}
		if !want[e.Tag()] {
			if e.State == StatePending {
				olderPending = append(olderPending, e)
			}
			continue
		}
		delete(want, e.Tag())
		switch e.State {
		case StatePending:
			if len(olderPending) > 0 && !p.Source.Layout.ByName() && !allowOutOfOrder {
				var names []string
				for _, o := range olderPending {
					names = append(names, o.Tag())
				}
				return nil, &Refusal{Entries: []*Entry{e}, OutOfOrder: true, Together: append(names, e.Tag()),
					Msg: fmt.Sprintf("refusing to record %q, nothing was changed: %s older and still pending, would then be out of order, and drizzle-orm 0.x would skip it forever",
						e.Tag(), strings.Join(names, ", ")+map[bool]string{true: " is", false: " are"}[len(names) == 1]),
					Hint: "record them first, or together with it"}
			}
		case StateOutOfOrder:
			if !allowOutOfOrder {
				return nil, &Refusal{Entries: []*Entry{e}, OutOfOrder: true,
					Msg: fmt.Sprintf("refusing to record %q, nothing was changed: it is older than the newest applied migration (out of order)", e.Tag())}
			}
		case StateApplied:
			continue // already recorded: nothing to do
		default:
			return nil, &Refusal{Entries: []*Entry{e}, Msg: fmt.Sprintf("refusing to record %q, nothing was changed: it is %s", e.Tag(), e.State)}
		}
		out = append(out, e)
	}
	for t := range want {
		return nil, &InputError{Path: p.Source.Dir, Tag: t, Msg: "no such migration in the folder", Hint: "`upshift status` lists the tags"}
	}
	return out, nil
}

// Check returns the reasons to refuse the plan: out-of-order migrations
// (journal layouts) and modified ones, unless allowed.
func (p *Plan) Check(opts Options) error {
	var newest *Entry
	for _, e := range p.Entries {
		if e.Row != nil && e.Row.CreatedAt != nil && e.State != StateMissing && (newest == nil || *e.Row.CreatedAt > *newest.Row.CreatedAt) {
			newest = e
		}
	}
	var msgs, hints []string
	var refused []*Entry
	outOfOrder, modified := false, false
	for _, e := range p.Entries {
		switch {
		case e.State == StateOutOfOrder && !opts.AllowOutOfOrder:
			refused = append(refused, e)
			other := "a newer migration that is already applied"
			if newest != nil {
				other = fmt.Sprintf("the already applied %q (created_at %d)", newest.Tag(), *newest.Row.CreatedAt)
			}
			msgs = append(msgs, fmt.Sprintf("%s: migration %q (created_at %d) is older than %s; drizzle-orm 0.x would skip it silently forever",
				p.Source.Path(e.Migration.File), e.Tag(), e.Migration.CreatedAt, other))
			if !outOfOrder {
				hints = append(hints, "check that an out-of-order migration is safe to apply after the newer one (or regenerate it with a newer timestamp)")
			}
			outOfOrder = true
		case e.State == StateModified && !opts.AllowModified:
			refused = append(refused, e)
			msgs = append(msgs, fmt.Sprintf("%s: migration %q was changed after it was applied (file hash %s, recorded hash %s)",
				p.Source.Path(e.Migration.File), e.Tag(), e.Migration.Hash, e.Row.Hash))
			if !modified {
				hints = append(hints, "restore a changed migration from version control and put the change in a new migration")
			}
			modified = true
		}
	}
	if len(refused) == 0 {
		return nil
	}
	verb := "migrate"
	if opts.MarkOnly {
		verb = "record"
	}
	return &Refusal{Entries: refused, OutOfOrder: outOfOrder, Modified: modified, Hint: strings.Join(hints, "; "),
		Msg: "refusing to " + verb + ", nothing was changed:\n  " + strings.Join(msgs, "\n  ")}
}

// op is one step of a run. The same list drives execution and --dry-run.
type op struct {
	kind  opKind
	sql   string
	args  []any
	entry *Entry
	stmt  *Statement // the breakpoint piece the SQL comes from
	sub   int        // byte offset of sql within stmt.SQL (no-transaction splits)
	note  string
	// single: sent on its own and the session's transaction state read
	// after it (a migration that controls transactions itself).
	single bool
	// rows are the migrations an opRecord records; the statement is made
	// when it runs, without those a migration's own COMMIT had Apply
	// record already or its own ROLLBACK undid.
	rows []*Entry
}

type opKind int

const (
	opBegin opKind = iota
	opCommit
	opSQL       // bookkeeping: table creation, upgrade, timeouts
	opStatement // a migration's statement
	opRecord    // the migration's row
	opCleanup   // drop an invalid index left by an earlier failed run
	opNote      // tell the operator something; sends nothing
	opDone      // the migration is complete (for reporting)
)

// Prepared is a migration run made ready by Plan.Prepare: the pending
// migrations, what runs outside a transaction, the exact statements.
type Prepared struct {
	plan    *Plan
	opts    Options
	ops     []op
	pending []*Entry
	noTx    map[*Entry]string
	// progress of no-transaction migrations an earlier run left half done
	progress map[string]Progress
	// breaks says why a migration starts a new transaction where the
	// mode would keep it in the one before; control names a migration's
	// own transaction statement.
	breaks, control map[*Entry]string
	// states is what the last Apply left of each pending migration.
	states []MigrationState
}

// Prepare checks the plan and works out every statement Apply would send.
// It reads the database (to find invalid indexes a rerun must drop) but
// changes nothing.
func (p *Plan) Prepare(ctx context.Context, q Querier, opts Options) (*Prepared, error) {
	if opts.TxMode == "" {
		opts.TxMode = TxAll
	}
	if err := p.Check(opts); err != nil {
		return nil, err
	}
	r := &Prepared{plan: p, opts: opts, pending: p.Pending(opts.AllowOutOfOrder), noTx: map[*Entry]string{},
		breaks: map[*Entry]string{}, control: map[*Entry]string{}}
	if opts.Only != nil {
		pending, err := p.selectTags(opts.Only, opts.AllowOutOfOrder)
		if err != nil {
			return nil, err
		}
		r.pending = pending
	}
	for _, e := range r.pending {
		if opts.MarkOnly {
			break
		}
		if why := noTransaction(e.Migration); why != "" {
			r.noTx[e] = why
		}
	}
	if len(r.noTx) > 0 {
		var err error
		if r.progress, err = ReadProgress(ctx, q, p.Table); err != nil {
			return nil, err
		}
	}
	if err := r.build(ctx, q); err != nil {
		return nil, err
	}
	return r, nil
}

// SetHooks sets the progress callbacks after Prepare.
func (r *Prepared) SetHooks(onApplied func(Result), onNote func(string)) {
	r.opts.OnApplied, r.opts.OnNote = onApplied, onNote
}

// SetActivityHook sets OnActivity after Prepare.
func (r *Prepared) SetActivityHook(fn func(Activity)) { r.opts.OnActivity = fn }

// watch follows conn's backend from a second connection while Apply runs,
// until stop is called; nothing connects before WatchAfter.
func (r *Prepared) watch(ctx context.Context, conn *pgx.Conn) (stop func()) {
	if r.opts.OnActivity == nil {
		return func() {}
	}
	var lt time.Duration
	if r.opts.LockTimeout != nil {
		lt = *r.opts.LockTimeout
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pgwatch.Watch(wctx, pgwatch.Config{Conn: conn.Config(), PID: conn.PgConn().PID(), After: r.opts.WatchAfter, LockTimeout: lt},
			func(rep pgwatch.Report) { r.opts.OnActivity(r.activity(rep)) })
	}()
	return func() { cancel(); <-done }
}

// activity names the statement the server is running: the server keeps
// the start of its text (track_activity_query_size), which is the start of
// exactly one piece the run sends, as a rule.
func (r *Prepared) activity(rep pgwatch.Report) Activity {
	a := Activity{Report: rep}
	if rep.Query == "" {
		return a
	}
	for _, o := range r.ops {
		if o.kind == opStatement && strings.HasPrefix(o.sql, rep.Query) {
			a.Tag, a.File = o.entry.Tag(), r.plan.Source.Path(o.entry.Migration.File)
			a.Statement, a.Line = o.stmt.Index+1, o.stmt.Line
			break
		}
	}
	return a
}

// Pending lists the migrations the run applies.
func (r *Prepared) Pending() []*Entry { return r.pending }

// NoTransaction says why a pending migration runs outside a transaction.
func (r *Prepared) NoTransaction(e *Entry) string { return r.noTx[e] }

// Empty reports whether the run would change nothing at all.
func (r *Prepared) Empty() bool {
	for _, o := range r.ops {
		if o.kind != opBegin && o.kind != opCommit {
			return false
		}
	}
	return true
}

// noTransaction says why m must run outside a transaction ("" if it need
// not). The answer is kept on the migration: the lock protocol prepares a
// run twice.
func noTransaction(m *Migration) string {
	m.noTxOnce.Do(func() { m.noTx = findNoTransaction(m) })
	return m.noTx
}

func findNoTransaction(m *Migration) string {
	if first, _, _ := strings.Cut(m.Text, "\n"); strings.TrimSpace(first) == NoTransactionMarker {
		return "marked " + NoTransactionMarker
	}
	for _, st := range m.Statements {
		if !pgsql.MayNeedNoTransaction(st.SQL) {
			continue
		}
		sts, err := pgsql.Parse(st.SQL)
		if err != nil {
			continue // the server will say what is wrong with it
		}
		for _, s := range sts {
			if why := pgsql.NoTransaction(s.Node); why != "" {
				return why
			}
		}
	}
	return ""
}

func (r *Prepared) build(ctx context.Context, q Querier) error {
	p, t := r.plan, r.plan.Table
	var setup []op
	layoutShape := ShapeV0
	if p.Source.Layout.ByName() {
		layoutShape = ShapeV1
	}
	switch {
	case p.Shape == ShapeMissing && len(r.pending) > 0:
		// Only when missing: CREATE SCHEMA IF NOT EXISTS checks the
		// database's CREATE privilege first, which a least-privilege role
		// with USAGE and CREATE on a pre-created schema does not have.
		rows, err := q.Query(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", t.Schema)
		if err != nil {
			return fmt.Errorf("look for schema %s: %w", t.Schema, err)
		}
		exists, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
		if err != nil {
			return fmt.Errorf("look for schema %s: %w", t.Schema, err)
		}
		if !exists {
			setup = append(setup, op{kind: opSQL, sql: "CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{t.Schema}.Sanitize()})
		}
		cols := "id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint"
		if layoutShape == ShapeV1 {
			cols += ", name text, applied_at timestamp with time zone DEFAULT now()"
		}
		setup = append(setup, op{kind: opSQL, sql: "CREATE TABLE IF NOT EXISTS " + t.Ident() + " (" + cols + ")"})
	case p.Shape == ShapeV0 && layoutShape == ShapeV1:
		// drizzle-orm 1.0's upToV1, run even when nothing is pending.
		setup = append(setup,
			op{kind: opSQL, sql: "ALTER TABLE " + t.Ident() + ` ADD COLUMN IF NOT EXISTS "name" text`},
			op{kind: opSQL, sql: "ALTER TABLE " + t.Ident() + ` ADD COLUMN IF NOT EXISTS "applied_at" timestamp with time zone DEFAULT now()`})
	}
	for _, e := range p.Entries {
		if e.NameBackfill {
			set := `"name" = $1`
			if p.Shape == ShapeV0 {
				set += `, "applied_at" = NULL`
			}
			setup = append(setup, op{kind: opSQL, sql: "UPDATE " + t.Ident() + " SET " + set + ` WHERE "id" = $2`, args: []any{e.Migration.Tag, e.Row.ID}})
		}
	}
	if len(setup) == 0 && len(r.pending) == 0 {
		return nil
	}
	settings := r.settings("SET LOCAL ")
	inTx := false
	begin := func() {
		if !inTx {
			r.ops = append(r.ops, op{kind: opBegin, sql: "BEGIN"})
			r.ops = append(r.ops, settings...)
			inTx = true
		}
	}
	// Rows of the open transaction are inserted with one statement just
	// before COMMIT: ids come out in the same order as one INSERT per
	// migration would give, without a round trip per migration.
	var rows []*Entry
	var added []enumValue // enum values added in the open transaction
	commit := func() {
		if inTx {
			if len(rows) > 0 {
				r.ops = append(r.ops, r.record(rows...))
				rows = nil
			}
			r.ops = append(r.ops, op{kind: opCommit, sql: "COMMIT"})
			inTx, added = false, nil
		}
	}
	begin()
	r.ops = append(r.ops, setup...)
	for _, e := range r.pending {
		if !r.opts.MarkOnly && len(setup) > 0 && transactionFacts(e.Migration).control != "" {
			// The table is made before the migrations' transaction, as
			// drizzle-orm makes it: a migration's own ROLLBACK must not
			// take it away.
			commit()
			break
		}
	}
	progressMade := false
	for i, e := range r.pending {
		m := e.Migration
		if r.opts.MarkOnly {
			rows = append(rows, e)
			r.ops = append(r.ops, op{kind: opDone, entry: e})
			continue
		}
		if r.noTx[e] != "" {
			if len(setup) > 0 || i > 0 {
				commit() // the batch so far commits before it
			} else {
				r.ops = r.ops[:0] // nothing to commit before it
				inTx = false
			}
			r.ops = append(r.ops, r.settings("SET ")...)
			cleanup, err := invalidIndexCleanup(ctx, q, m)
			if err != nil {
				return err
			}
			r.ops = append(r.ops, cleanup...)
			if !progressMade {
				r.ops = append(r.ops, op{kind: opSQL, sql: createProgress(t)})
				progressMade = true
			}
			pieces := noTxPieces(m)
			skip := 0
			if pr, ok := r.progress[m.Tag]; ok && pr.Done > 0 && pr.Done < len(pieces) {
				skip = pr.Done
				note := fmt.Sprintf("resuming %s at statement %d: statements 1–%d ran and committed in an earlier run", m.Tag, pieces[skip].stmt.Index+1, pieces[skip-1].stmt.Index+1)
				if pr.Hash != m.Hash {
					note += " (the file has changed since; the statements that ran are not run again)"
				}
				r.ops = append(r.ops, op{kind: opNote, note: note})
			}
			for pi, pc := range pieces {
				if pi < skip {
					continue
				}
				r.ops = append(r.ops, op{kind: opStatement, sql: pc.sql, entry: e, stmt: pc.stmt, sub: pc.sub}, saveProgress(t, m, pi+1))
			}
			if len(r.opts.settingsList()) > 0 {
				r.ops = append(r.ops, op{kind: opSQL, sql: "RESET statement_timeout; RESET lock_timeout"})
			}
			// drizzle's row and the end of the progress commit together.
			r.ops = append(r.ops, op{kind: opBegin, sql: "BEGIN"}, r.record(e), clearProgress(t, m), op{kind: opCommit, sql: "COMMIT"}, op{kind: opDone, entry: e})
			continue
		}
		f := transactionFacts(m)
		switch {
		case r.opts.TxMode == TxEach && i > 0:
			commit()
		case inTx && len(added) > 0:
			if v, ok := usesValue(m, added); ok {
				commit()
				r.breaks[e] = fmt.Sprintf("starts a new transaction: it uses %s, which %s adds, and PostgreSQL refuses a new enum value until the transaction that adds it commits (55P04)", v, v.by)
			}
		}
		begin()
		if f.control != "" {
			r.control[e] = f.control
		}
		for si := range m.Statements {
			st := &m.Statements[si]
			if !st.Blank() {
				r.ops = append(r.ops, op{kind: opStatement, sql: st.SQL, entry: e, stmt: st, single: len(f.single) > 0})
			}
		}
		for _, v := range f.adds {
			v.by = m.Tag
			added = append(added, v)
		}
		rows = append(rows, e)
		r.ops = append(r.ops, op{kind: opDone, entry: e})
	}
	commit()
	return nil
}

func (o Options) settingsList() []string {
	var out []string
	if o.StatementTimeout != nil {
		out = append(out, fmt.Sprintf("statement_timeout = %d", o.StatementTimeout.Milliseconds()))
	}
	if o.LockTimeout != nil {
		out = append(out, fmt.Sprintf("lock_timeout = %d", o.LockTimeout.Milliseconds()))
	}
	return out
}

func (r *Prepared) settings(prefix string) []op {
	var out []op
	for _, s := range r.opts.settingsList() {
		out = append(out, op{kind: opSQL, sql: prefix + s})
	}
	return out
}

// record inserts the rows drizzle-orm inserts: without name for journal
// layouts (0.x), with name for folders (1.0); applied_at from its default.
// VALUES rows are evaluated in order, so ids follow the migrations' order.
func (r *Prepared) record(es ...*Entry) op {
	t := r.plan.Table
	byName := r.plan.Source.Layout.ByName()
	cols := ` ("hash", "created_at")`
	if byName {
		cols = ` ("hash", "created_at", "name")`
	}
	var vals []string
	var args []any
	for _, e := range es {
		m := e.Migration
		n := len(args)
		if byName {
			vals = append(vals, fmt.Sprintf("($%d, $%d, $%d)", n+1, n+2, n+3))
			args = append(args, m.Hash, m.CreatedAt, m.Tag)
		} else {
			vals = append(vals, fmt.Sprintf("($%d, $%d)", n+1, n+2))
			args = append(args, m.Hash, m.CreatedAt)
		}
	}
	return op{kind: opRecord, entry: es[len(es)-1], rows: es, sql: "INSERT INTO " + t.Ident() + cols + " VALUES " + strings.Join(vals, ", "), args: args}
}

// invalidIndexCleanup finds indexes that this migration creates
// concurrently and that an earlier failed run left invalid. IF NOT EXISTS
// would skip them forever; dropping them first makes the rerun build them.
func invalidIndexCleanup(ctx context.Context, q Querier, m *Migration) ([]op, error) {
	var out []op
	for _, st := range m.Statements {
		if !pgsql.MayNeedNoTransaction(st.SQL) {
			continue
		}
		sts, err := pgsql.Parse(st.SQL)
		if err != nil {
			continue
		}
		for _, s := range sts {
			schema, name, ok := pgsql.CreatedIndex(s.Node)
			if !ok || pgsql.NoTransaction(s.Node) == "" {
				continue
			}
			rows, err := q.Query(ctx, `SELECT n.nspname FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $1 AND NOT i.indisvalid
  AND (n.nspname = $2 OR ($2 = '' AND pg_catalog.pg_table_is_visible(c.oid)))`, name, schema)
			if err != nil {
				return nil, fmt.Errorf("look for invalid index %q: %w", name, err)
			}
			nsps, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return nil, fmt.Errorf("look for invalid index %q: %w", name, err)
			}
			for _, nsp := range nsps {
				id := pgx.Identifier{nsp, name}.Sanitize()
				out = append(out, op{kind: opCleanup, sql: "DROP INDEX CONCURRENTLY IF EXISTS " + id,
					note: fmt.Sprintf("dropping invalid index %s left by an earlier failed run of %s, so that it is built again", id, m.Tag)})
			}
		}
	}
	return out, nil
}

// Script renders the run as the exact SQL it sends, for --dry-run.
func (r *Prepared) Script() string {
	var b strings.Builder
	var cur *Entry
	for _, o := range r.ops {
		if o.entry != nil && o.entry != cur && o.kind == opStatement {
			cur = o.entry
			m := cur.Migration
			fmt.Fprintf(&b, "\n-- migration %s (%s)", m.Tag, r.plan.Source.Path(m.File))
			if why := r.noTx[cur]; why != "" {
				fmt.Fprintf(&b, ", outside a transaction: %s", why)
			}
			if why := r.breaks[cur]; why != "" {
				fmt.Fprintf(&b, ", %s", why)
			}
			if c := r.control[cur]; c != "" {
				fmt.Fprintf(&b, ", its own %s: upshift follows the server's transaction state through it", c)
			}
			b.WriteString("\n")
		}
		switch o.kind {
		case opDone:
			continue
		case opNote:
			fmt.Fprintf(&b, "-- %s\n", o.note)
			continue
		case opCleanup:
			fmt.Fprintf(&b, "-- %s\n", o.note)
		}
		text := strings.TrimSpace(inline(o.sql, o.args))
		b.WriteString(text)
		if !strings.HasSuffix(text, ";") {
			b.WriteString(";")
		}
		b.WriteString("\n")
	}
	return strings.TrimLeft(b.String(), "\n")
}

// inline replaces $n with SQL literals, for display only.
func inline(sql string, args []any) string {
	for i := len(args) - 1; i >= 0; i-- {
		var lit string
		switch v := args[i].(type) {
		case string:
			lit = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			lit = fmt.Sprint(v)
		}
		sql = strings.ReplaceAll(sql, fmt.Sprintf("$%d", i+1), lit)
	}
	return sql
}

// pipelined: a migration statement inside a transaction, sent with the
// statements around it in one round trip (see pipeline).
func (r *Prepared) pipelined(o op) bool {
	return o.kind == opStatement && r.noTx[o.entry] == "" && !o.single
}

func (r *Prepared) note(s string) {
	if r.opts.OnNote != nil {
		r.opts.OnNote(s)
	}
}

// statementError locates a server error in the migration file.
func (r *Prepared) statementError(o op, err error) error {
	m := o.entry.Migration
	me := &MigrationError{Tag: m.Tag, File: r.plan.Source.Path(m.File), Statement: *o.stmt, Line: o.stmt.Line, Column: o.stmt.Column, Err: err}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		me.PgErr = pg
		off := o.stmt.Offset + o.sub
		if pg.Position > 0 {
			off += pgsql.RuneToByte(o.sql, int(pg.Position)-1)
			me.Line, me.Column = LineCol(m.Text, off)
		} else if o.sub > 0 {
			me.Line, me.Column = LineCol(m.Text, off)
		}
	}
	return me
}

// invalidIndexes lists every invalid index in the database with the
// statement that drops it.
func invalidIndexes(conn *pgx.Conn) []InvalidIndex {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid ORDER BY 1, 2`)
	if err != nil {
		return nil
	}
	var out []InvalidIndex
	for rows.Next() {
		var nsp, name string
		if rows.Scan(&nsp, &name) == nil {
			id := pgx.Identifier{nsp, name}.Sanitize()
			out = append(out, InvalidIndex{Name: nsp + "." + name, Drop: "DROP INDEX CONCURRENTLY IF EXISTS " + id + ";"})
		}
	}
	rows.Close()
	return out
}
