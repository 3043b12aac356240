package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/upshift-dev/upshift/dbconn"
	"github.com/upshift-dev/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/lockids"
	"github.com/upshift-dev/upshift/pglock"
)

// LockidsCmd prints the lock registry and derived ids.
type LockidsCmd struct {
	OutputFlags
	Names []string `arg:"" optional:"" name:"service" help:"Services to show the lock id of."`
}

func (c *LockidsCmd) Run(env *Env) error {
	rows, err := lockids.List(c.Names)
	if err != nil {
		return usage(err, "lockids takes service names")
	}
	if c.JSON() {
		return writeJSON(env.Stdout, rows)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tLOCK ID\tSOURCE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", r.Service, r.ID, r.Source)
	}
	return tw.Flush()
}

// WaitCmd blocks until the database accepts connections.
type WaitCmd struct {
	DatabaseURL string          `name:"database-url" env:"DATABASE_URL" placeholder:"URL" help:"PostgreSQL URL; empty: libpq's PG* variables."`
	Timeout     cliutil.Seconds `name:"timeout" default:"60s" placeholder:"DURATION" help:"Give up after this long: seconds, or a duration such as 90s. Default: 60s."`
	Interval    cliutil.Seconds `name:"interval" default:"250ms" placeholder:"DURATION" help:"Pause between attempts. Default: 250ms."`
	OutputFlags
}

func (c *WaitCmd) Run(ctx context.Context, env *Env) error {
	cfg, err := dbconn.Parse(c.DatabaseURL, "upshift "+buildVersion()+" wait")
	if err != nil {
		return err
	}
	start := time.Now()
	// Transient failures are retried for the whole --timeout at a steady
	// pace; a wrong password or a missing database ends the wait at once.
	conn, err := dbconn.Connect(ctx, cfg, dbconn.Retry{Window: time.Duration(c.Timeout), Backoff: time.Duration(c.Interval), MaxBackoff: time.Duration(c.Interval)})
	var ce *dbconn.ConnectError
	if errors.As(err, &ce) && ce.Transient {
		return &exitError{code: ExitFailed, err: fmt.Errorf("%s did not accept connections within %s: %v", cfg.Display, time.Duration(c.Timeout), ce.Err),
			hint: "is the server running and reachable at that host and port? raise --timeout if it needs longer to start"}
	}
	if err != nil {
		return err
	}
	conn.Close(context.Background())
	if c.JSON() {
		return writeJSON(env.Stdout, map[string]any{"database": cfg.Display, "ready": true, "waited_ms": time.Since(start).Milliseconds()})
	}
	fmt.Fprintf(env.Stdout, "%s accepts connections (after %s)\n", cfg.Display, time.Since(start).Round(time.Millisecond))
	return nil
}

// DBCmd groups database-level commands.
type DBCmd struct {
	Create  DBCreateCmd  `cmd:"" help:"Create the database named in the URL if it does not exist."`
	Analyze DBAnalyzeCmd `cmd:"" help:"ANALYZE the database (or --table): fresh statistics for the planner."`
	Vacuum  DBVacuumCmd  `cmd:"" help:"VACUUM the database (or --table) to reclaim dead rows; --analyze too. Never FULL without --full."`
	Bloat   DBBloatCmd   `cmd:"" help:"Tables by dead tuples: size, last (auto)vacuum and (auto)analyze, autovacuum's threshold, and what to do."`
}

// DBCreateCmd creates the database of the URL.
type DBCreateCmd struct {
	DBFlags
	OutputFlags
	Maintenance string `name:"maintenance-db" default:"postgres" help:"Database to connect to while creating it."`
}

func (c *DBCreateCmd) Run(ctx context.Context, env *Env) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	return createDatabase(ctx, env, c.JSON(), cfg, c.Maintenance, c.retry())
}

// createDatabase creates the database the URL names when it is missing.
func createDatabase(ctx context.Context, env *Env, asJSON bool, cfg *dbconn.Config, maintenance string, retry dbconn.Retry) error {
	created, err := dbconn.EnsureDatabase(ctx, cfg, maintenance, retry)
	switch {
	case errors.Is(err, dbconn.ErrNoDatabase):
		return &exitError{code: ExitUsage, err: err}
	case err != nil:
		return redactErr(cfg.Redactor(), err)
	case asJSON:
		return writeJSON(env.Stdout, map[string]any{"database": cfg.Conn.Database, "created": created})
	case created:
		fmt.Fprintf(env.Stdout, "created database %q\n", cfg.Conn.Database)
	default:
		fmt.Fprintf(env.Stdout, "database %q already exists\n", cfg.Conn.Database)
	}
	return nil
}

// LocksCmd lists advisory locks with their holders.
type LocksCmd struct {
	DBFlags
	OutputFlags
}

func (c *LocksCmd) Run(ctx context.Context, env *Env) error {
	conn, cfg, err := c.Connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	hs, err := pglock.Holders(ctx, conn, nil)
	if err != nil {
		return redactErr(cfg.Redactor(), err)
	}
	rows := append([]pglock.Holder{}, hs...)
	if c.JSON() {
		return writeJSON(env.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(env.Stdout, "no advisory locks are held in this database")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCK ID\tSERVICE\tGRANTED\tPID\tAPPLICATION\tCLIENT\tCONNECTED SINCE\tSTATE")
	for _, r := range rows {
		since := "-"
		if r.BackendStart != nil {
			since = r.BackendStart.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%v\t%d\t%s\t%s\t%s\t%s\n", r.LockID, orDash(r.Service), r.Granted, r.PID, orDash(r.ApplicationName), r.ClientAddr, since, r.State)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// UnlockCmd shows, and with --force ends, the session holding a lock.
type UnlockCmd struct {
	DBFlags
	TableFlags
	OutputFlags
	LockID *int64 `name:"lock-id" placeholder:"N" help:"Lock id instead of the service's."`
	Force  bool   `name:"force" help:"Terminate the holding session (pg_terminate_backend); its transaction rolls back."`
}

func (c *UnlockCmd) Run(ctx context.Context, env *Env) error {
	if _, err := resolveSettings(env, nil, &c.TableFlags, &c.DBFlags, c.JSON()); err != nil {
		return err
	}
	id, _ := lockID(&LockFlags{LockID: c.LockID}, c.Service, c.Table())
	conn, cfg, err := c.Connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	held, err := pglock.Held(ctx, conn, id)
	if err != nil {
		return redactErr(cfg.Redactor(), err)
	}
	doc := struct {
		LockID     lockids.ID      `json:"lock_id"`
		Held       bool            `json:"held"`
		Holders    []pglock.Holder `json:"holders"`
		Terminated []int           `json:"terminated"`
	}{LockID: id, Held: len(held) > 0, Holders: held, Terminated: []int{}}
	say := func(format string, args ...any) {
		if !c.JSON() {
			fmt.Fprintf(env.Stdout, format+"\n", args...)
		}
	}
	done := func(err error) error {
		if c.JSON() && err == nil {
			return writeJSON(env.Stdout, doc)
		}
		return err
	}
	if len(held) == 0 {
		say("advisory lock %d is not held", id)
		return done(nil)
	}
	for _, h := range held {
		say("advisory lock %d is held by %s", id, h)
		if h.Query != "" {
			say("  last query: %s", oneLine(h.Query))
		}
	}
	if !c.Force {
		say("pg_advisory_unlock from another session cannot release it; rerun with --force to end that session (pg_terminate_backend), which rolls back its open transaction")
		return done(nil)
	}
	for _, h := range held {
		if err := pglock.Terminate(ctx, conn, h.PID); err != nil {
			return redactErr(cfg.Redactor(), err)
		}
		doc.Terminated = append(doc.Terminated, h.PID)
		say("terminated pid %d; the lock is released", h.PID)
	}
	return done(nil)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
