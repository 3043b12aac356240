package upgrade

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// composeRun is a compose project as the run loop's engine: containers
// observed and pinned through the engine, every compose verb through the
// user's compose CLI.
type composeRun struct {
	x   *Executor
	req Request
	// current is what ran when the run opened (the plan's input).
	current Current
}

func (e *composeRun) name() string { return e.x.Project.Name }

func (e *composeRun) open(ctx context.Context, rec *Record, dryRun bool) (func(), error) {
	x := e.x
	rec.Engine, rec.EngineID = x.Endpoint, x.EngineID
	release := func() {}
	if !dryRun {
		var err error
		if release, err = x.takeLock(ctx, rec, "project "+x.Project.Name); err != nil {
			return nil, err
		}
	}
	var err error
	if e.current, err = x.observe(ctx, rec.ServiceNames()); err != nil {
		release()
		return nil, err
	}
	for i := range rec.Services {
		s := &rec.Services[i]
		for _, c := range e.current[s.Name] {
			s.PreviousContainers = append(s.PreviousContainers, compose.ShortID(c.ID))
		}
		if c := runningImage(e.current[s.Name]); c != nil {
			s.From = &Image{Ref: c.Image, ID: c.ImageID}
		}
	}
	return release, nil
}

// leftovers: the one-off containers of a dead run's setup (one still
// migrating is waited for), and what that setup applied, from the table.
// The run's compose verbs read one resolved copy of the project.
func (e *composeRun) leftovers(ctx context.Context, rec, dead *Record, dryRun bool) func() {
	x, req := e.x, e.req
	done := func() {}
	setup := req.Setup
	if rec.Kind == KindRollback {
		setup = ""
		if dead != nil && dead.Setup != nil {
			setup = dead.Setup.Service
		}
	}
	if !dryRun {
		touched := slices.Clone(req.Services)
		if rec.Kind == KindUpgrade {
			touched = append(touched, req.Setup)
			if req.Backup != nil {
				touched = append(touched, req.Backup.Service)
			}
			if a, why := x.tableOf(req.Setup); why == "" {
				touched = append(touched, a.db.Service)
			}
		}
		done = x.resolveOnce(rec, touched)
		x.cleanOneOffs(ctx, rec, setup)
	}
	if dead != nil && setup != "" {
		x.settleSetup(ctx, rec, dead, setup)
	}
	return done
}

// plan is Plan's steps given their work: the gate may turn an automatic
// strategy into stop-start, and the table is marked before anything can
// migrate, so that an interrupted setup is still accounted for.
func (e *composeRun) plan(ctx context.Context, rec *Record) []Step {
	x := e.x
	rec.Strategy, rec.StrategyReason = string(e.req.strategyName()), e.req.Reason
	if e.req.Reason != "" {
		x.emit(Event{Kind: EventNote, Text: "strategy: " + rec.Strategy + " — " + e.req.Reason})
	}
	return e.bind(rec, Plan(x.Project, e.current, e.req))
}

func (e *composeRun) bind(rec *Record, steps []Step) []Step {
	x := e.x
	for i := range steps {
		st := &steps[i]
		switch st.Name {
		case StepStop, StepGate, StepSetup:
			st.before = func(ctx context.Context) { x.markTable(ctx, rec, e.req) }
		}
		switch st.Name {
		case StepPin:
			st.run = func(ctx context.Context) error { return x.pin(ctx, rec) }
		case StepBackup:
			st.run = func(ctx context.Context) error { return x.backup(ctx, rec, *e.req.Backup) }
		case StepGate:
			step := *st
			st.run = func(ctx context.Context) error { return x.gate(ctx, rec, step, e.req) }
			st.then = func() []Step {
				if rec.gateVerdict == nil {
					return nil
				}
				var rest []Step
				rest, rec.StrategyReason, e.req = fallBack(x.Project, e.current, e.req, rec.gateVerdict)
				rec.Strategy = string(e.req.strategyName())
				x.emit(Event{Kind: EventNote, Text: "strategy: " + rec.Strategy + " — " + rec.StrategyReason})
				return e.bind(rec, rest)
			}
		case StepSetup:
			step := *st
			if st.Services[0] == e.req.Setup {
				st.run = func(ctx context.Context) error { return x.setup(ctx, rec, step, e.req) }
			} else {
				st.run = func(ctx context.Context) error { return x.setupAfter(ctx, step) }
			}
		case StepRoll:
			service := st.Services[0]
			st.run = func(ctx context.Context) error { return x.roll(ctx, rec, service, e.req) }
			st.replaces = true
		case StepStop, StepStart:
			st.replaces = true
		}
	}
	return steps
}

func (e *composeRun) serving(ctx context.Context, service string) ([]string, *Image, error) {
	cs, err := e.x.Engine.Containers(ctx, e.x.Project.Name, service)
	if err != nil {
		return nil, nil, err
	}
	names := []string{}
	for _, c := range cs {
		names = append(names, c.Name)
	}
	if c := runningImage(cs); c != nil {
		return names, &Image{Ref: c.Image, ID: c.ImageID}, nil
	}
	return names, nil, nil
}

func (e *composeRun) ready(services []string, h Health, wantVersion string) readiness {
	return e.x.containersReady(services, h, wantVersion, nil)
}

// replace starts the services on the images through an override file of
// upshift's own (each image by its pin, else its id).
func (e *composeRun) replace(rec *Record, services []string, to map[string]*Image, _ Health) ([]Step, error) {
	images := map[string]string{}
	for _, s := range services {
		if img := to[s]; img != nil {
			images[s] = cmp.Or(img.Pin, img.ID)
		}
	}
	path := "<override>"
	if !rec.DryRun {
		var err error
		if path, err = e.x.Local.WriteOverride(rec.ID, Override(rec.ID, images)); err != nil {
			return nil, fmt.Errorf("write the override file: %w", err)
		}
	}
	return []Step{{Name: StepRollback, Services: services, Verbs: []compose.Verb{StartVerb(services, path)}, replaces: true,
		What: "put the previous images back: " + describeImages(images)}}, nil
}

// target: the image must still be on this engine (its pin, else its id).
func (e *composeRun) target(ctx context.Context, service string, img *Image) error {
	ref := cmp.Or(img.Pin, img.ID)
	id, err := e.x.Engine.ImageID(ctx, ref)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("the previous image of %s (%s, %s) is no longer on this engine: it was removed by hand; pull %s again and rerun", service, ref, compose.ShortID(img.ID), img.Ref)
	}
	return nil
}

// keep pins what runs now too, so that the rollback can itself be undone.
func (e *composeRun) keep(rec *Record) []Step {
	return []Step{{Name: StepPin, Services: rec.ServiceNames(), What: "keep the images running now under a tag of upshift's own",
		run: func(ctx context.Context) error { return e.x.pin(ctx, rec) }}}
}

func (e *composeRun) unchanged() string { return "nothing was stopped: the services run as before" }

func (e *composeRun) putBackLimit(h Health) time.Duration { return 5*time.Minute + h.timeout() }

func (e *composeRun) succeeded(ctx context.Context, rec *Record) { e.x.prunePins(ctx, rec) }

func (e *composeRun) commands(st Step) []string {
	var out []string
	for _, v := range st.Verbs {
		out = append(out, e.x.Compose.Command(v))
	}
	return out
}

func (e *composeRun) do(ctx context.Context, st Step, out func(string)) error {
	for _, v := range st.Verbs {
		if err := compose.Do(ctx, e.x.Compose, v, out); err != nil {
			return err
		}
	}
	return nil
}

func (e *composeRun) image(service string) string { return serviceImage(e.x.Project, service) }

// serviceImage is the image a project's file names for service ("" when
// none, or no such service).
func serviceImage(p *compose.Project, service string) string {
	if p == nil || p.Services[service] == nil {
		return ""
	}
	return p.Services[service].Image
}
