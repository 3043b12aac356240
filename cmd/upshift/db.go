package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/dbconn"
)

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
