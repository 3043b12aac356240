package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/maint"
)

// DBAnalyzeCmd runs ANALYZE.
type DBAnalyzeCmd struct {
	DBFlags
	OutputFlags
	Table []string `name:"table" placeholder:"SCHEMA.TABLE" help:"Table to analyze (repeatable). Default: the whole database."`
}

// DBVacuumCmd runs VACUUM.
type DBVacuumCmd struct {
	DBFlags
	OutputFlags
	Table   []string `name:"table" placeholder:"SCHEMA.TABLE" help:"Table to vacuum (repeatable). Default: the whole database."`
	Analyze bool     `name:"analyze" help:"ANALYZE as well."`
	Full    bool     `name:"full" help:"VACUUM FULL: rewrites each table under an ACCESS EXCLUSIVE lock (reads and writes wait for the whole rewrite). Only in a maintenance window."`
}

// DBBloatCmd reports dead tuples.
type DBBloatCmd struct {
	DBFlags
	OutputFlags
	MinDead int64 `name:"min-dead" default:"1000" help:"Only tables with at least this many dead tuples."`
}

type maintJSON struct {
	Database string         `json:"database"`
	Ran      []maint.Result `json:"ran"`
	Warning  string         `json:"warning,omitempty"`
	Err      *errorJSON     `json:"error"`
}

func tables(names []string) []maint.Table {
	out := make([]maint.Table, 0, len(names))
	for _, n := range names {
		out = append(out, maint.Table(n))
	}
	return out
}

func (c *DBAnalyzeCmd) Run(ctx context.Context, env *Env) error {
	return runMaint(ctx, env, &c.DBFlags, c.JSON(), "", func(ctx context.Context, conn *pgx.Conn) ([]maint.Result, error) {
		return maint.Analyze(ctx, conn, tables(c.Table))
	})
}

func (c *DBVacuumCmd) Run(ctx context.Context, env *Env) error {
	warning := ""
	if c.Full {
		warning = "VACUUM FULL rewrites each table under an ACCESS EXCLUSIVE lock: every read and write of it waits until its rewrite ends, and it needs free disk for a full copy"
	}
	return runMaint(ctx, env, &c.DBFlags, c.JSON(), warning, func(ctx context.Context, conn *pgx.Conn) ([]maint.Result, error) {
		return maint.Vacuum(ctx, conn, maint.VacuumOptions{Analyze: c.Analyze, Full: c.Full, Tables: tables(c.Table)})
	})
}

func runMaint(ctx context.Context, env *Env, db *DBFlags, asJSON bool, warning string, do func(context.Context, *pgx.Conn) ([]maint.Result, error)) error {
	doc := maintJSON{Ran: []maint.Result{}, Warning: warning}
	if warning != "" && !asJSON {
		fmt.Fprintln(env.Stderr, "warning:", warning)
	}
	return withDB(ctx, env, db, asJSON, &doc, &doc.Err, func(conn *pgx.Conn, display string) error {
		doc.Database = display
		ran, err := do(ctx, conn)
		doc.Ran = append(doc.Ran, ran...)
		if !asJSON {
			for _, r := range ran {
				fmt.Fprintf(env.Stdout, "%-50s %s\n", r.SQL, time.Duration(r.DurationMS*float64(time.Millisecond)).Round(time.Millisecond))
			}
		}
		return err
	})
}

// withDB connects, runs fn, and ends a JSON document (doc) with its error
// (set through errp) on every path; fn's errors are scrubbed of secrets.
func withDB(ctx context.Context, env *Env, db *DBFlags, asJSON bool, doc any, errp **errorJSON, fn func(conn *pgx.Conn, display string) error) error {
	conn, cfg, err := db.Connect(ctx, env)
	if err == nil {
		defer conn.Close(context.Background())
		err = redactErr(cfg.Redactor(), fn(conn, cfg.Display))
	}
	if asJSON {
		return endJSON(env.Stdout, doc, errp, err)
	}
	return err
}

func (c *DBBloatCmd) Run(ctx context.Context, env *Env) error {
	out := struct {
		Database string            `json:"database"`
		MinDead  int64             `json:"min_dead"`
		Tables   []maint.TableStat `json:"tables"`
		Err      *errorJSON        `json:"error"`
	}{MinDead: c.MinDead, Tables: []maint.TableStat{}}
	return withDB(ctx, env, &c.DBFlags, c.JSON(), &out, &out.Err, func(conn *pgx.Conn, display string) error {
		out.Database = display
		stats, err := maint.Bloat(ctx, conn, c.MinDead)
		if err != nil || c.JSON() {
			out.Tables = append(out.Tables, stats...)
			return err
		}
		if len(stats) == 0 {
			fmt.Fprintf(env.Stdout, "no table of %s has %d or more dead tuples\n", display, c.MinDead)
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tSIZE\tLIVE\tDEAD\tAUTOVACUUM AT\tLAST VACUUM\tLAST ANALYZE")
		for _, s := range stats {
			fmt.Fprintf(tw, "%s.%s\t%s\t%d\t%d (%.0f%%)\t%.0f\t%s\t%s\n", s.Schema, s.Table, s.Size, s.LiveTuples, s.DeadTuples, 100*s.DeadRatio,
				s.VacuumThreshold, maint.Latest(s.LastVacuum, s.LastAutovacuum), maint.Latest(s.LastAnalyze, s.LastAutoanalyze))
		}
		tw.Flush()
		fmt.Fprintln(env.Stdout)
		for _, s := range stats {
			fmt.Fprintf(env.Stdout, "  %s.%s: %s\n", s.Schema, s.Table, s.Suggestion)
		}
		return nil
	})
}
