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
	fail := func(err error) error {
		if asJSON {
			doc.Err = &errorJSON{Message: err.Error()}
			_ = writeJSON(env.Stdout, doc)
		}
		return err
	}
	if warning != "" && !asJSON {
		fmt.Fprintln(env.Stderr, "warning:", warning)
	}
	conn, cfg, err := db.Connect(ctx, env)
	if err != nil {
		return fail(err)
	}
	defer conn.Close(context.Background())
	doc.Database = cfg.Display
	ran, err := do(ctx, conn)
	doc.Ran = append(doc.Ran, ran...)
	if !asJSON {
		for _, r := range ran {
			fmt.Fprintf(env.Stdout, "%-50s %s\n", r.SQL, time.Duration(r.DurationMS*float64(time.Millisecond)).Round(time.Millisecond))
		}
	}
	if err != nil {
		return fail(redactErr(cfg.Redactor(), err))
	}
	if asJSON {
		return writeJSON(env.Stdout, doc)
	}
	return nil
}

func (c *DBBloatCmd) Run(ctx context.Context, env *Env) error {
	type doc struct {
		Database string            `json:"database"`
		MinDead  int64             `json:"min_dead"`
		Tables   []maint.TableStat `json:"tables"`
		Err      *errorJSON        `json:"error"`
	}
	out := doc{MinDead: c.MinDead, Tables: []maint.TableStat{}}
	fail := func(err error) error {
		if c.JSON() {
			out.Err = &errorJSON{Message: err.Error()}
			_ = writeJSON(env.Stdout, out)
		}
		return err
	}
	conn, cfg, err := c.Connect(ctx, env)
	if err != nil {
		return fail(err)
	}
	defer conn.Close(context.Background())
	out.Database = cfg.Display
	stats, err := maint.Bloat(ctx, conn, c.MinDead)
	if err != nil {
		return fail(redactErr(cfg.Redactor(), err))
	}
	out.Tables = append(out.Tables, stats...)
	if c.JSON() {
		return writeJSON(env.Stdout, out)
	}
	if len(stats) == 0 {
		fmt.Fprintf(env.Stdout, "no table of %s has %d or more dead tuples\n", cfg.Display, c.MinDead)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSIZE\tLIVE\tDEAD\tAUTOVACUUM AT\tLAST VACUUM\tLAST ANALYZE")
	for _, s := range stats {
		fmt.Fprintf(tw, "%s.%s\t%s\t%d\t%d (%.0f%%)\t%.0f\t%s\t%s\n", s.Schema, s.Table, s.Size, s.LiveTuples, s.DeadTuples, 100*s.DeadRatio,
			s.VacuumThreshold, when(s.LastVacuum, s.LastAutovacuum), when(s.LastAnalyze, s.LastAutoanalyze))
	}
	tw.Flush()
	fmt.Fprintln(env.Stdout)
	for _, s := range stats {
		fmt.Fprintf(env.Stdout, "  %s.%s: %s\n", s.Schema, s.Table, s.Suggestion)
	}
	return nil
}

// when is the later of a manual and an automatic run, for people.
func when(manual, auto *time.Time) string {
	var t *time.Time
	kind := ""
	switch {
	case manual != nil && (auto == nil || manual.After(*auto)):
		t, kind = manual, ""
	case auto != nil:
		t, kind = auto, " (auto)"
	}
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04") + kind
}
