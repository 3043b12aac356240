package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/cmd/upshift/internal/watchtext"
	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/drizzle/kitconfig"
	"github.com/upshift-dev/upshift/internal/ghactions"
	"github.com/upshift-dev/upshift/lockids"
	"github.com/upshift-dev/upshift/migrate"
	mdoc "github.com/upshift-dev/upshift/migrate/result"
	"github.com/upshift-dev/upshift/redact"
)

// LockFlags choose the advisory lock and how long to wait for it.
type LockFlags struct {
	LockID      *int64          `name:"lock-id" placeholder:"N" help:"Advisory lock id to use instead of the service's."`
	Timeout     cliutil.Seconds `name:"timeout" env:"MIGRATION_TIMEOUT" default:"300" help:"How long to wait for the advisory locks: seconds, or a duration such as 90s or 5m."`
	DetachAfter cliutil.Seconds `name:"detach-after" default:"10s" placeholder:"DURATION" help:"After waiting this long for the lock, close the connection and check back about every second with a new one, so that a replica that only waits holds no connection slot (0: stay connected). Default: 10s."`
}

// lockID is the lock the run takes (lockids.Choose), and how to say why.
func lockID(l *LockFlags, service string, t drizzle.Table) (lockids.ID, string) {
	c := lockids.Choose(l.LockID, service, t.String())
	switch {
	case c.Source == lockids.FromFlag:
		return c.ID, "--lock-id"
	case c.Service != "":
		return c.ID, fmt.Sprintf("service %s, %s", c.Service, c.Source)
	}
	return c.ID, "derived from " + c.Table + " (set --service to use the service's lock)"
}

// MigrateFlags are shared by migrate and mark-applied.
type MigrateFlags struct {
	FolderFlags
	TableFlags
	DBFlags
	LockFlags
	OutputFlags
	AllowOutOfOrder bool `name:"allow-out-of-order" help:"Apply (or record) journal migrations older than the newest applied one; drizzle-orm 0.x would skip them silently."`
	AllowModified   bool `name:"allow-modified" help:"Proceed although applied migrations were changed since (nothing is re-run)."`
	settings        *kitconfig.Settings
	watch           bool // report long statements (migrate, unless --no-watch)
}

// MigrateCmd applies pending migrations.
type MigrateCmd struct {
	MigrateFlags
	Tx               string           `name:"tx" enum:"all,each" default:"all" help:"all: every pending migration in one transaction, like drizzle-orm (the database ends at the old or the new version); each: one transaction per migration."`
	StatementTimeout *cliutil.Seconds `name:"statement-timeout" placeholder:"DURATION" help:"statement_timeout for the migrations' statements: seconds or a duration (0 lifts a role-level limit)."`
	LockTimeout      *cliutil.Seconds `name:"lock-timeout" placeholder:"DURATION" help:"lock_timeout for the migrations' statements: seconds or a duration (0 lifts a role-level limit)."`
	DryRun           bool             `name:"dry-run" help:"Print the plan and the exact SQL; change nothing (not even the migrations table)."`
	Strict           bool             `name:"strict" help:"Refuse to migrate when the pending migrations have error-level lint findings (they are printed as warnings otherwise)."`
	NoLint           bool             `name:"no-lint" help:"Do not lint the pending migrations first."`
	NoWatch          bool             `name:"no-watch" help:"Do not report statements that run over 2 s (their progress, the sessions they wait for) from a second connection."`
	Wait             cliutil.Seconds  `name:"wait" default:"0" placeholder:"DURATION" help:"Wait up to this long for the server to accept connections (a database container that is still starting); 0: --connect-window alone."`
	CreateDatabase   bool             `name:"create-database" help:"Create the database the URL names when it is missing (connecting to the postgres database to do so): the whole 'Create DB (if new), then migrate' step of a CD pipeline in one command."`
	MaintenanceDB    string           `name:"maintenance-db" default:"postgres" help:"Database to connect to while creating the database (--create-database)."`
}

// MarkAppliedCmd records migrations as applied without running them.
type MarkAppliedCmd struct {
	MigrateFlags
	Tags []string `arg:"" optional:"" name:"tag" help:"Migrations to record (tags, or folder names for drizzle-kit 1.x)."`
	All  bool     `name:"all" help:"Record every pending migration: baseline a database whose schema already matches."`
}

// errorJSON is the error object of every JSON document upshift prints.
type errorJSON = mdoc.Error

// newErrorJSON is an error as JSON: its message and hint apart, and the
// exit code upshift ends with.
func newErrorJSON(err error) *errorJSON {
	return &errorJSON{Message: err.Error(), Hint: hintOf(err), ExitCode: exitCode(err)}
}

func (c *MigrateCmd) Run(ctx context.Context, env *Env) error {
	if w := time.Duration(c.Wait); w > time.Duration(c.ConnectWindow) {
		c.ConnectWindow = c.Wait
	}
	if _, err := c.resolve(env); err != nil {
		return err
	}
	if c.CreateDatabase && !c.DryRun {
		cfg, err := c.config()
		if err != nil {
			return err
		}
		out := env.Stdout
		if c.JSON() {
			out = env.Stderr // stdout carries one JSON document
		}
		if err := createDatabase(ctx, &Env{Stdout: out, Stderr: env.Stderr}, false, cfg, c.MaintenanceDB, c.retry()); err != nil {
			return err
		}
	}
	mode := migrate.LintWarn
	switch {
	case c.NoLint:
		mode = migrate.LintOff
	case c.Strict:
		mode = migrate.LintStrict
	}
	c.watch = !c.NoWatch
	return c.run(ctx, env, drizzle.Options{
		TxMode: drizzle.TxMode(c.Tx), StatementTimeout: c.StatementTimeout.Ptr(), LockTimeout: c.LockTimeout.Ptr(),
	}, c.DryRun, mode)
}

func (c *MarkAppliedCmd) Run(ctx context.Context, env *Env) error {
	if c.All == (len(c.Tags) > 0) {
		return &exitError{code: ExitUsage, err: errors.New("name the migrations to record, or pass --all (not both)")}
	}
	opts := drizzle.Options{MarkOnly: true}
	if !c.All {
		opts.Only = c.Tags
	}
	return c.run(ctx, env, opts, false, migrate.LintOff)
}

// run renders the migrate protocol (package migrate) as text or JSON: the
// protocol itself — check for work before locking, lock, plan again, apply,
// release — is the library's, shared with the upgrade orchestrator.
func (c *MigrateFlags) run(ctx context.Context, env *Env, opts drizzle.Options, dryRun bool, lm migrate.LintMode) error {
	started := time.Now()
	settings, err := c.resolve(env)
	if err != nil {
		return err
	}
	pending := c.ConnectEarly(ctx)
	src, err := c.Load(env)
	if err != nil {
		pending.drop()
		return err
	}
	table := c.Table()
	out := migrate.Document(src, table, dryRun)
	out.Settings = migrate.Settings(settings)
	say := func(format string, args ...any) {
		if !c.JSON() {
			fmt.Fprintf(env.Stdout, format+"\n", args...)
		}
	}
	gh := ghactions.New(env.Stderr)
	var red *redact.Set
	slowest := "" // the job summary's table of statements that ran long
	finish := func(err error) error {
		out.DurationMS = time.Since(started).Milliseconds()
		c.github(gh, red, out, err, slowest)
		if c.JSON() {
			return endJSON(env.Stdout, out, &out.Error, err)
		}
		if os.Getenv(mdoc.LineEnv) == mdoc.LineValue {
			// The typed result `upshift upgrade` reads of its setup step,
			// as one last line after the unchanged human output.
			_ = endDoc(func() error {
				line, lerr := out.Line()
				if lerr == nil {
					_, lerr = fmt.Fprintln(env.Stdout, line)
				}
				return lerr
			}, &out.Error, err)
		}
		return err
	}
	if len(src.Migrations) == 0 {
		pending.drop()
		say("nothing to migrate: %s holds no migrations", src.Dir)
		return finish(nil)
	}
	id, idSource := lockID(&c.LockFlags, c.Service, table)
	conn, cfg, err := pending.take(ctx, &c.DBFlags, env)
	if err != nil {
		return finish(err)
	}
	defer conn.Close(context.Background())
	out.Database = cfg.Display
	red = cfg.Redactor()
	gh.Mask(red.Secrets()...)

	opts.AllowOutOfOrder, opts.AllowModified = c.AllowOutOfOrder, c.AllowModified
	linted := false
	var events io.Writer
	if c.JSON() {
		events = env.Stderr
	}
	activity := watchtext.New(env.Stdout, events, env.Terminal && !c.JSON(), env.Width)
	onEvent := func(e migrate.Event) {
		if e.Kind != migrate.EventActivity {
			activity.Clear()
		}
		switch e.Kind {
		case migrate.EventActivity:
			activity.Show(e.Activity)
		case migrate.EventWarning:
			if !c.JSON() {
				fmt.Fprintln(env.Stderr, "warning:", e.Warning)
			}
		case migrate.EventLint:
			if !linted {
				gh.Group("lint: the pending migrations")
				linted = true
			}
			if !c.JSON() {
				fmt.Fprintln(env.Stderr, "lint:", e.Finding)
			}
		case migrate.EventLintChecked:
			if !c.JSON() {
				fmt.Fprintln(env.Stderr, "lint:", e.Lint.Line(src.Dir))
			}
		case migrate.EventUpToDate:
			if opts.MarkOnly {
				say("nothing to record: %s", e.Text)
			} else {
				say("nothing to migrate: %s", e.Text)
			}
		case migrate.EventLocking:
			gh.Group(fmt.Sprintf("lock: advisory lock %d (%s)", id, idSource))
			lid := strconv.FormatInt(int64(id), 10)
			out.LockID = &lid
			say("upshift: taking advisory lock %d (%s)", id, idSource)
		case migrate.EventLockWait:
			what := fmt.Sprintf("advisory lock %d", e.Lock)
			if e.Table {
				what += " of " + table.String()
			}
			for _, h := range e.Holders {
				fmt.Fprintf(env.Stderr, "upshift: waiting for %s (%s so far), held by %s\n", what, e.Waited.Round(time.Second), h)
			}
		case migrate.EventLocked:
			say("upshift: advisory lock acquired after %s", e.Waited.Round(time.Millisecond))
		case migrate.EventApplying:
			gh.Group(fmt.Sprintf("apply: %s to %s", plural(len(e.Pending), "migration"), cfg.Display))
			verb := "applying"
			if opts.MarkOnly {
				verb = "recording as applied (not running)"
			}
			say("upshift: %s %s from %s (%s) to %s, %s", verb, plural(len(e.Pending), "migration"), src.Dir, src.Layout, cfg.Display, opts.Grouping(len(e.Pending), e.NoTransaction))
		case migrate.EventApplied:
			r := e.Result
			if c.JSON() {
				return
			}
			if opts.MarkOnly {
				fmt.Fprintf(env.Stdout, "recorded  %s\n", r.Tag)
				return
			}
			extra := ""
			if r.NoTransaction != "" {
				extra = "  (outside a transaction: " + r.NoTransaction + ")"
			}
			fmt.Fprintf(env.Stdout, "applied   %-40s %-14s %8s%s\n", r.Tag, plural(r.Statements, "statement"), r.Duration.Round(time.Millisecond/10), extra)
		case migrate.EventNote:
			say("upshift: %s", red.String(e.Text))
		}
	}
	rep, err := migrate.Run(ctx, conn, migrate.Config{
		Source: src, Table: table, Lock: id, LockWait: time.Duration(c.Timeout),
		DetachAfter: time.Duration(c.DetachAfter),
		Reconnect: func(ctx context.Context) (*pgx.Conn, error) {
			conn, _, err := c.Connect(ctx, env)
			return conn, err
		},
		Options: opts, DryRun: dryRun, Lint: lm,
		OnEvent: onEvent, Watch: c.watch && !dryRun,
	})
	activity.Clear()
	slowest = activity.Summary()
	rep.Fill(out)
	if err != nil {
		var le *migrate.LockError
		var ae *drizzle.ApplyError
		var roe *migrate.ReadOnlyError
		var rf *drizzle.Refusal
		var lerr *migrate.LintError
		switch {
		case errors.As(err, &le):
			hint := "another migration of this database is running or stuck; `upshift locks` shows it, `upshift unlock --service NAME --force` ends a stuck session; raise --timeout (MIGRATION_TIMEOUT) to wait longer"
			if le.OfTable {
				hint = "another service's migration writes " + table.String() + "; `upshift locks` shows it; raise --timeout (MIGRATION_TIMEOUT) to wait longer"
			}
			return finish(&exitError{code: ExitLockTimeout, err: err, hint: hint})
		case errors.As(err, &ae):
			return finish(reportApplyError(c.JSON(), src, red, err, out, activity.HeldBy(err)))
		case errors.As(err, &lerr):
			return finish(&exitError{code: ExitFailed, err: fmt.Errorf("--strict: %w", err), hint: lerr.ErrorHint()})
		case errors.As(err, &rf):
			return finish(&exitError{code: ExitFailed, err: err, hint: rf.Advice(opts.MarkOnly)})
		case errors.As(err, &roe) && roe.Standby:
			return finish(&exitError{code: ExitFailed, err: err, hint: "point --database-url (DATABASE_URL) at the primary"})
		}
		return finish(redactErr(red, interrupted(ctx, err, "nothing was changed")))
	}
	if rep.UpToDate {
		return finish(nil)
	}
	if dryRun {
		if !c.JSON() {
			fmt.Fprintf(env.Stdout, "dry run: %s pending in %s (%s) for %s; nothing will be changed\n", plural(len(rep.Prepared.Pending()), "migration"), src.Dir, src.Layout, cfg.Display)
			for _, e := range rep.Prepared.Pending() {
				line := "  " + e.Tag()
				if why := rep.Prepared.NoTransaction(e); why != "" {
					line += "  (outside a transaction: " + why + ")"
				}
				if why := rep.Prepared.Break(e); why != "" {
					line += "  (" + why + ")"
				}
				if c := rep.Prepared.Control(e); c != "" {
					line += "  (ends or opens a transaction itself: " + c + "; upshift follows the server's transaction state through it)"
				}
				fmt.Fprintln(env.Stdout, line)
			}
			fmt.Fprintf(env.Stdout, "\n%s", out.Script)
		}
		return finish(nil)
	}
	total := time.Since(started).Round(time.Millisecond)
	if opts.MarkOnly {
		say("done: %s recorded in %s", plural(len(out.Applied), "migration"), table)
	} else {
		say("done: %s applied in %s", plural(len(out.Applied), "migration"), total)
	}
	return finish(nil)
}

// github adds the run to the job summary and the step outputs, and a failed
// migration as an annotation on its file and line.
func (c *MigrateFlags) github(gh *ghactions.Workflow, red *redact.Set, out *mdoc.Document, err error, slowest string) {
	if !gh.On {
		return
	}
	gh.EndGroup()
	code := exitCode(err)
	if err != nil {
		msg, title := err.Error(), "upshift migrate failed"
		e := out.Error
		if e != nil && e.Message != "" {
			msg = e.Message
			if e.Code != "" {
				msg = "ERROR " + e.Code + ": " + e.Message
			}
		}
		file, line, col := "", 0, 0
		if e != nil && e.Tag != "" {
			file, line, col = e.File, e.Line, e.Column
			title = fmt.Sprintf("migration %s failed at statement %d", e.Tag, e.Statement)
		}
		gh.Annotate("error", file, line, col, title, red.String(msg))
	}
	gh.Summarize(out.Summary(code, err != nil) + red.String(slowest))
	gh.Output("applied", strings.Join(out.AppliedTags(), ","), "pending", strings.Join(out.Pending, ","), "exit-code", fmt.Sprint(code))
}

func interrupted(ctx context.Context, err error, what string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %s", what)
	}
	return err
}

// redactErr scrubs secrets from an error's text while keeping its type for
// exit codes; usage errors carry no secret and keep their own text.
func redactErr(r *redact.Set, err error) error {
	var ee *exitError
	var ie *drizzle.InputError
	if err == nil || errors.As(err, &ee) || errors.As(err, &ie) {
		return err
	}
	return r.Error(err)
}

// reportApplyError puts a failed run into the document, and its report
// (drizzle.ApplyError.Report) into the error that is printed.
func reportApplyError(asJSON bool, src *drizzle.Source, red *redact.Set, err error, out *mdoc.Document, heldBy string) error {
	var ae *drizzle.ApplyError
	if !errors.As(err, &ae) {
		return redactErr(red, err)
	}
	out.RolledBack = append(out.RolledBack, ae.RolledBack...)
	for _, ix := range ae.InvalidIndexes {
		out.InvalidIndexes = append(out.InvalidIndexes, mdoc.InvalidIndex{Name: ix.Name, Drop: ix.Drop})
	}
	out.Error = &errorJSON{Message: red.String(ae.Err.Error())}
	var me *drizzle.MigrationError
	if errors.As(err, &me) {
		out.Error = &errorJSON{Tag: me.Tag, File: me.File, Statement: me.Statement.Index + 1, Line: me.Line, Column: me.Column, Message: red.String(me.Err.Error())}
		if pg := me.PgErr; pg != nil {
			out.Error.Code, out.Error.Detail, out.Error.Hint, out.Error.Message = pg.Code, pg.Detail, pg.Hint, red.String(pg.Message)
		}
	}
	if asJSON {
		return &exitError{code: ExitFailed}
	}
	report := ae.Report(src)
	if heldBy != "" {
		report += "\n" + heldBy
	}
	return &exitError{code: ExitFailed, err: errors.New(red.String(report))}
}

// resolve decides the folder, table and database once (resolveSettings).
func (c *MigrateFlags) resolve(env *Env) (*kitconfig.Settings, error) {
	if c.settings != nil {
		return c.settings, nil
	}
	s, err := resolveSettings(env, &c.FolderFlags, &c.TableFlags, &c.DBFlags, c.JSON())
	c.settings = s
	return s, err
}
