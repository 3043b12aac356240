// Package migrate is upshift's migration protocol as a library: plan against
// the migrations table, leave at once when nothing is pending (up-to-date
// replicas never queue behind a long migration), lint what is pending, take
// the service's advisory lock and then the migrations table's (always in
// that order), plan again with what the table says now, refuse a read-only
// database, apply, and release the locks on every path.
//
// The CLI, the upgrade orchestrator and library users run exactly this
// protocol; progress is reported through Config.OnEvent, the way tern's
// OnStart and compose's event processor do, and rendering is the caller's.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/internal/shell"
	"github.com/upshift-dev/upshift/lint"
	"github.com/upshift-dev/upshift/lockids"
	"github.com/upshift-dev/upshift/pglock"
)

// LintMode says what happens to the pending migrations' lint findings.
type LintMode int

const (
	LintWarn   LintMode = iota // report warning- and error-level findings
	LintOff                    // do not lint
	LintStrict                 // report them, and refuse to migrate on an error-level one
)

// Config is one run of the protocol.
type Config struct {
	Source *drizzle.Source
	Table  drizzle.Table
	// Lock is the service's advisory lock; the table's own lock
	// (lockids.ForTable) is taken after it.
	Lock lockids.ID
	// LockWait bounds the wait for both locks together.
	LockWait time.Duration
	// Reconnect, when set, lets a run that has waited DetachAfter for a
	// lock close its connection and check back every second or so with a
	// new one: a replica that is only waiting then holds no connection slot
	// (at max_connections, the replicas that could not connect get in). A
	// detached waiter notices a release up to about a second later.
	Reconnect   func(context.Context) (*pgx.Conn, error)
	DetachAfter time.Duration
	// Options say what to apply and how; the hooks are Run's.
	Options drizzle.Options
	DryRun  bool
	Lint    LintMode
	// OnEvent receives progress; it may be nil.
	OnEvent func(Event)
	// Watch reports statements that run for over Options.WatchAfter (2s)
	// as EventActivity: PostgreSQL's progress of them and the sessions
	// they wait for, read from a second connection opened only then.
	Watch bool
}

// EventKind tells events apart.
type EventKind int

const (
	EventWarning     EventKind = iota // Warning: about the folder or the table (modified, missing, …)
	EventLint                         // Finding: a warning- or error-level finding that matters to this deploy (lint.Finding.Deploy)
	EventLintChecked                  // Lint: what linting the pending set found, once, after the EventLint events
	EventUpToDate                     // Text: why there is nothing to do
	EventLocking                      // Lock: about to take the service's lock, then the table's
	EventLockWait                     // Lock, Waited, Holders: waiting for a lock someone holds
	EventLocked                       // Lock, Waited: a lock was taken after a wait of over a second
	EventApplying                     // Pending, NoTransaction: about to apply (or record, with MarkOnly) these
	EventApplied                      // Result: one migration applied (or recorded)
	EventNote                         // Text: progress a person should see (resuming, dropping an invalid index)
	EventActivity                     // Activity: a statement running for over 2s: its progress, the lock it waits for
)

// Event is what Run reports as it goes.
type Event struct {
	Kind    EventKind
	Warning drizzle.Warning
	Finding lint.Finding
	Lock    lockids.ID
	Table   bool // the lock is the migrations table's, not the service's
	Waited  time.Duration
	Holders []pglock.Holder
	Pending []*drizzle.Entry
	// NoTransaction is how many of Pending run outside a transaction.
	NoTransaction int
	Result        drizzle.Result
	Text          string
	Lint          LintSummary
	Activity      drizzle.Activity
}

// LintSummary is what linting the pending migrations found.
type LintSummary struct {
	Checked int // migrations linted
	// Shown are the findings that matter to this deploy (reported as
	// EventLint); Errors and Warnings count them. Advice is the number of
	// other warning- and error-level findings: about tables created by the
	// same deploy, which nothing can be waiting on.
	Shown, Errors, Warnings, Advice int
}

// Report is what a run found and did; it is filled as far as the run got,
// also when Run returns an error.
type Report struct {
	Plan     *drizzle.Plan
	Prepared *drizzle.Prepared // the prepared run (nil before planning)
	Pending  []string          // tags pending, when known
	Applied  []drizzle.Result
	// Migrations is what the run left of each pending migration
	// (drizzle.Prepared.States), once it applied.
	Migrations []drizzle.MigrationState
	Lint       []lint.Finding
	Locked     bool   // the locks were taken
	Script     string // a dry run's exact SQL
	UpToDate   bool
	Warnings   []drizzle.Warning // about the table and the plan (the folder's are the Source's)
}

// LintError is a --strict refusal: nothing was changed.
type LintError struct{ Errors int }

func (e *LintError) Error() string {
	s := "findings"
	if e.Errors == 1 {
		s = "finding"
	}
	return fmt.Sprintf("refusing to migrate, nothing was changed: the pending migrations have %d lint %s at error level", e.Errors, s)
}

// ErrorHint is where to see them and how to silence one.
func (e *LintError) ErrorHint() string {
	return "`upshift lint` shows each with a safe rewrite, `-- upshift:ignore RULE_ID reason` silences one"
}

// LockError is a lock not acquired within Config.LockWait.
type LockError struct {
	Table   drizzle.Table
	OfTable bool // the migrations table's lock (another service was migrating it)
	Err     *pglock.TimeoutError
}

func (e *LockError) Error() string { return e.Err.Error() }
func (e *LockError) Unwrap() error { return e.Err }

// ReadOnlyError is a database that cannot take the migrations.
type ReadOnlyError struct {
	Standby bool // pg_is_in_recovery(); else default_transaction_read_only
}

func (e *ReadOnlyError) Error() string {
	if e.Standby {
		return "the database is a hot standby (pg_is_in_recovery() is true): it cannot take migrations; nothing was changed"
	}
	return "the database is read-only for this session (default_transaction_read_only is on, for the database, the role or the connection): nothing was changed"
}

// ErrorHint is what to do instead (printed apart from the error).
func (e *ReadOnlyError) ErrorHint() string {
	if e.Standby {
		return "connect to the primary"
	}
	return "migrate as a role that can write, or `ALTER DATABASE … SET default_transaction_read_only = off` once the maintenance is over"
}

// Run carries the protocol out on conn, which must be idle (no transaction).
func Run(ctx context.Context, conn *pgx.Conn, cfg Config) (*Report, error) {
	// The watcher reports from its own goroutine: events reach OnEvent one
	// at a time.
	var emitMu sync.Mutex
	emit := func(e Event) {
		if cfg.OnEvent != nil {
			emitMu.Lock()
			defer emitMu.Unlock()
			cfg.OnEvent(e)
		}
	}
	rep := &Report{}
	plan, run, err := prepare(ctx, conn, cfg)
	if plan != nil {
		// Known before any refusal or lock wait: callers report it.
		rep.Plan, rep.Pending = plan, drizzle.Tags(plan.Pending(cfg.Options.AllowOutOfOrder))
	}
	if err != nil {
		return rep, err
	}
	rep.Plan, rep.Prepared = plan, run
	for _, w := range planWarnings(plan) {
		rep.Warnings = append(rep.Warnings, w)
		emit(Event{Kind: EventWarning, Warning: w})
	}
	if run.Empty() {
		rep.UpToDate = true
		n := plan.Count()
		emit(Event{Kind: EventUpToDate, Text: fmt.Sprintf("%d applied, up to date (%s)", n[drizzle.StateApplied], cfg.Table)})
		return rep, nil
	}
	if cfg.Lint != LintOff && len(run.Pending()) > 0 {
		if err := lintPending(ctx, conn, cfg, run, rep, emit); err != nil {
			return rep, err
		}
	}
	if cfg.DryRun {
		rep.Pending = drizzle.Tags(run.Pending())
		rep.Script = run.Script()
		return rep, nil
	}

	// Before the locks: a standby cannot even take an advisory lock, and a
	// read-only database should not make anyone wait.
	if err := writable(ctx, conn); err != nil {
		return rep, err
	}
	emit(Event{Kind: EventLocking, Lock: cfg.Lock})
	lockStart := time.Now()
	own := conn
	release, err := takeLocks(ctx, &conn, cfg, emit)
	if conn != own {
		// A detached wait came back on a connection of its own.
		defer conn.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		return rep, err
	}
	defer release()
	rep.Locked = true
	if waited := time.Since(lockStart); waited > time.Second {
		emit(Event{Kind: EventLocked, Lock: cfg.Lock, Waited: waited})
	}

	// Another process may have migrated while this one waited.
	plan, run, err = prepare(ctx, conn, cfg)
	if err != nil {
		return rep, err
	}
	rep.Plan, rep.Prepared = plan, run
	if run.Empty() {
		rep.UpToDate = true
		emit(Event{Kind: EventUpToDate, Text: "another process applied the pending migrations while this one waited"})
		return rep, nil
	}
	rep.Pending = drizzle.Tags(run.Pending())
	noTx := 0
	for _, e := range run.Pending() {
		if run.NoTransaction(e) != "" {
			noTx++
		}
	}
	emit(Event{Kind: EventApplying, Pending: run.Pending(), NoTransaction: noTx})
	run.SetHooks(func(r drizzle.Result) {
		rep.Applied = append(rep.Applied, r)
		emit(Event{Kind: EventApplied, Result: r})
	}, func(note string) { emit(Event{Kind: EventNote, Text: note}) })
	if cfg.Watch {
		run.SetActivityHook(func(a drizzle.Activity) { emit(Event{Kind: EventActivity, Activity: a}) })
	}
	_, err = run.Apply(ctx, conn)
	rep.Migrations = run.States()
	return rep, err
}

func prepare(ctx context.Context, conn *pgx.Conn, cfg Config) (*drizzle.Plan, *drizzle.Prepared, error) {
	shape, rows, err := drizzle.ReadTable(ctx, conn, cfg.Table)
	if err != nil {
		return nil, nil, err
	}
	plan := drizzle.NewPlan(cfg.Source, cfg.Table, shape, rows)
	run, err := plan.Prepare(ctx, conn, cfg.Options)
	return plan, run, err
}

// planWarnings are the plan's own warnings and one per entry that needs a
// word: rows without a migration, notes on pending ones, modified files.
func planWarnings(plan *drizzle.Plan) []drizzle.Warning {
	out := append([]drizzle.Warning(nil), plan.Warnings...)
	for _, e := range plan.Entries {
		switch {
		case e.State == drizzle.StateMissing:
			out = append(out, drizzle.Warning{Tag: e.Tag(), Msg: fmt.Sprintf("row id %d (hash %s) of %s has no migration in %s; it was applied by another branch or its file was deleted", e.Row.ID, short(e.Row.Hash), plan.Table, plan.Source.Dir)})
		case e.State == drizzle.StatePending && e.Note != "":
			out = append(out, drizzle.Warning{Tag: e.Tag(), Msg: e.Note})
		case e.State == drizzle.StateModified:
			out = append(out, drizzle.Warning{Tag: e.Tag(), Msg: "changed after it was applied (allowed; not re-run)"})
		}
	}
	return out
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// lintPending lints what is about to be applied with the database's table
// sizes. Under LintStrict an error-level finding refuses the run before any
// lock is taken.
func lintPending(ctx context.Context, conn *pgx.Conn, cfg Config, run *drizzle.Prepared, rep *Report, emit func(Event)) error {
	var ms []*drizzle.Migration
	for _, e := range run.Pending() {
		ms = append(ms, e.Migration)
	}
	files := lint.Prepare(Files(cfg.Source, ms))
	opts, err := lint.Load(ctx, conn, files)
	if err != nil {
		return err
	}
	opts.Level = lint.Warning
	sum := LintSummary{Checked: len(files)}
	for _, f := range lint.Lint(files, opts) {
		if !f.Severity.AtLeast(lint.Warning) {
			continue
		}
		rep.Lint = append(rep.Lint, f)
		// A deploy speaks of what it can hurt: tables that hold data.
		// The rest is advice for `upshift lint`.
		if !f.Deploy() {
			sum.Advice++
			continue
		}
		sum.Shown++
		if f.Severity == lint.Error {
			sum.Errors++
		} else {
			sum.Warnings++
		}
		emit(Event{Kind: EventLint, Finding: f})
	}
	emit(Event{Kind: EventLintChecked, Lint: sum})
	if cfg.Lint == LintStrict && sum.Errors > 0 {
		return &LintError{Errors: sum.Errors}
	}
	return nil
}

// Files are the migrations as the linter reads them.
func Files(src *drizzle.Source, ms []*drizzle.Migration) []lint.File {
	files := make([]lint.File, 0, len(ms))
	for _, m := range ms {
		files = append(files, lint.File{Path: src.Path(m.File), Text: m.Text})
	}
	return files
}

// takeLocks takes the service's lock, then the table's; release gives them
// back in the reverse order, also after ctx was cancelled. A detached wait
// replaces *conn with a new connection.
func takeLocks(ctx context.Context, conn **pgx.Conn, cfg Config, emit func(Event)) (release func(), err error) {
	start := time.Now()
	var held []lockids.ID
	release = func() {
		for i := len(held) - 1; i >= 0; i-- {
			if err := pglock.Release(*conn, held[i]); err != nil && !(*conn).IsClosed() {
				emit(Event{Kind: EventNote, Text: "warning: " + err.Error()})
			}
		}
	}
	ids := []lockids.ID{cfg.Lock}
	if t := lockids.ForTable(cfg.Table.String()); t != cfg.Lock {
		ids = append(ids, t)
	}
	for i, id := range ids {
		ofTable := i == 1 || id == lockids.ForTable(cfg.Table.String())
		onWait := func(waited time.Duration, holders []pglock.Holder) {
			var granted []pglock.Holder
			for _, h := range holders {
				if h.Granted {
					granted = append(granted, h)
				}
			}
			if len(granted) > 0 {
				emit(Event{Kind: EventLockWait, Lock: id, Table: ofTable, Waited: time.Since(start), Holders: granted})
			}
		}
		left := max(cfg.LockWait-time.Since(start), 0)
		attached := left
		// Only the first lock may detach: with the service's lock held,
		// the connection that holds it must stay.
		detach := cfg.Reconnect != nil && cfg.DetachAfter > 0 && len(held) == 0
		if detach {
			attached = min(left, cfg.DetachAfter)
		}
		err := pglock.Acquire(ctx, *conn, id, pglock.Wait{Timeout: attached, OnWait: onWait})
		var te *pglock.TimeoutError
		if errors.As(err, &te) && detach && attached < left {
			err = waitDetached(ctx, conn, id, cfg, start, onWait)
		}
		if err != nil {
			release()
			if errors.As(err, &te) {
				return nil, &LockError{Table: cfg.Table, OfTable: ofTable, Err: te}
			}
			return nil, err
		}
		held = append(held, id)
	}
	return release, nil
}

// waitDetached closes the connection and checks back for the lock every
// 0.5–1.5 s on a new one, until it is taken or LockWait has passed.
func waitDetached(ctx context.Context, conn **pgx.Conn, id lockids.ID, cfg Config, start time.Time, onWait func(time.Duration, []pglock.Holder)) error {
	_ = (*conn).Close(ctx)
	lastReport := time.Now()
	for {
		pause := 500*time.Millisecond + rand.N(time.Second)
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for advisory lock %d: %w", id, ctx.Err())
		case <-time.After(min(pause, max(cfg.LockWait-time.Since(start), 0))):
		}
		c, err := cfg.Reconnect(ctx)
		if err != nil {
			return err
		}
		*conn = c
		left := max(cfg.LockWait-time.Since(start), 0)
		err = pglock.Acquire(ctx, c, id, pglock.Wait{})
		if err == nil {
			return nil
		}
		var te *pglock.TimeoutError
		if !errors.As(err, &te) {
			return err
		}
		if left <= 0 {
			te.Waited = time.Since(start)
			return te
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			onWait(time.Since(start), te.Holders)
		}
		_ = c.Close(ctx)
	}
}

// writable refuses, before anything runs, a database that cannot take
// writes: a hot standby, or one whose sessions are read-only by default.
func writable(ctx context.Context, conn *pgx.Conn) error {
	var recovery, readOnly bool
	err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'").Scan(&recovery, &readOnly)
	switch {
	case err != nil:
		return fmt.Errorf("check that the database takes writes: %w", err)
	case recovery:
		return &ReadOnlyError{Standby: true}
	case readOnly:
		return &ReadOnlyError{}
	}
	return nil
}

// Line is the one line a deploy prints about linting its pending
// migrations in dir, with the command that shows the details.
func (s LintSummary) Line(dir string) string {
	details := shell.Join("upshift", "lint", "--dir", dir) + ` --database-url "$DATABASE_URL"`
	checked := count(s.Checked, "pending migration")
	if s.Shown == 0 {
		line := checked + " checked: none locks or rewrites a table that holds data"
		if s.Advice > 0 {
			line += fmt.Sprintf(" (%s about the tables they create: %s)", count(s.Advice, "note"), details)
		}
		return line
	}
	var kinds []string
	if s.Errors > 0 {
		kinds = append(kinds, count(s.Errors, "error"))
	}
	if s.Warnings > 0 {
		kinds = append(kinds, count(s.Warnings, "warning"))
	}
	return fmt.Sprintf("%s about tables that hold data (%s) in %s; the safe way to write each: %s",
		count(s.Shown, "finding"), strings.Join(kinds, ", "), checked, details)
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
