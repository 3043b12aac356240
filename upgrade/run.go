package upgrade

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// engine is what a run needs of one kind of deployment: a compose project
// (composeRun) or a Swarm stack (stackRun). The run itself — its journal,
// its lock and the run a dead upshift left, the step loop, the one failure
// policy, rollback, verification and the record of what serves — is the
// same for both (upgrade, rollback), so the two cannot drift apart.
type engine interface {
	// name is the project's or the stack's, as the record names it.
	name() string
	// open takes the deploy lock (not for a dry run) and fills each
	// service's From (the image it runs) and previous containers, and the
	// record's engine.
	open(ctx context.Context, rec *Record, dryRun bool) (release func(), err error)
	// leftovers settles what a dead run left (one-off containers or jobs
	// still migrating, what its setup applied) before anything else runs;
	// done ends the run's own arrangements.
	leftovers(ctx context.Context, rec, dead *Record, dryRun bool) (done func())
	// plan lays out an upgrade's steps and names its strategy.
	plan(ctx context.Context, rec *Record) []Step
	// serving is what serves a service now: its containers (or tasks)
	// and their image.
	serving(ctx context.Context, service string) (containers []string, image *Image, err error)
	// ready is the engine's look at whether the services run what they
	// should, for the one verify loop (Executor.stable).
	ready(services []string, h Health, wantVersion string) readiness
	// replace is the steps that move services onto the given images.
	replace(rec *Record, services []string, to map[string]*Image, h Health) ([]Step, error)
	// target refuses a rollback target the engine can no longer start.
	target(ctx context.Context, service string, img *Image) error
	// keep is what a rollback does before it replaces anything, so that
	// it can itself be undone.
	keep(rec *Record) []Step
	// unchanged is the note of a failed upgrade that moved no service.
	unchanged() string
	// putBackLimit bounds the putting back after a failed upgrade (0:
	// the steps' own limits).
	putBackLimit(h Health) time.Duration
	// succeeded tidies up after a successful upgrade.
	succeeded(ctx context.Context, rec *Record)
	// commands is a step's command lines (compose verbs), for the
	// journal and the output; do runs them.
	commands(st Step) []string
	do(ctx context.Context, st Step, out func(string)) error
	// image is the image of a service of the project (the setup's).
	image(service string) string
}

// runSpec is what both engines' requests share.
type runSpec struct {
	Services []string
	Setup    string
	Health   Health
	DryRun   bool
}

// open starts a run: what would fail later refused first (preflight), its
// record, the deploy lock (not for a dry run), the run a dead upshift may
// have left, and what runs now (the From images).
func (x *Runner) open(ctx context.Context, eng engine, kind Kind, spec runSpec) (rec, dead *Record, release func(), err error) {
	if err := x.preflight(ctx, spec.Health, spec.DryRun); err != nil {
		rec, err = x.failed(NotRun(kind, eng.name()), err)
		return rec, nil, func() {}, err
	}
	rec = newRecord(kind, eng.name(), x.now(), x.Me)
	rec.DryRun = spec.DryRun
	for _, s := range spec.Services {
		rec.Services = append(rec.Services, ServiceRecord{Name: s, Containers: []string{}, PreviousContainers: []string{}})
	}
	if release, err = eng.open(ctx, rec, spec.DryRun); err != nil {
		_, err = x.failed(rec, err)
		return rec, nil, func() {}, err
	}
	if dead, err = x.Store.Unfinished(context.WithoutCancel(ctx)); err != nil {
		release()
		_, err = x.failed(rec, err)
		return rec, nil, func() {}, err
	}
	if dead != nil && dead.EngineID != "" && rec.EngineID != "" && dead.EngineID != rec.EngineID {
		release()
		_, err = x.failed(rec, &RequestError{Msg: fmt.Sprintf("the unfinished %s %s in %s ran on engine %s, not on this one (%s): upshift never finishes or undoes a run on another engine", dead.Kind, dead.ID, x.Store.Where(), dead.EngineID, rec.EngineID),
			Hint: "point upshift at the engine that run changed (--context, DOCKER_HOST), or keep each engine's state apart (--state engine)", Options: []string{"context", "state-dir"}})
		return rec, nil, func() {}, err
	}
	if dead != nil && dead.Outcome != Running && !spec.DryRun {
		// It ended, but the history could not take it (a full state
		// folder): record it now; it is not an interrupted run.
		if ferr := x.keep(ctx, dead); ferr == nil {
			x.emit(Event{Kind: EventNote, Text: fmt.Sprintf("recorded the %s %s in the history (it ended %s, but the state folder could not take it then)", dead.Kind, dead.ID, dead.Outcome)})
		}
		dead = nil
	}
	return rec, dead, release, nil
}

// begin opens an upgrade or a rollback and settles what a dead run left
// (eng.leftovers); end releases what the run holds.
func (x *Runner) begin(ctx context.Context, eng engine, kind Kind, spec runSpec) (rec, dead *Record, end func(), err error) {
	rec, dead, release, err := x.open(ctx, eng, kind, spec)
	if err != nil {
		return rec, nil, release, err
	}
	done := eng.leftovers(ctx, rec, dead, spec.DryRun)
	return rec, dead, func() { done(); release() }, nil
}

// upgrade is the one upgrade loop: every step journaled before it starts
// (runStep), and on a failure the one policy — a run that moved no service
// changed nothing; one that moved some puts exactly those back.
func (x *Runner) upgrade(ctx context.Context, eng engine, spec runSpec) (*Record, error) {
	rec, dead, end, err := x.begin(ctx, eng, KindUpgrade, spec)
	if err != nil {
		return rec, err
	}
	defer end()
	if dead != nil {
		x.resume(ctx, rec, dead, spec.DryRun)
	}
	steps := eng.plan(ctx, rec)
	for i := range steps {
		x.bindVerify(eng, rec, &steps[i], spec.Health)
	}
	if spec.DryRun {
		return x.planned(eng, rec, steps), nil
	}
	// (The first step's journaling journals the run: a store that cannot
	// take it fails that step before it starts, with nothing changed.)
	var moved []string // services a step began to move off their From images
	kept := false      // a step took its own new containers away again
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		if st.before != nil {
			st.before(ctx)
		}
		err := x.runStep(ctx, eng, rec, st, spec.Setup)
		if errors.Is(err, ErrLockLost) {
			// Another run owns the deployment now: nothing is put back.
			return x.ended(rec, Interrupted, err)
		}
		var re *RollingError
		switch {
		case !st.replaces || errors.As(err, new(*JournalError)):
		case errors.As(err, &re) && !re.Retired:
			kept = true // the old containers never stopped
		default:
			// A step that began may have replaced some before it failed
			// or was interrupted.
			for _, s := range st.Services {
				if !slices.Contains(moved, s) {
					moved = append(moved, s)
				}
			}
		}
		if err == nil {
			if st.then != nil {
				if rest := st.then(); rest != nil {
					for j := range rest {
						x.bindVerify(eng, rec, &rest[j], spec.Health)
					}
					steps = append(steps[:i+1], rest...)
				}
			}
			continue
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted during %s: %w", st.Name, err)
		}
		// Journaled with the putting back, so that a rerun after a dead
		// one still says why this run failed.
		rec.Error = x.redact(err.Error())
		if len(moved) == 0 && !kept {
			rec.Outcome = Failed
			rec.Notes = append(rec.Notes, eng.unchanged())
			// (A setup that failed on its own says so in its error.)
			if s := rec.Setup; s != nil && (st.Name != StepSetup || s.Source == FromPending) && len(s.Migrations) > 0 {
				rec.Notes = append(rec.Notes, "migrations applied before the failure stay applied: "+strings.Join(s.Migrations, ", "))
			}
		} else {
			x.undo(context.WithoutCancel(ctx), eng, rec, moved, spec.Health)
		}
		if rec.Backup != nil && rec.Outcome != Failed {
			rec.Notes = append(rec.Notes, "to put the database back as it was before this upgrade (upshift never does): "+rec.Backup.Restore)
		}
		return x.ended(rec, rec.Outcome, err)
	}
	rec.Outcome = Succeeded
	x.finish(rec, nil)
	eng.succeeded(context.WithoutCancel(ctx), rec)
	return rec, nil
}

// onEngine is the part of a history that ran on engine (every run, when
// the engine or a run does not say).
func onEngine(history []*Record, engine string) []*Record {
	if engine == "" {
		return history
	}
	var out []*Record
	for _, r := range history {
		if r.EngineID == "" || r.EngineID == engine {
			out = append(out, r)
		}
	}
	return out
}

// ended finishes a run that failed with err, with outcome.
func (x *Runner) ended(rec *Record, outcome Outcome, err error) (*Record, error) {
	rec.Outcome, rec.Error = outcome, x.redact(err.Error())
	x.finish(rec, err)
	return rec, &Error{Record: rec, Err: err}
}

// bindVerify gives a plan's verify step its work: the one verify loop with
// the engine's look, then the record of what serves.
func (x *Runner) bindVerify(eng engine, rec *Record, st *Step, h Health) {
	if st.Name != StepVerify || st.run != nil {
		return
	}
	services := st.Services
	st.run = func(ctx context.Context) error {
		health, err := x.stable(ctx, h, eng.ready(services, h, h.ExpectVersion))
		x.recordServing(ctx, eng, rec, health, err)
		return err
	}
}

// undo puts the services a failed upgrade moved back on the images they
// ran before it (their pins on compose, their digests on Swarm) and
// verifies them without the new version (the old answers with its own).
// kept: a rolling step's new containers were taken away again, the old
// ones serving throughout.
func (x *Runner) undo(ctx context.Context, eng engine, rec *Record, moved []string, h Health) {
	started := x.now()
	// Journaled as running until the putting back ends: a run killed
	// half way is found as a dead run that the next one finishes, never
	// as one that ended rolled back.
	rb := &RollbackRecord{Outcome: StepRunning}
	rec.Rollback = rb
	defer func() {
		rec.Outcome = RolledBack
		if rb.Outcome == StepFailed {
			rec.Outcome = RollbackFailed
		} else {
			rb.Outcome = StepSucceeded
		}
	}()
	if len(moved) == 0 {
		rb.Health = "the old containers kept serving"
	}
	if len(moved) > 0 {
		rec.Step = rec.Step + " → " + StepRollback
		to := map[string]*Image{}
		var missing []string
		for _, name := range moved {
			if s := rec.service(name); s != nil && s.From != nil {
				to[name] = s.From
			} else {
				missing = append(missing, name)
			}
		}
		var err error
		if len(missing) > 0 {
			err = errors.New("no previous image to put back for " + strings.Join(missing, ", ") + " (nothing ran before this upgrade)")
			x.emit(Event{Kind: EventNote, Text: err.Error()})
			rb.Health = ""
		} else {
			if limit := eng.putBackLimit(h); limit > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, limit)
				defer cancel()
			}
			h.ExpectVersion = ""
			rb.Health, err = x.putBack(ctx, eng, rec, moved, to, h)
		}
		if err != nil {
			rb.Outcome, rb.Error = StepFailed, x.redact(err.Error())
		}
	}
	rb.DurationMS = x.now().Sub(started).Milliseconds()
	if rec.Setup != nil && len(rec.Setup.Migrations) > 0 {
		why := "and the database stays at the new schema"
		if rec.gateCleared {
			why = "(they passed the compatibility check, so the old version runs on them)"
		}
		rec.Notes = append(rec.Notes, fmt.Sprintf("migrations are not reverted: %s stay applied %s", strings.Join(rec.Setup.Migrations, ", "), why))
	}
}

// putBack moves services onto the given images (the engine's steps), then
// verifies them and records what serves.
func (x *Runner) putBack(ctx context.Context, eng engine, rec *Record, services []string, to map[string]*Image, h Health) (string, error) {
	steps, err := eng.replace(rec, services, to, h)
	if err != nil {
		return "", err
	}
	var health string
	for _, st := range steps {
		if err = x.runStep(ctx, eng, rec, st, ""); err != nil {
			break
		}
	}
	if err == nil {
		err = x.runStep(ctx, eng, rec, Step{Name: StepVerify, Services: services, What: h.describe(), run: func(ctx context.Context) (err error) {
			health, err = x.stable(ctx, h, eng.ready(services, h, h.ExpectVersion))
			return err
		}}, "")
	}
	x.recordServing(ctx, eng, rec, health, err)
	return x.redact(health), err
}

// recordServing notes which containers (tasks) and images now serve. An
// upgrade that was rolled back keeps its own "to" and health (Rollback has
// the putting back's); a rollback's "to" is the image it put back.
func (x *Runner) recordServing(ctx context.Context, eng engine, rec *Record, health string, err error) {
	if err != nil {
		health = "failed: " + err.Error()
	}
	// It names the health URL, which may carry a password.
	health = x.redact(health)
	for i := range rec.Services {
		s := &rec.Services[i]
		cs, img, lerr := eng.serving(ctx, s.Name)
		if lerr != nil {
			continue
		}
		s.Containers = cs
		if rec.Kind == KindUpgrade && rec.Rollback != nil {
			continue
		}
		if img != nil {
			s.To = img
		}
		s.Health = health
	}
}

// rollback is the one rollback: back to the images that ran before the
// latest upgrade of each service that no rollback undid (or before the
// upgrade a dead upshift left), verified; a dead rollback is finished.
func (x *Runner) rollback(ctx context.Context, eng engine, spec runSpec) (*Record, error) {
	rec, dead, end, err := x.begin(ctx, eng, KindRollback, spec)
	if err != nil {
		return rec, err
	}
	defer end()
	running := map[string]*Image{}
	for _, s := range rec.Services {
		running[s.Name] = s.From
	}
	fail := func(err error) (*Record, error) { return x.failed(rec, err) }
	targets := map[string]*Image{}
	var undo []string
	if dead != nil {
		x.resume(ctx, rec, dead, spec.DryRun)
		for i := range rec.Services {
			s := &rec.Services[i]
			old := dead.service(s.Name)
			switch {
			case old == nil:
			case dead.Kind == KindRollback:
				// A dead rollback is finished, not undone: its target was
				// fixed and journaled when it started, and what it was
				// leaving (its From, which resume kept) stays this one's.
				if old.To != nil {
					targets[s.Name] = old.To
				}
			default:
				if old.From != nil {
					targets[s.Name] = old.From
				}
				s.From = running[s.Name] // what runs now is what is rolled back
			}
		}
		if dead.Kind == KindRollback {
			undo = append(undo, dead.RollsBack...)
		} else {
			undo = append(undo, dead.ID)
		}
	}
	history, err := x.Store.History(context.WithoutCancel(ctx))
	if err != nil {
		return fail(err)
	}
	for _, s := range spec.Services {
		if targets[s] != nil {
			continue
		}
		up := LatestUpgrade(onEngine(history, rec.EngineID), s)
		if up == nil {
			return fail(&NothingToRollBackError{Service: s, StateDir: x.Store.Where()})
		}
		targets[s] = up.service(s).From
		if !slices.Contains(undo, up.ID) {
			undo = append(undo, up.ID)
		}
	}
	for _, s := range spec.Services {
		if err := eng.target(ctx, s, targets[s]); err != nil {
			return fail(err)
		}
	}
	rec.RollsBack = undo
	// The target is fixed now and journaled with the run, before anything
	// changes: a rerun after a dead rollback goes to it.
	for i := range rec.Services {
		if img := targets[rec.Services[i].Name]; img != nil {
			t := *img
			rec.Services[i].To = &t
		}
	}
	for _, r := range history {
		if slices.Contains(undo, r.ID) && r.Backup != nil {
			rec.Notes = append(rec.Notes, fmt.Sprintf("the database stays at the schema of %s; to put it back as it was before that upgrade (upshift never does): %s", r.ID, r.Backup.Restore))
		}
	}
	if spec.DryRun {
		steps, err := eng.replace(rec, spec.Services, targets, spec.Health)
		if err != nil {
			return fail(err)
		}
		return x.planned(eng, rec, append(steps, Step{Name: StepVerify, Services: spec.Services, What: spec.Health.describe()})), nil
	}
	if err := x.save(ctx, rec); err != nil {
		return fail(&JournalError{Dir: x.Store.Where(), Err: err})
	}
	for _, st := range eng.keep(rec) {
		if err := x.runStep(ctx, eng, rec, st, ""); err != nil {
			return x.ended(rec, Failed, err)
		}
	}
	// Once services are being replaced, a first signal does not stop the
	// rollback half way (nothing, or half of it, would serve): it
	// finishes, and says so. A second signal ends upshift at once; a
	// rerun finishes it.
	_, err = x.putBack(context.WithoutCancel(ctx), eng, rec, spec.Services, targets, spec.Health)
	if ctx.Err() != nil {
		rec.Notes = append(rec.Notes, "a signal arrived during the rollback; it was finished first, since stopping it half way would leave the services half rolled back")
	}
	if err != nil {
		return x.ended(rec, RollbackFailed, err)
	}
	rec.Outcome = Succeeded
	x.finish(rec, nil)
	return rec, nil
}
