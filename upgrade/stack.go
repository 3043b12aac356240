package upgrade

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-shellwords"
	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/migrate/result"
)

// Steps of a stack run besides the compose ones.
const (
	StepUpdate = "update" // one service's rolling update by the swarm
)

// StrategySwarm is how a stack's services are replaced: the swarm's own
// rolling update, old and new tasks side by side.
const StrategySwarm = "swarm-rolling"

// Label on the jobs upshift runs in a stack, so that a rerun after a dead
// run finds them.
const labelJobOf = "io.upshift.stack"

// Stack upgrades and rolls back services of a deployed Docker Swarm stack
// through the same run loop as a compose project (stackRun is its engine):
// the same journal, lock protocol, failure policy, verify loop, history and
// exit codes.
type Stack struct {
	// Runner is the run loop's state: the store, the clock, the events
	// and the redaction.
	*Runner
	// Project is the stack file, named as the stack (or, for a rollback
	// without it, the services as the swarm runs them).
	Project *compose.Project
	Name    string
	Swarm   compose.SwarmAPI
	// At is the manager's endpoint, for errors that name it.
	At compose.Endpoint
	// Poll is how often an update's progress is read (default 500ms).
	Poll time.Duration

	close func() error // the engine's connection
}

// Close ends the connection to the manager.
func (x *Stack) Close() error {
	if x.close == nil {
		return nil
	}
	return x.close()
}

// StackRequest is what `upshift upgrade --stack` asks for.
type StackRequest struct {
	Services []string
	// Setup is the stack's setup service ("" for none), run once as a job
	// on its new image; SetupCommand replaces its command.
	Setup         string
	SetupCommand  []string
	Health        Health
	AllowBreaking bool
	DryRun        bool
}

// ResolveStack checks the services against the stack file and picks the
// setup service: the one named, else db-setup, else the file's only
// service kept at deploy: replicas: 0 (the way PostHog keeps `migrate`).
func ResolveStack(p *compose.Project, c Choice) (StackRequest, error) {
	req := StackRequest{}
	if len(c.Services) == 0 {
		return req, &RequestError{Msg: "no service to upgrade was named", Options: []string{"service"}}
	}
	for _, s := range c.Services {
		if p.Services[s] == nil {
			return req, &RequestError{Msg: fmt.Sprintf("service %q is not in the stack file (%s)", s, strings.Join(p.Files, ", ")), Options: []string{"service"}}
		}
		if !slices.Contains(req.Services, s) {
			req.Services = append(req.Services, s)
		}
	}
	if len(c.SetupServices) > 1 {
		return req, &RequestError{Msg: "a stack upgrade runs one setup service (" + strings.Join(c.SetupServices, ", ") + " were named)", Hint: "name the one that migrates; run the others as jobs of their own", Options: []string{"setup-service"}}
	}
	switch {
	case c.NoSetup:
	case len(c.SetupServices) == 1:
		req.Setup = c.SetupServices[0]
		if p.Services[req.Setup] == nil {
			return req, &RequestError{Msg: fmt.Sprintf("setup service %q is not in the stack file", req.Setup), Options: []string{"setup-service"}}
		}
	case p.Services[DefaultSetupService] != nil:
		req.Setup = DefaultSetupService
	default:
		var idle []string
		for name, s := range p.Services {
			if s.Scale == 0 && !slices.Contains(req.Services, name) {
				idle = append(idle, name)
			}
		}
		if len(idle) == 1 {
			req.Setup = idle[0]
		}
	}
	if slices.Contains(req.Services, req.Setup) && c.SetupCommand == "" {
		return req, &RequestError{Msg: fmt.Sprintf("%s is both a service to upgrade and the setup service", req.Setup), Hint: "to migrate through the app's own image, add --setup-command", Options: []string{"setup-service"}}
	}
	if c.SetupCommand != "" {
		if req.Setup == "" {
			return req, &RequestError{Msg: "--setup-command needs a setup service: the stack file has no db-setup and no single service at deploy: replicas: 0", Options: []string{"setup-service"}}
		}
		words, err := shellwords.Parse(c.SetupCommand)
		if err != nil || len(words) == 0 {
			return req, &RequestError{Msg: fmt.Sprintf("setup command %q cannot be split into words: %v", c.SetupCommand, err), Options: []string{"setup-command"}}
		}
		req.SetupCommand = words
	}
	return req, nil
}

// SwarmWarnings name what `docker stack deploy` ignores in the services a
// run touches: they do nothing on Swarm.
func SwarmWarnings(p *compose.Project, services ...string) []string {
	var out []string
	for _, name := range services {
		if s := p.Services[name]; s != nil && len(s.SwarmIgnored) > 0 {
			out = append(out, fmt.Sprintf("service %s sets %s, which Swarm ignores (docker stack deploy drops them)", name, strings.Join(s.SwarmIgnored, ", ")))
		}
	}
	return out
}

func (x *Stack) poll() time.Duration { return cmp.Or(x.Poll, 500*time.Millisecond) }

// manager refuses an engine that cannot change the swarm's services.
func (x *Stack) manager(ctx context.Context) (compose.SwarmInfo, error) {
	info, err := x.Swarm.Info(ctx)
	if err != nil {
		return info, &compose.EngineError{Endpoint: x.At, Err: err}
	}
	switch {
	case info.State != "active":
		return info, &RequestError{Msg: fmt.Sprintf("the engine at %s is not part of an active swarm (its swarm state is %q%s), so it has no stack %s", x.Endpoint, cmp.Or(info.State, "inactive"), errNote(info.Error), x.Name),
			Hint: "point upshift at a manager of the swarm (--context, DOCKER_HOST), or upgrade a compose project without --stack", Options: []string{"context"}}
	case !info.Manager:
		return info, &RequestError{Msg: fmt.Sprintf("the engine at %s is a swarm worker: only a manager can update services", x.Endpoint),
			Hint: "point upshift at a manager (`docker node ls` on one lists them)", Options: []string{"context"}}
	}
	return info, nil
}

func errNote(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// deployed reads the stack's services and checks that every one named runs.
func (x *Stack) deployed(ctx context.Context, names ...string) (map[string]compose.StackService, error) {
	svcs, err := x.Swarm.StackServices(ctx, x.Name)
	if err != nil {
		return nil, &compose.EngineError{Endpoint: x.At, Err: err}
	}
	for _, n := range names {
		if n == "" {
			continue
		}
		if _, ok := svcs[n]; !ok {
			msg := fmt.Sprintf("stack %s has no service %s deployed", x.Name, n)
			if len(svcs) == 0 {
				msg = fmt.Sprintf("no stack %s is deployed on this swarm (no service is labelled %s=%s)", x.Name, compose.LabelStack, x.Name)
			}
			return nil, &RequestError{Msg: msg, Hint: fmt.Sprintf("deploy it once with `docker stack deploy -c %s %s` (upshift upgrades a deployed stack)", strings.Join(x.Project.Files, " -c "), x.Name)}
		}
	}
	return svcs, nil
}

// digest is the image's digest in a swarm image reference ("" when the
// spec names a tag only).
func digest(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ""
}

// stackImage is a service's image as the record keeps it.
func stackImage(ref string) *Image {
	if ref == "" {
		return nil
	}
	return &Image{Ref: ref, ID: digest(ref)}
}

// stackRun is a Swarm stack as the run loop's engine: the swarm replaces
// the tasks (ServiceUpdate, honouring update_config), and the migration
// runs once, as a swarm job, before any new task starts.
type stackRun struct {
	x   *Stack
	req StackRequest
	// svcs is what the swarm ran when the run opened, read under the lock.
	svcs map[string]compose.StackService
}

func (e *stackRun) name() string { return e.x.Name }

// A stack's steps are engine API requests, each with its own work: none
// runs a command.
func (e *stackRun) commands(Step) []string { return nil }

func (e *stackRun) do(_ context.Context, st Step, _ func(string)) error {
	return fmt.Errorf("step %s of a stack run has no work of its own", st.Name)
}

func (e *stackRun) image(service string) string { return serviceImage(e.x.Project, service) }

// open takes both locks; the spec versions the updates are made against
// are read under them, so that no other run of upshift can change them.
// A manager that cannot be reached or a stack not deployed leaves no run.
func (e *stackRun) open(ctx context.Context, rec *Record, dryRun bool) (func(), error) {
	x := e.x
	info, err := x.manager(ctx)
	if err != nil {
		rec.ID = ""
		return nil, err
	}
	rec.Engine = fmt.Sprintf("%s (swarm manager %s, %d node(s))", x.Endpoint, compose.ShortID(info.NodeID), info.Nodes)
	rec.EngineID = x.EngineID
	release := func() {}
	if !dryRun {
		if release, err = x.takeLock(ctx, rec, "stack "+x.Name); err != nil {
			return nil, err
		}
	}
	if e.svcs, err = x.deployed(ctx, append(rec.ServiceNames(), e.req.Setup)...); err != nil {
		release()
		rec.ID = ""
		return nil, err
	}
	for i := range rec.Services {
		s := &rec.Services[i]
		s.From = stackImage(e.svcs[s.Name].Image)
		s.PreviousContainers = x.running(ctx, e.svcs[s.Name].ID, "")
	}
	return release, nil
}

// leftovers: a dead run's jobs are waited for and removed — a migration
// still running ends before anything is replaced, by an upgrade or a
// rollback — and, before an upgrade, what the dead run's setup job applied
// is asked of the check, run again.
func (e *stackRun) leftovers(ctx context.Context, rec, dead *Record, dryRun bool) func() {
	if dryRun {
		return func() {}
	}
	e.x.cleanJobs(ctx, rec)
	if dead != nil && rec.Kind == KindUpgrade {
		e.x.settleStackSetup(ctx, rec, dead, e.req)
	}
	return func() {}
}

// running lists a service's running tasks (short ids), those on image only
// when image is set.
func (x *Stack) running(ctx context.Context, id, image string) []string {
	out := []string{}
	tasks, err := x.Swarm.Tasks(ctx, id)
	if err != nil {
		return out
	}
	for _, t := range tasks {
		if t.State == "running" && t.Desired == "running" && (image == "" || t.Image == image) {
			out = append(out, compose.ShortID(t.ID))
		}
	}
	return out
}

// jobActive says whether a job's task has not ended yet: a job's task is
// desired "complete", not "running", and may still be starting.
func (x *Stack) jobActive(ctx context.Context, id string) bool {
	tasks, err := x.Swarm.Tasks(ctx, id)
	if err != nil {
		return false
	}
	for _, t := range tasks {
		switch t.State {
		case "complete", "failed", "shutdown", "rejected", "orphaned", "remove":
		default:
			return true
		}
	}
	return false
}

// cleanJobs waits for, then removes, the jobs a dead run of this stack
// left: a migration still running finishes before anything else starts.
func (x *Stack) cleanJobs(ctx context.Context, rec *Record) {
	jobs, err := x.Swarm.Jobs(ctx, labelJobOf, x.Name)
	if err != nil {
		return
	}
	for _, j := range jobs {
		for x.jobActive(ctx, j.ID) && ctx.Err() == nil {
			x.emit(Event{Kind: EventNote, Text: "waiting for " + j.Name + ", a job a dead run started, to end before anything else runs"})
			_ = x.wait(ctx, 2*time.Second)
		}
		if x.Swarm.RemoveService(ctx, j.ID) == nil {
			rec.Notes = append(rec.Notes, "removed "+j.Name+", a job a dead run left")
		}
	}
}

// Upgrade runs the stack sequence: gate, setup job, one rolling update per
// service, verify; on failure the updated services go back to what ran.
func (x *Stack) Upgrade(ctx context.Context, req StackRequest) (*Record, error) {
	return x.upgrade(ctx, &stackRun{x: x, req: req}, runSpec{Services: req.Services, Setup: req.Setup, Health: req.Health, DryRun: req.DryRun})
}

// plan lays out the steps; each runs through runStep, so the journal names
// every step that began.
func (e *stackRun) plan(_ context.Context, rec *Record) []Step {
	x, req, svcs := e.x, e.req, e.svcs
	rec.Strategy = StrategySwarm
	rec.StrategyReason = "Swarm runs old and new tasks side by side as it replaces them (update_config of each service); the migration runs first, behind the compatibility check"
	x.emit(Event{Kind: EventNote, Text: "strategy: " + rec.Strategy + " — " + rec.StrategyReason})
	var steps []Step
	if req.Setup != "" {
		from := svcs[req.Setup]
		image := x.Project.Services[req.Setup].Image
		steps = append(steps,
			Step{Name: StepGate, Services: []string{req.Setup}, What: fmt.Sprintf("check the pending migrations against the running version: %s as a swarm job on %s, dry run", req.Setup, image),
				run: func(ctx context.Context) error { return x.stackGate(ctx, rec, from, image, req) }},
			Step{Name: StepSetup, Services: []string{req.Setup}, What: fmt.Sprintf("run %s once on %s as a swarm job (replicated-job, never restarted) on the stack's networks; no task is updated before it exits 0", req.Setup, image),
				run: func(ctx context.Context) error {
					err := x.stackSetup(ctx, rec, from, image, req)
					if err != nil {
						// Cut short, its job printed no result: ask what it applied.
						x.appliedSinceGate(context.WithoutCancel(ctx), rec, rec, req)
					}
					return err
				}})
	}
	for _, name := range req.Services {
		s, file := svcs[name], x.Project.Services[name]
		image := file.Image
		// The file's update_config rules; where it names no failure
		// action, a failed task rolls the service back (not the engine's
		// pause), and the monitor window covers the healthcheck's.
		monitor := max(file.UpdateMonitor, s.Monitor, s.HealthWindow, 5*time.Second)
		action := cmp.Or(file.UpdateFailureAction, "rollback")
		call := fmt.Sprintf("POST /services/%s/update?version=%d: image %s (pinned to the digest the registry names), update monitor %s, failure action %s", s.Name, s.Version, image, monitor, action)
		steps = append(steps, Step{Name: StepUpdate, Services: []string{name}, API: []string{call}, replaces: true,
			What: fmt.Sprintf("%s → %s: the swarm's rolling update (order %s, failure action %s, monitor %s), followed to completed", name, image, cmp.Or(s.Order, "as the service says"), action, monitor),
			run: func(ctx context.Context) error {
				return x.update(ctx, rec, name, compose.ServiceUpdateOptions{Service: s.ID, Image: image, Version: s.Version, Monitor: monitor, FailureAction: action}, req.Health)
			}})
	}
	return append(steps, Step{Name: StepVerify, Services: req.Services, What: req.Health.describe()})
}

// stackRunsUpshift says whether the stack's setup job runs upshift migrate
// (setupProgram.runsUpshift). The job copies the deployed spec, so it is
// the spec's entrypoint (else the new image's) and the spec's command that
// run, not the stack file's.
func (x *Stack) stackRunsUpshift(ctx context.Context, from compose.StackService, image string, req StackRequest) (bool, string) {
	p := setupProgram{Override: req.SetupCommand, Entrypoint: from.Entrypoint, Command: from.Args,
		Image: func() imageFacts {
			ep, _ := x.Swarm.ImageEntrypoint(ctx, image)
			return imageFacts{Ref: image, Present: true, Entrypoint: ep}
		}}
	return p.runsUpshift()
}

func (x *Stack) jobName(setup, what string, rec *Record) string {
	// Service names: 63 characters at most.
	n := fmt.Sprintf("%s_%s-upshift-%s-%s", x.Name, setup, what, strings.ToLower(rec.ID[len(rec.ID)-4:]))
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

func (x *Stack) stackGate(ctx context.Context, rec *Record, from compose.StackService, image string, req StackRequest) error {
	st := Step{Name: StepGate}
	r := Request{Setup: req.Setup, SetupCommand: req.SetupCommand, AllowBreaking: req.AllowBreaking}
	if ok, runs := x.stackRunsUpshift(ctx, from, image, req); !ok {
		why := fmt.Errorf("nothing shows that the setup service %s runs upshift migrate (it runs %s), so whether its migrations suit the running version cannot be checked", req.Setup, runs)
		if req.AllowBreaking {
			rec.Notes = append(rec.Notes, why.Error()+"; migrating while the old version serves anyway (breaking allowed)")
			return nil
		}
		return &RequestError{Msg: why.Error() + "; on Swarm the old version serves during the migration, so nothing was changed", Hint: "use upshift migrate as the setup service's entrypoint, or migrate unchecked", Options: []string{"allow-breaking"}}
	}
	name := x.jobName(req.Setup, "gate", rec)
	args := append(slices.Clone(req.SetupCommand), "--dry-run")
	lines, err := x.Swarm.RunJob(ctx, compose.JobOptions{From: from.ID, Name: name, Image: image, Args: args,
		Env: []string{result.LineEnv + "=" + result.LineValue}, Labels: map[string]string{labelJobOf: x.Name}},
		func(string) {})
	return x.judge(rec, st, r, lines, err, fmt.Sprintf("%s %s (swarm job %s)", image, strings.Join(args, " "), name))
}

func (x *Stack) stackSetup(ctx context.Context, rec *Record, from compose.StackService, image string, req StackRequest) error {
	started := x.now()
	sr := rec.Setup
	sr.Image = image
	name := x.jobName(req.Setup, "setup", rec)
	lines, err := x.Swarm.RunJob(ctx, compose.JobOptions{From: from.ID, Name: name, Image: image, Args: req.SetupCommand,
		Env: []string{result.LineEnv + "=" + result.LineValue}, Labels: map[string]string{labelJobOf: x.Name}},
		func(l string) {
			if _, ok, _ := result.ParseLine(l); !ok {
				x.emit(Event{Kind: EventOutput, Step: StepSetup, Source: req.Setup, Text: l})
			}
		})
	// upshift migrate's result: the typed account of what it applied,
	// read from the whole output the engine kept.
	for _, l := range lines {
		if doc, ok, derr := result.ParseLine(l); ok && derr == nil {
			sr.Migrations, sr.Source = doc.AppliedTags(), FromResult
		}
	}
	sr.DurationMS = x.now().Sub(started).Milliseconds()
	var je *compose.JobError
	if errors.As(err, &je) {
		sr.ExitCode = je.ExitCode
		if je.ExitCode < 0 {
			return fmt.Errorf("setup service %s did not run: %s", req.Setup, je.Err)
		}
		return fmt.Errorf("setup service %s exited with code %d%s", req.Setup, je.ExitCode, migrationsNote(sr.Migrations))
	}
	return err
}

// settleStackSetup finds what a dead upgrade's setup job applied (the run
// never read its result line, and the table is not reachable from here):
// the compatibility check, run again as a job, says what is pending now;
// what was pending at the dead run's check and no longer is, it applied.
// cleanJobs has waited for its job, so nothing is still migrating.
func (x *Stack) settleStackSetup(ctx context.Context, rec, dead *Record, req StackRequest) {
	if dead.Kind != KindUpgrade {
		return
	}
	if applied, ok := x.appliedSinceGate(ctx, rec, dead, req); ok && len(applied) > 0 {
		n := fmt.Sprintf("the interrupted %s had applied %s before it died (pending at its check, no longer pending now); they stay applied", dead.ID, strings.Join(applied, ", "))
		rec.Notes = append(rec.Notes, n)
		x.emit(Event{Kind: EventNote, Text: n})
	}
}

// appliedSinceGate records in of's setup what it applied, when its setup
// job ended without a result line (killed, signalled, cut short): what
// its gate found pending and the check, run again now, no longer does.
// rec is the run that asks (the same run, or a rerun after a dead one).
func (x *Stack) appliedSinceGate(ctx context.Context, rec, of *Record, req StackRequest) ([]string, bool) {
	if of.Setup == nil || of.Setup.Source == FromResult || of.GatePending == nil || req.Setup == "" {
		return nil, false
	}
	svcs, err := x.Swarm.StackServices(ctx, x.Name)
	file := x.Project.Services[req.Setup]
	if err != nil || file == nil {
		return nil, false
	}
	lines, err := x.Swarm.RunJob(ctx, compose.JobOptions{From: svcs[req.Setup].ID, Name: x.jobName(req.Setup, "check", rec), Image: file.Image,
		Args: append(slices.Clone(req.SetupCommand), "--dry-run"), Env: []string{result.LineEnv + "=" + result.LineValue}, Labels: map[string]string{labelJobOf: x.Name}},
		func(string) {})
	doc, perr := result.Find(lines)
	if err != nil || perr != nil || (doc.Error != nil && doc.Error.Message != "") {
		x.emit(Event{Kind: EventNote, Text: fmt.Sprintf("could not tell what %s's setup applied: the check job found no result (%v)", of.ID, cmp.Or(err, perr))})
		return nil, false
	}
	applied := []string{}
	for _, tag := range of.GatePending {
		if !slices.Contains(doc.Pending, tag) {
			applied = append(applied, tag)
		}
	}
	of.Setup.Migrations, of.Setup.Source = applied, FromPending
	return applied, true
}

// UpdateError is a service update the swarm did not complete: it paused,
// rolled back (also when the service is healthy again), or took too long.
type UpdateError struct {
	Service string
	State   string
	Message string
}

func (e *UpdateError) Error() string {
	return fmt.Sprintf("the swarm's update of %s ended %s%s", e.Service, e.State, errNote(e.Message))
}

// update makes one service update and follows it to its end.
func (x *Stack) update(ctx context.Context, rec *Record, name string, o compose.ServiceUpdateOptions, h Health) error {
	before, err := x.Swarm.Service(ctx, o.Service)
	if err != nil {
		return err
	}
	warnings, err := x.Swarm.UpdateService(ctx, o)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		x.emit(Event{Kind: EventNote, Text: name + ": " + w})
	}
	if now, err := x.Swarm.Service(ctx, o.Service); err == nil {
		rec.service(name).To = stackImage(now.Image) // the digest the swarm resolved
	}
	return x.follow(ctx, name, before, h, false)
}

// follow waits for the update that began after before to end: completed,
// or rollback_completed for a rollback that was asked for.
func (x *Stack) follow(ctx context.Context, name string, before compose.StackService, h Health, rollback bool) error {
	now, err := x.Swarm.Service(ctx, before.ID)
	if err != nil {
		return err
	}
	if now.Image == before.Image && !rollback && !now.UpdateStarted.After(before.UpdateStarted) {
		// The same digest and no update begun: the swarm replaces no task
		// (and may just drop the last update's status). An update that
		// already rolled back is back on the same image too, but it began.
		x.emit(Event{Kind: EventOutput, Step: StepUpdate, Source: name, Text: "already runs " + now.Image + ": the swarm has nothing to replace"})
		return nil
	}
	replicas := max(now.Replicas, 1)
	// Every task gets its monitor window and a start; a swarm that does
	// nothing for this long has stalled.
	limit := h.timeout() + 2*time.Minute + time.Duration(replicas)*(now.Monitor+30*time.Second)
	deadline := x.now().Add(limit)
	last := ""
	for {
		now, err = x.Swarm.Service(ctx, before.ID)
		if err != nil {
			return err
		}
		started := now.UpdateStarted.After(before.UpdateStarted)
		if started {
			onNew := len(x.running(ctx, now.ID, now.Image))
			progress := fmt.Sprintf("%s: %d of %d task(s) run %s", now.Update, onNew, replicas, now.Image)
			if progress != last {
				last = progress
				x.emit(Event{Kind: EventOutput, Step: StepUpdate, Source: name, Text: progress})
			}
			switch {
			case now.Update == "completed" && !rollback, now.Update == "rollback_completed" && rollback:
				return nil
			case now.Update == "rollback_started" && rollback:
			case now.Update == "paused", strings.HasPrefix(now.Update, "rollback_"):
				return &UpdateError{Service: now.Name, State: now.Update, Message: now.UpdateMessage}
			}
		}
		if x.now().After(deadline) {
			return &UpdateError{Service: now.Name, State: "stalled", Message: fmt.Sprintf("not completed within %s (state %q)", limit, cmp.Or(now.Update, "none"))}
		}
		if err := x.wait(ctx, x.poll()); err != nil {
			return err
		}
	}
}

// settle waits for a swarm rollback under way to end and says where the
// service is.
func (x *Stack) settle(ctx context.Context, id string) (compose.StackService, error) {
	deadline := x.now().Add(10 * time.Minute)
	for {
		s, err := x.Swarm.Service(ctx, id)
		if err != nil || (s.Update != "rollback_started" && s.Update != "updating") || x.now().After(deadline) {
			return s, err
		}
		if err := x.wait(ctx, x.poll()); err != nil {
			return s, err
		}
	}
}

// replace puts each service on its image: Swarm's rollback=previous where
// the previous spec is that image (the swarm may have rolled back by
// itself already), else an update to the image by digest.
func (e *stackRun) replace(_ *Record, services []string, to map[string]*Image, h Health) ([]Step, error) {
	x := e.x
	var steps []Step
	for _, name := range services {
		img := to[name]
		if img == nil {
			return nil, fmt.Errorf("no previous image of %s is recorded (nothing ran before)", name)
		}
		ref := img.Ref
		steps = append(steps, Step{Name: StepRollback, Services: []string{name}, What: fmt.Sprintf("%s → %s", name, ref), replaces: true,
			API: []string{fmt.Sprintf("POST /services/%s_%s/update: image %s (as rollback=previous where the swarm's previous spec is that image; nothing when it runs it already)", x.Name, name, ref)},
			run: func(ctx context.Context) error {
				cur, err := x.settle(ctx, x.stackID(ctx, name))
				if err != nil {
					return err
				}
				if cur.Image == ref {
					x.emit(Event{Kind: EventOutput, Step: StepRollback, Source: name, Text: "runs " + ref + " again (" + cmp.Or(cur.Update, "no update") + ")"})
					return nil
				}
				o := compose.ServiceUpdateOptions{Service: cur.ID, Image: ref, Version: cur.Version}
				if cur.PreviousImage == ref {
					o.Rollback = true
				}
				if _, err := x.Swarm.UpdateService(ctx, o); err != nil {
					return err
				}
				return x.follow(ctx, name, cur, h, o.Rollback)
			}})
	}
	return steps, nil
}

// target: a digest the registry keeps; nothing to check here.
func (e *stackRun) target(context.Context, string, *Image) error { return nil }

func (e *stackRun) keep(*Record) []Step { return nil }

func (e *stackRun) unchanged() string { return "no service was updated: the stack runs as before" }

// putBackLimit: each update is bounded by follow's own limit.
func (e *stackRun) putBackLimit(Health) time.Duration { return 0 }

func (e *stackRun) succeeded(context.Context, *Record) {}

func (x *Stack) stackID(ctx context.Context, name string) string {
	svcs, err := x.Swarm.StackServices(ctx, x.Name)
	if err != nil {
		return x.Name + "_" + name
	}
	return cmp.Or(svcs[name].ID, x.Name+"_"+name)
}

// ready is the stack's look for the verify loop: every replica of the
// services runs the spec's image, and the health URL answers 200 (with
// wantVersion when set).
func (e *stackRun) ready(services []string, h Health, wantVersion string) readiness {
	x := e.x
	return func(ctx context.Context) (bool, string, string, error) {
		for _, name := range services {
			s, err := x.Swarm.Service(ctx, x.stackID(ctx, name))
			if err != nil {
				return false, "", "", err
			}
			if n := len(x.running(ctx, s.ID, s.Image)); s.Replicas >= 0 && n < s.Replicas {
				return false, fmt.Sprintf("%d of %d task(s) of %s run %s", n, s.Replicas, name, s.Image), "", nil
			}
		}
		if h.URL == "" {
			return true, "", "running", nil
		}
		p := h.probe(ctx, x.httpClient(), wantVersion)
		switch {
		case !p.ok:
			return false, probeState(h.URL, p, wantVersion), "", nil
		case p.version != "":
			return true, "", fmt.Sprintf("%s: 200, version %s", h.URL, p.version), nil
		}
		return true, "", h.URL + ": 200", nil
	}
}

// serving is a service's running tasks and the image its spec names.
func (e *stackRun) serving(ctx context.Context, service string) ([]string, *Image, error) {
	svcs, err := e.x.Swarm.StackServices(ctx, e.x.Name)
	if err != nil {
		return nil, nil, err
	}
	cur, ok := svcs[service]
	if !ok {
		return nil, nil, fmt.Errorf("service %s is not in stack %s", service, e.x.Name)
	}
	return e.x.running(ctx, cur.ID, ""), stackImage(cur.Image), nil
}

// StackRollbackRequest is what `upshift rollback --stack` asks for.
type StackRollbackRequest struct {
	Services []string
	Health   Health
	DryRun   bool
}

// Rollback puts back, by digest, the images that ran before the latest
// upgrade of each service that no rollback undid: further back than
// Swarm's one level, one upgrade per rollback.
func (x *Stack) Rollback(ctx context.Context, req StackRollbackRequest) (*Record, error) {
	return x.rollback(ctx, &stackRun{x: x}, runSpec{Services: req.Services, Health: req.Health, DryRun: req.DryRun})
}
