package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/migrate"
)

// StatusCmd reports the state of every migration.
type StatusCmd struct {
	FolderFlags
	TableFlags
	DBFlags
	OutputFlags
	ExitCode bool `name:"exit-code" help:"Exit 4 when any migration is pending, modified, missing or out of order (a boot-time or CI gate)."`
}

func (c *StatusCmd) Run(ctx context.Context, env *Env) error {
	settings, err := resolveSettings(env, &c.FolderFlags, &c.TableFlags, &c.DBFlags, c.JSON())
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
	if len(src.Migrations) == 0 {
		pending.drop()
		if c.JSON() {
			doc := (*migrate.Status)(nil).Document(src, "", table)
			doc.Settings = migrate.Settings(settings)
			return writeJSON(env.Stdout, doc)
		}
		fmt.Fprintf(env.Stdout, "%s holds no migrations\n", src.Dir)
		return nil
	}
	conn, cfg, err := pending.take(ctx, &c.DBFlags, env)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	st, err := migrate.ReadStatus(ctx, conn, src, table)
	if err != nil {
		return cfg.Redactor().Error(err)
	}
	sum := st.Summary()
	if c.JSON() {
		doc := st.Document(src, cfg.Display, table)
		doc.Settings = migrate.Settings(settings)
		if err := writeJSON(env.Stdout, doc); err != nil {
			return err
		}
	} else {
		for _, w := range st.Plan.Warnings {
			fmt.Fprintln(env.Stderr, "warning:", w)
		}
		printStatus(env, src, cfg.Display, table, st, sum)
	}
	if c.ExitCode && !sum.UpToDate {
		return &exitError{code: ExitDrift}
	}
	return nil
}

func printStatus(env *Env, src *drizzle.Source, db string, table drizzle.Table, st *migrate.Status, sum migrate.Summary) {
	plan, shape := st.Plan, st.Shape
	w := env.Stdout
	fmt.Fprintf(w, "migrations  %s (%s, %s)\n", src.Dir, src.Layout, plural(len(src.Migrations), "migration"))
	fmt.Fprintf(w, "database    %s\n", db)
	shapeNote := string(shape)
	if shape == drizzle.ShapeMissing {
		shapeNote = "not created yet"
	}
	fmt.Fprintf(w, "table       %s (%s)\n\n", table, shapeNote)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TAG\tCREATED (UTC)\tSTATE\tAPPLIED AT (UTC)")
	var notes []string
	for _, e := range plan.Entries {
		created, applied := "-", "-"
		if ms, ok := e.CreatedAt(); ok {
			created = millisUTC(ms)
		}
		if e.Row != nil && e.Row.AppliedAt != nil {
			applied = e.Row.AppliedAt.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Tag(), created, e.State, applied)
		switch e.State {
		case drizzle.StateModified:
			notes = append(notes, fmt.Sprintf("%s: %s was changed after it was applied (file hash %s, recorded %s)", e.Tag(), src.Path(e.Migration.File), short(e.Migration.Hash), short(e.Row.Hash)))
		case drizzle.StateMissing:
			notes = append(notes, fmt.Sprintf("%s: row id %d (hash %s) has no migration in %s", e.Tag(), e.Row.ID, short(e.Row.Hash), src.Dir))
		case drizzle.StateOutOfOrder:
			notes = append(notes, fmt.Sprintf("%s: %s; drizzle-orm 0.x skips it silently, `upshift migrate --allow-out-of-order` applies it", e.Tag(), e.Note))
		case drizzle.StatePending:
			if e.Note != "" {
				notes = append(notes, fmt.Sprintf("%s: %s", e.Tag(), e.Note))
			}
		}
		if p := st.Partly(e); p != nil {
			ran := fmt.Sprintf("statement 1 of %d ran", p.Total)
			if p.Done > 1 {
				ran = fmt.Sprintf("statements 1–%d of %d ran", p.Done, p.Total)
			}
			notes = append(notes, fmt.Sprintf("%s: partly applied: %s outside a transaction (%s, %s UTC); `upshift migrate` resumes at the next one",
				e.Tag(), ran, table.ProgressTable(), p.UpdatedAt.UTC().Format("2006-01-02 15:04:05")))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, "  "+n)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%s: %s\n", plural(len(plan.Entries), "migration"), sum)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
