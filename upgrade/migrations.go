package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// What a setup step applied is known two ways. Normally from upshift
// migrate's typed result line at the end of the step's output. When the
// step was interrupted or failed, or its command is not upshift, that line
// never arrives: then the migrations table itself, read through psql in
// the database's container before the step and after it, is the truth.
// The mark before is journaled with the run, so that a rerun after a dead
// upshift can tell what the dead run applied.

// Sources of SetupRecord.Migrations.
const (
	FromResult  = "result"
	FromTable   = "table"
	FromPending = "pending" // pending at the dead run's check, no longer at the rerun's
	FromUnknown = "unknown"
)

// tableRow is one row of drizzle's migrations table (0.x or 1.x shape).
type tableRow struct {
	ID        int64   `json:"id"`
	Hash      string  `json:"hash"`
	CreatedAt *int64  `json:"created_at"`
	Name      *string `json:"name"`
}

// label is how a row reads in the history: its name (drizzle-orm 1.x
// tables), else its folder timestamp and hash (0.x tables keep no tag).
func (r tableRow) label() string {
	if r.Name != nil && *r.Name != "" {
		return *r.Name
	}
	h := r.Hash
	if len(h) > 12 {
		h = h[:12]
	}
	if r.CreatedAt != nil {
		return fmt.Sprintf("created_at %d (hash %s)", *r.CreatedAt, h)
	}
	return "hash " + h
}

// tableAccess is where the migrations table is read: psql in the
// database's container, as the setup service's DATABASE_URL names it.
type tableAccess struct {
	db    Backup
	ident string // "schema"."table"
}

// tableOf finds the setup service's database and migrations table; ok is
// false (with the reason) when the project does not say.
func (x *Executor) tableOf(setup string) (tableAccess, string) {
	if setup == "" {
		return tableAccess{}, "no setup step"
	}
	b, err := ResolveBackup(x.Project, Backup{}, setup, false)
	if err != nil {
		return tableAccess{}, err.Error()
	}
	schema, table := "drizzle", "__drizzle_migrations"
	if s := x.Project.Services[setup]; s != nil {
		if v := s.Env["MIGRATIONS_SCHEMA"]; v != "" {
			schema = v
		}
		if v := s.Env["MIGRATIONS_TABLE"]; v != "" {
			table = v
		}
	}
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	return tableAccess{db: b, ident: q(schema) + "." + q(table)}, ""
}

// readTable returns the migrations table's rows (none when it does not
// exist yet).
func (x *Executor) readTable(ctx context.Context, a tableAccess) ([]tableRow, error) {
	user, db, port := dumpTarget(a.db)
	// VERBOSITY=sqlstate: a missing table or schema reads as its code.
	q := compose.ExecOptions{Service: a.db.Service, SecretEnv: []string{"PGPASSWORD=" + password(a.db)},
		Command: []string{"psql", "-X", "-At", "--no-password", "-v", "VERBOSITY=sqlstate", "-h", "127.0.0.1", "-p", port, "-U", user, "-d", db,
			"-c", "SELECT to_jsonb(t) FROM " + a.ident + " t ORDER BY id"}}
	var rows []tableRow
	var other []string
	err := x.Compose.Exec(ctx, q, func(l string) {
		var r tableRow
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &r) == nil {
			rows = append(rows, r)
			return
		}
		other = append(other, x.redact(l))
	})
	if err != nil {
		for _, l := range other {
			if strings.Contains(l, "42P01") || strings.Contains(l, "3F000") {
				return nil, nil // undefined table or schema: nothing applied yet
			}
		}
		if len(other) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.Join(other, " / "))
		}
		return nil, fmt.Errorf("read the migrations table %s in the %s container: %w", a.ident, a.db.Service, err)
	}
	return rows, nil
}

func mark(rows []tableRow) *TableMark {
	m := &TableMark{Rows: len(rows)}
	for _, r := range rows {
		m.LastID = max(m.LastID, r.ID)
	}
	return m
}

// since lists the rows added after m.
func since(rows []tableRow, m *TableMark) []string {
	out := []string{}
	for _, r := range rows {
		if r.ID > m.LastID {
			out = append(out, r.label())
		}
	}
	return out
}

// markTable journals the table as it is before anything can migrate, once
// per run. A table that cannot be read is a note, not a failure: the result
// line still tells what a finished step applied.
func (x *Executor) markTable(ctx context.Context, rec *Record, req Request) {
	if rec.TableBefore != nil || req.Setup == "" || rec.tableUnreadable != "" {
		return
	}
	a, why := x.tableOf(req.Setup)
	if why == "" && !x.runs(ctx, a.db.Service) {
		return // not up yet (a first deploy): the setup step starts it; try again then
	}
	var rows []tableRow
	var err error
	if why == "" {
		rows, err = x.readTable(ctx, a)
		if err != nil {
			why = err.Error()
		}
	}
	if why != "" {
		rec.tableUnreadable = why
		x.emit(Event{Kind: EventNote, Text: "the migrations table cannot be read from here (" + why + "): what the setup step applies is known from its result line only"})
		return
	}
	rec.TableBefore = mark(rows)
}

// tableDiff is what the table gained since the mark, read after a step
// that did not report it; ok is false when it cannot be read.
func (x *Executor) tableDiff(ctx context.Context, rec *Record, setup string) ([]string, bool) {
	if rec.TableBefore == nil {
		return nil, false
	}
	a, why := x.tableOf(setup)
	if why != "" {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rows, err := x.readTable(ctx, a)
	if err != nil {
		x.emit(Event{Kind: EventNote, Text: "could not read what the setup step applied: " + err.Error()})
		return nil, false
	}
	return since(rows, rec.TableBefore), true
}

// settleSetup finds what a dead upgrade's setup step applied (it never
// read its result line) from the table and the mark it journaled, and
// records it in that run before the run goes to the history.
func (x *Executor) settleSetup(ctx context.Context, rec, dead *Record, setup string) {
	if dead.Kind != KindUpgrade || dead.TableBefore == nil || dead.Setup == nil || dead.Setup.Source == FromResult {
		return
	}
	applied, ok := x.tableDiff(ctx, dead, setup)
	if !ok {
		return
	}
	dead.Setup.Migrations, dead.Setup.Source = applied, FromTable
	if len(applied) > 0 {
		n := fmt.Sprintf("the interrupted %s had applied %s before it died (read from the migrations table); they stay applied", dead.ID, strings.Join(applied, ", "))
		rec.Notes = append(rec.Notes, n)
		x.emit(Event{Kind: EventNote, Text: n})
	}
}

// cleanOneOffs settles the setup service's one-off containers that a dead
// run left: one still running is a migration that outlived its upshift
// (kill -9 does not reach docker compose's own process group), waited for
// so that what it applies is accounted to that run; then every one that
// `run --rm` never got to remove (created or exited) is removed.
func (x *Executor) cleanOneOffs(ctx context.Context, rec *Record, setup string) {
	if setup == "" {
		return
	}
	cs, err := x.Engine.OneOffs(ctx, x.Project.Name, setup)
	if err != nil {
		return
	}
	note := func(n string) {
		rec.Notes = append(rec.Notes, n)
		x.emit(Event{Kind: EventNote, Text: n})
	}
	for _, c := range cs {
		if c.Running() || c.State == "restarting" {
			note(fmt.Sprintf("%s, a one-off container of %s, still runs: a migration of an earlier run is still under way; waiting for it to end (up to %s)", c.Name, setup, oneOffWait))
			deadline := x.now().Add(oneOffWait)
			for c.Running() && x.now().Before(deadline) && ctx.Err() == nil {
				if x.wait(ctx, 500*time.Millisecond) != nil {
					break
				}
				if c, err = x.Engine.Inspect(ctx, c.ID); err != nil {
					break
				}
			}
			if err != nil {
				continue // gone: run --rm removed it
			}
			if c.Running() {
				note(fmt.Sprintf("%s still runs; left alone (the advisory lock makes this run's setup wait for it)", c.Name))
				continue
			}
		}
		if err := x.Engine.StopAndRemove(ctx, c.ID, time.Second); err != nil && !errors.Is(err, context.Canceled) {
			x.emit(Event{Kind: EventNote, Text: "could not remove " + c.Name + ": " + err.Error()})
			continue
		}
		note(fmt.Sprintf("removed %s, %s one-off container of %s that an interrupted run left", c.Name, article(c.State), setup))
	}
}

// oneOffWait bounds the wait for a dead run's migration.
const oneOffWait = 5 * time.Minute

func article(state string) string {
	if state == "" {
		return "a stopped"
	}
	if strings.IndexByte("aeiou", state[0]) >= 0 {
		return "an " + state
	}
	return "a " + state
}

// stopOneOffs stops and removes the one-off containers of a setup step
// that failed or was interrupted: docker compose does not always take its
// container down when it is itself interrupted, and a migration that goes
// on in the background would land after the run had read the table. The
// container gets its stop_grace_period (30 s at least): upshift migrate
// rolls back its transaction on SIGTERM.
func (x *Executor) stopOneOffs(ctx context.Context, service string) {
	ctx = context.WithoutCancel(ctx)
	cs, err := x.Engine.OneOffs(ctx, x.Project.Name, service)
	if err != nil {
		return
	}
	grace := 30 * time.Second
	if s := x.Project.Services[service]; s != nil && s.StopGrace > grace {
		grace = s.StopGrace
	}
	for _, c := range cs {
		if err := x.Engine.StopAndRemove(ctx, c.ID, grace); err != nil {
			x.emit(Event{Kind: EventNote, Text: "could not stop " + c.Name + ": " + err.Error()})
		}
	}
}

// runs says whether a container of service runs.
func (x *Executor) runs(ctx context.Context, service string) bool {
	cs, err := x.Engine.Containers(ctx, x.Project.Name, service)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Running() {
			return true
		}
	}
	return false
}
