// Package upgrade moves a docker compose deployment to new images the way
// the documented procedure does — pin, pull, stop, run the setup service,
// start, verify — and puts the previous images back by itself when the new
// version does not answer. It observes through compose.Engine, which also
// pins images and retires single containers (a rolling upgrade's old ones,
// a dead run's one-offs); every compose verb (pull, build, stop, run, up)
// goes through the user's compose CLI (compose.API); and it reports through
// events, so that the CLI, CI and library users see the same protocol. A
// Swarm stack (Stack) goes through the engine's API alone. Both are one
// journaled run loop with one failure policy (run.go) over a small engine
// interface that each implements (composeRun, stackRun).
package upgrade

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/migrate/result"
)

// EventKind tells events apart.
type EventKind int

const (
	EventStep     EventKind = iota // a step starts
	EventStepDone                  // a step ended (Err set when it failed)
	EventOutput                    // a line from a compose command (Source: the setup service for its output)
	EventNote                      // something the operator should know
	EventWaiting                   // waiting for the deploy lock
)

// Event is what the executor reports as it goes.
type Event struct {
	Kind     EventKind
	Step     string
	Source   string
	Text     string
	Commands []string
	API      []string // engine API requests (a stack's steps), not commands
	Duration time.Duration
	Err      error
}

// Executor runs upgrades and rollbacks of one compose project: the run
// loop (Runner) over the compose engine (composeRun): containers observed
// and pinned through the engine, every compose verb through the user's
// compose CLI.
type Executor struct {
	*Runner
	Project *compose.Project
	Engine  compose.Engine
	Compose compose.API
}

// Error is a failed run; Record says how far it got and what state it left.
type Error struct {
	Record *Record
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Upgrade runs the upgrade sequence for req. The returned record is filled
// on every path; the error is nil only when the new images run and answer.
func (x *Executor) Upgrade(ctx context.Context, req Request) (*Record, error) {
	return x.upgrade(ctx, &composeRun{x: x, req: req}, runSpec{Services: req.Services, Setup: req.Setup, Health: req.Health, DryRun: req.DryRun})
}

// planned ends a dry run: the steps as the record and the events show
// them, nothing run.
func (x *Runner) planned(eng engine, rec *Record, steps []Step) *Record {
	rec.Outcome = Planned
	for i := range rec.Services {
		// What an upgrade would move to: the image the file names (a
		// rollback's target is set already).
		if s := &rec.Services[i]; s.To == nil && rec.Kind == KindUpgrade {
			s.To = &Image{Ref: eng.image(s.Name)}
		}
	}
	for _, st := range steps {
		commands := x.commands(eng, st)
		rec.Steps = append(rec.Steps, StepRecord{Name: st.Name, Status: StepPlanned, What: x.redact(st.What), Commands: commands, API: x.api(st)})
		x.emit(Event{Kind: EventStep, Step: st.Name, Text: st.What, Commands: commands, API: x.api(st)})
	}
	x.finish(rec, nil)
	return rec
}

// preflight refuses, before the lock is taken or anything is touched, what
// would fail later: a health check that cannot work, a state folder that
// cannot record the run.
func (x *Runner) preflight(ctx context.Context, h Health, dryRun bool) error {
	if err := h.Check(); err != nil {
		return err
	}
	if dryRun {
		return nil
	}
	return x.Store.Check(context.WithoutCancel(ctx))
}

// resolveOnce has the run's compose verbs read one resolved copy of the
// services it touches when the project's files are large, instead of
// every verb parsing them again (compose.CLI.UseResolved); it returns the
// cleanup.
func (x *Executor) resolveOnce(rec *Record, services []string) func() {
	r, ok := x.Compose.(interface {
		UseResolved(path string, services []string) (func(), error)
	})
	if !ok {
		return func() {}
	}
	var names []string
	for _, s := range services {
		if s != "" && x.Project.Services[s] != nil && !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	done, err := r.UseResolved(filepath.Join(x.Local.Dir, "resolved-"+rec.ID+".yml"), names)
	switch {
	case err != nil:
		x.emit(Event{Kind: EventNote, Text: "could not write a resolved copy of the project (" + err.Error() + "): every compose verb reads the files"})
	case x.Project.Bytes >= compose.ResolvedThreshold:
		rec.Notes = append(rec.Notes, fmt.Sprintf("the compose files hold %d KiB: every compose verb of this run read one resolved copy of %s instead", x.Project.Bytes>>10, strings.Join(names, ", ")))
	}
	if err != nil {
		return done
	}
	// The copy holds the project's interpolated secrets: it goes also
	// when a second signal ends upshift at once.
	return x.onAbandon(done)
}

// failed marks a run failed with err (nothing changed unless the outcome
// says otherwise).
func (x *Runner) failed(rec *Record, err error) (*Record, error) {
	if rec.Outcome == Running {
		rec.Outcome = Failed
	}
	rec.Error = x.redact(err.Error())
	return rec, &Error{Record: rec, Err: err}
}

// resume takes over a run that a dead upshift left: the images that ran
// before it are the ones to return to, not whatever it left running.
func (x *Runner) resume(ctx context.Context, rec, unfinished *Record, dryRun bool) {
	note := fmt.Sprintf("found an unfinished %s %s (started %s by %s), stopped during step %q",
		unfinished.Kind, unfinished.ID, unfinished.StartedAt.Local().Format("2006-01-02 15:04:05"), unfinished.Holder, unfinished.Step)
	rec.Resumes = unfinished.ID
	for i := range rec.Services {
		old := unfinished.service(rec.Services[i].Name)
		switch {
		case old == nil:
		case unfinished.Kind == KindRollback && rec.Kind == KindUpgrade && old.To != nil:
			// The operator was leaving the version that rollback undid:
			// what it was putting back is the one to return to.
			rec.Services[i].From = old.To
		case old.From != nil:
			rec.Services[i].From = old.From
		}
	}
	switch {
	case unfinished.Kind == KindRollback && rec.Kind == KindRollback:
		note += "; finishing it: putting back the images it was putting back"
	case unfinished.Kind == KindRollback:
		note += "; the images it was putting back are this upgrade's rollback target"
	case rec.Kind == KindUpgrade:
		note += "; finishing it: the images from before it stay the rollback target"
	case rec.Kind == KindRollback:
		note += "; putting back the images from before it"
	}
	rec.Notes = append(rec.Notes, note)
	x.emit(Event{Kind: EventNote, Text: note})
	if dryRun {
		return
	}
	unfinished.Outcome = Interrupted
	if unfinished.Error == "" {
		unfinished.Error = fmt.Sprintf("upshift stopped during step %q without finishing (killed, or the machine restarted)", unfinished.Step)
	}
	fin := x.now().UTC()
	unfinished.FinishedAt = &fin
	_ = x.keep(ctx, unfinished)
}

func (x *Executor) observe(ctx context.Context, services []string) (Current, error) {
	cur := Current{}
	for _, s := range services {
		cs, err := x.Engine.Containers(ctx, x.Project.Name, s)
		if err != nil {
			return nil, err
		}
		cur[s] = cs
	}
	return cur, nil
}

// commands is the step's command lines (a compose step's verbs), redacted.
func (x *Runner) commands(eng engine, st Step) []string {
	out := []string{}
	for _, c := range eng.commands(st) {
		out = append(out, x.redact(c))
	}
	return out
}

// api is the step's engine API requests, redacted.
func (x *Runner) api(st Step) []string {
	out := []string{}
	for _, c := range st.API {
		out = append(out, x.redact(c))
	}
	return out
}

// JournalError is a step that could not be journaled before it started, so
// it never started: the state folder is full, read-only or gone.
type JournalError struct {
	Dir string
	Err error
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("could not journal the next step in %s, so it was not started: %v", e.Dir, e.Err)
}
func (e *JournalError) Unwrap() error { return e.Err }

// ErrorHint says what to do about the state folder.
func (e *JournalError) ErrorHint() string {
	return "free space in (or fix the permissions of) the state folder, then rerun: the rerun finishes or rolls back this run"
}

// runStep journals the step as running — what it will do and its exact
// commands — before it starts, runs it, and journals how it ended. A dead
// upshift's journal thus names every step that began.
func (x *Runner) runStep(ctx context.Context, eng engine, rec *Record, st Step, setup string) error {
	if x.lockLost.Load() {
		err := fmt.Errorf("step %s not started: %w", st.Name, errLockTakenOver)
		x.emit(Event{Kind: EventStepDone, Step: st.Name, Err: err})
		return err
	}
	started := x.now()
	if rec.Rollback == nil {
		rec.Step = st.Name // an automatic rollback keeps the step that failed
	}
	if st.Name == StepSetup && setup != "" && st.Services[0] == setup {
		// Journaled with the step, so that a dead run's setup is known.
		rec.Setup = &SetupRecord{Service: setup, Migrations: []string{}, Source: FromUnknown, Image: eng.image(setup)}
	}
	rec.Steps = append(rec.Steps, StepRecord{Name: st.Name, Status: StepRunning, What: x.redact(st.What), StartedAt: started.UTC(), Commands: x.commands(eng, st), API: x.api(st)})
	i := len(rec.Steps) - 1
	if err := x.save(ctx, rec); err != nil {
		rec.Steps[i].Status, rec.Steps[i].Error = StepFailed, "not started: "+err.Error()
		jerr := &JournalError{Dir: x.Store.Where(), Err: err}
		x.emit(Event{Kind: EventStepDone, Step: st.Name, Err: jerr})
		return jerr
	}
	x.emit(Event{Kind: EventStep, Step: st.Name, Text: st.What, Commands: rec.Steps[i].Commands, API: rec.Steps[i].API})
	err := ctx.Err()
	if err == nil && st.run != nil {
		err = st.run(ctx)
	} else if err == nil {
		err = eng.do(ctx, st, func(l string) { x.emit(Event{Kind: EventOutput, Step: st.Name, Text: l}) })
	}
	sr := &rec.Steps[i]
	sr.DurationMS = x.now().Sub(started).Milliseconds()
	sr.Status = StepOK
	if err != nil {
		sr.Status, sr.Error = StepFailed, x.redact(err.Error())
	}
	// How the step ended goes to this machine's copy only: the store's
	// journal already says the step began, which is what a rerun from any
	// machine needs (it takes a step journaled as running as one that may
	// have done part of its work), and the next step's journaling, or the
	// run's end, records how this one ended. One write to the engine a
	// step, not two.
	x.saveLocal(ctx, rec)
	x.emit(Event{Kind: EventStepDone, Step: st.Name, Duration: x.now().Sub(started), Err: err})
	return err
}

// pin tags every previous image with a tag of upshift's own, so that a pull
// of the same tag or an image prune cannot lose the rollback target.
func (x *Executor) pin(ctx context.Context, rec *Record) error {
	for i := range rec.Services {
		s := &rec.Services[i]
		if s.From == nil || s.From.ID == "" {
			continue
		}
		if s.From.Pin != "" {
			if id, err := x.Engine.ImageID(ctx, s.From.Pin); err == nil && id != "" {
				continue
			}
		}
		ref := PinRef(x.Project.Name, s.Name, rec.ID)
		if err := x.Engine.Tag(ctx, s.From.ID, ref); err != nil {
			return err
		}
		s.From.Pin = ref
	}
	return nil // journaled with the step's end, and the next step
}

func (x *Executor) setup(ctx context.Context, rec *Record, st Step, req Request) error {
	started := x.now()
	sr := rec.Setup
	err := compose.Do(ctx, x.Compose, st.Verbs[0], func(l string) {
		if doc, ok, derr := result.ParseLine(l); ok {
			// upshift migrate's result: the typed account of what it
			// applied, never shown as output.
			if derr == nil {
				sr.Migrations, sr.Source = doc.AppliedTags(), FromResult
			} else {
				x.emit(Event{Kind: EventNote, Text: "the setup step's result line did not parse: " + derr.Error()})
			}
			return
		}
		src := req.Setup
		if composeProgress(l) {
			src = "" // compose's own "Container … Started" lines, not the service's
		}
		x.emit(Event{Kind: EventOutput, Step: st.Name, Source: src, Text: l})
	})
	sr.DurationMS = x.now().Sub(started).Milliseconds()
	if err != nil {
		x.stopOneOffs(ctx, req.Setup)
	}
	if sr.Source != FromResult {
		// Interrupted, failed before its result, or not upshift: the
		// table says what it applied.
		if applied, ok := x.tableDiff(ctx, rec, req.Setup); ok {
			sr.Migrations, sr.Source = applied, FromTable
		}
	}
	var ee *compose.ExitError
	if errors.As(err, &ee) {
		sr.ExitCode = ee.Code
		return fmt.Errorf("setup service %s exited with code %d%s", req.Setup, ee.Code, migrationsNote(sr.Migrations))
	}
	return err
}

// setupAfter runs a further setup step (a seed, a config step), its
// output under its own name.
func (x *Executor) setupAfter(ctx context.Context, st Step) error {
	name := st.Services[0]
	for _, v := range st.Verbs {
		err := compose.Do(ctx, x.Compose, v, func(l string) {
			src := name
			if composeProgress(l) {
				src = ""
			}
			x.emit(Event{Kind: EventOutput, Step: st.Name, Source: src, Text: l})
		})
		if err != nil {
			x.stopOneOffs(ctx, name)
		}
		var ee *compose.ExitError
		if _, isRun := v.(compose.RunOptions); isRun && errors.As(err, &ee) {
			return fmt.Errorf("setup service %s exited with code %d", name, ee.Code)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func composeProgress(l string) bool {
	f := strings.Fields(l)
	if len(f) < 3 || !strings.HasPrefix(l, " ") {
		return false
	}
	switch f[0] {
	case "Container", "Network", "Volume", "Image":
		return true
	}
	return false
}

func migrationsNote(ms []string) string {
	if len(ms) == 0 {
		return ""
	}
	return fmt.Sprintf(" (it had applied %s before failing; they stay applied)", strings.Join(ms, ", "))
}

func describeImages(images map[string]string) string {
	var parts []string
	for s, ref := range images {
		parts = append(parts, s+" → "+ref)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// finish ends the run: its exit code, decided here (ExitCodeOf), goes into
// the record the history keeps and the CLI prints.
func (x *Runner) finish(rec *Record, err error) {
	t := x.now().UTC()
	rec.FinishedAt = &t
	rec.DurationMS = t.Sub(rec.StartedAt).Milliseconds()
	if c := ExitCodeOf(rec.Outcome, err); c >= 0 {
		rec.ExitCode = &c
	}
	if rec.DryRun {
		return
	}
	if x.lockLost.Load() {
		// Whatever this run was doing, the run that took over finishes
		// or undoes it: for this one it was cut short.
		c := ExitCodeOf(Interrupted, ErrLockLost)
		rec.Outcome, rec.ExitCode = Interrupted, &c
		rec.Notes = append(rec.Notes, "not recorded in the history by this run: the run that took the deploy lock over records it, from the journal, as it finishes or undoes it")
		return
	}
	if err := x.keep(context.Background(), rec); err != nil {
		x.emit(Event{Kind: EventNote, Text: "could not record the run in the history: " + err.Error()})
	}
}

// keepPins is how many pins of a service stay on the engine.
const keepPins = 5

// prunePins removes a service's oldest pins beyond keepPins; an image that a
// container still uses keeps its tag (the engine refuses).
func (x *Executor) prunePins(ctx context.Context, rec *Record) {
	for _, s := range rec.Services {
		tags, err := x.Engine.Tags(ctx, PinRepository(x.Project.Name, s.Name))
		if err != nil || len(tags) <= keepPins {
			continue
		}
		for _, t := range tags[:len(tags)-keepPins] {
			_ = x.Engine.Untag(ctx, t)
		}
	}
}

// RollbackRequest is what `upshift rollback` asks for.
type RollbackRequest struct {
	Services []string
	Health   Health // ExpectVersion optional
	DryRun   bool
}

// Rollback puts back the images that ran before the latest upgrade of each
// service (or before an upgrade that a dead upshift left unfinished).
func (x *Executor) Rollback(ctx context.Context, req RollbackRequest) (*Record, error) {
	return x.rollback(ctx, &composeRun{x: x, req: Request{Services: req.Services, Health: req.Health, DryRun: req.DryRun}}, runSpec{Services: req.Services, Health: req.Health, DryRun: req.DryRun})
}

// NothingToRollBackError is a rollback with no recorded upgrade to undo.
type NothingToRollBackError struct {
	Service  string
	StateDir string
}

func (e *NothingToRollBackError) Error() string {
	return fmt.Sprintf("no upgrade of %s is recorded in %s that could be rolled back (upshift rolls back what `upshift upgrade` upgraded; `upshift history` lists it)", e.Service, e.StateDir)
}

// LatestUpgrade is what `rollback` undoes for service: the newest upgrade
// of it that no later rollback undid, had a previous image, and left the
// service off that image — one that succeeded (exit 0), or one whose own
// putting back failed (exit 6), whose putting back the rollback then
// finishes. An upgrade that changed nothing (exit 1) or put itself back
// (exit 5) left the service where it was, so the one before it is undone.
// (An upgrade a dead upshift left unfinished is in the journal, not here:
// the rollback finds it there first.)
func LatestUpgrade(history []*Record, service string) *Record {
	undone := map[string]bool{}
	for i := len(history) - 1; i >= 0; i-- {
		r := history[i]
		if r.Kind == KindRollback && (r.Outcome == Succeeded) {
			for _, id := range r.RollsBack {
				undone[id] = true
			}
			continue
		}
		if r.Kind != KindUpgrade || r.Outcome != Succeeded && r.Outcome != RollbackFailed || undone[r.ID] {
			continue
		}
		if s := r.service(service); s != nil && s.From != nil {
			return r
		}
	}
	return nil
}

// UndoneBy maps an upgrade id to the rollback that undid it.
func UndoneBy(history []*Record) map[string]*Record {
	out := map[string]*Record{}
	for _, r := range history {
		if r.Kind == KindRollback && r.Outcome == Succeeded {
			for _, id := range r.RollsBack {
				out[id] = r
			}
		}
	}
	return out
}
