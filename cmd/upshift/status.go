package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/upshift-dev/upshift/drizzle"
	mdoc "github.com/upshift-dev/upshift/migrate/result"
)

// StatusCmd reports the state of every migration.
type StatusCmd struct {
	FolderFlags
	TableFlags
	DBFlags
	OutputFlags
	ExitCode bool `name:"exit-code" help:"Exit 4 when any migration is pending, modified, missing or out of order (a boot-time or CI gate)."`
}

// migrationJSON is one migration in --format json output.
type migrationJSON struct {
	Tag          string     `json:"tag"`
	File         string     `json:"file,omitempty"`
	CreatedAt    *int64     `json:"created_at"`
	Created      string     `json:"created,omitempty"`
	Hash         string     `json:"hash,omitempty"`
	State        string     `json:"state"`
	ID           *int64     `json:"id,omitempty"`
	RecordedHash string     `json:"recorded_hash,omitempty"`
	AppliedAt    *time.Time `json:"applied_at,omitempty"`
	Note         string     `json:"note,omitempty"`
	// Progress of a no-transaction migration that an earlier run left
	// half done (null otherwise).
	Progress *drizzle.Progress `json:"progress"`
}

type summaryJSON struct {
	Applied    int  `json:"applied"`
	Pending    int  `json:"pending"`
	Modified   int  `json:"modified"`
	Missing    int  `json:"missing"`
	OutOfOrder int  `json:"out_of_order"`
	UpToDate   bool `json:"up_to_date"`
}

type statusJSON struct {
	Dir        string                  `json:"dir"`
	Layout     string                  `json:"layout"`
	Database   string                  `json:"database,omitempty"`
	Table      string                  `json:"table"`
	TableShape string                  `json:"table_shape,omitempty"`
	Migrations []migrationJSON         `json:"migrations"`
	Summary    summaryJSON             `json:"summary"`
	Warnings   []drizzle.Warning       `json:"warnings"`
	Settings   map[string]mdoc.Setting `json:"settings"`
}

func entryJSON(e *drizzle.Entry) migrationJSON {
	j := migrationJSON{Tag: e.Tag(), State: string(e.State), Note: e.Note}
	if ms, ok := e.CreatedAt(); ok {
		j.CreatedAt = &ms
		j.Created = time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	if m := e.Migration; m != nil {
		j.File, j.Hash = m.File, m.Hash
	}
	if r := e.Row; r != nil {
		j.ID = &r.ID
		j.AppliedAt = r.AppliedAt
		if e.Migration == nil || r.Hash != e.Migration.Hash {
			j.RecordedHash = r.Hash
		}
	}
	return j
}

func summarize(p *drizzle.Plan) summaryJSON {
	n := p.Count()
	return summaryJSON{
		Applied: n[drizzle.StateApplied], Pending: n[drizzle.StatePending], Modified: n[drizzle.StateModified],
		Missing: n[drizzle.StateMissing], OutOfOrder: n[drizzle.StateOutOfOrder], UpToDate: p.UpToDate(),
	}
}

func (s summaryJSON) String() string {
	part := func(n int, label string) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf("%d %s", n, label)
	}
	out := joinNonEmpty(part(s.Applied, "applied"), part(s.Pending, "pending"), part(s.Modified, "modified"),
		part(s.Missing, "missing"), part(s.OutOfOrder, "out of order"))
	if out == "" {
		return "nothing applied, nothing pending"
	}
	return out
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
			return writeJSON(env.Stdout, statusJSON{Settings: settingsJSON(settings), Dir: src.Dir, Layout: string(src.Layout), Table: table.String(),
				Migrations: []migrationJSON{}, Summary: summaryJSON{UpToDate: true}, Warnings: nonNil(src.Warnings)})
		}
		fmt.Fprintf(env.Stdout, "%s holds no migrations\n", src.Dir)
		return nil
	}
	conn, cfg, err := pending.take(ctx, &c.DBFlags, env)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	shape, rows, err := drizzle.ReadTable(ctx, conn, table)
	if err != nil {
		return fmt.Errorf("%s", cfg.Redactor().String(err.Error()))
	}
	plan := drizzle.NewPlan(src, table, shape, rows)
	sum := summarize(plan)
	progress, err := drizzle.ReadProgress(ctx, conn, table)
	if err != nil {
		return fmt.Errorf("%s", cfg.Redactor().String(err.Error()))
	}
	partly := func(e *drizzle.Entry) *drizzle.Progress {
		if e.Migration == nil || e.State == drizzle.StateApplied {
			return nil
		}
		p, ok := progress[e.Migration.Tag]
		if !ok {
			return nil
		}
		p.Total = drizzle.StatementCount(e.Migration)
		return &p
	}
	if c.JSON() {
		out := statusJSON{Settings: settingsJSON(settings), Dir: src.Dir, Layout: string(src.Layout), Database: cfg.Display, Table: table.String(),
			TableShape: string(shape), Summary: sum, Warnings: nonNil(append(src.Warnings, plan.Warnings...))}
		for _, e := range plan.Entries {
			j := entryJSON(e)
			j.Progress = partly(e)
			out.Migrations = append(out.Migrations, j)
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		for _, w := range plan.Warnings {
			fmt.Fprintln(env.Stderr, "warning:", w)
		}
		printStatus(env, src, cfg.Display, table, shape, plan, sum, partly)
	}
	if c.ExitCode && !sum.UpToDate {
		return &exitError{code: ExitDrift}
	}
	return nil
}

func nonNil(w []drizzle.Warning) []drizzle.Warning {
	if w == nil {
		return []drizzle.Warning{}
	}
	return w
}

func printStatus(env *Env, src *drizzle.Source, db string, table drizzle.Table, shape drizzle.Shape, plan *drizzle.Plan, sum summaryJSON, partly func(*drizzle.Entry) *drizzle.Progress) {
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
		if p := partly(e); p != nil {
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
