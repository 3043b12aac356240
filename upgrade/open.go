package upgrade

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/redact"
)

// Options say which project to open and how the runs on it report.
type Options struct {
	Project compose.Options
	// StateDir is this machine's folder ("": DefaultStateDir): overrides,
	// resolved copies, default backups, a copy of the journal; and the
	// whole state when StateIn is StateLocal.
	StateDir string
	// StateIn says where the lock, journal and history live: StateEngine
	// (the default: with the deployment) or StateLocal (the folder).
	StateIn string
	// Lease is how long the deploy lock outlives its holder's last
	// renewal (0: DefaultLease).
	Lease time.Duration
	// KeepVolume names the engine's state volume ("": $UPSHIFT_STATE_VOLUME,
	// else compose.DefaultKeepVolume).
	KeepVolume string
	LockWait   time.Duration
	// Context is the docker context to use ("": as the docker CLI
	// chooses: DOCKER_HOST, DOCKER_CONTEXT, the config's current context).
	Context string
	// Secrets besides the project's (a health token, a backup URL's
	// password) that nothing may print.
	Secrets []string
	// Command is the command line the history records for the run.
	Command string
	OnEvent func(Event)
	// Deployed opens a stack without its stack file: the project is the
	// services the swarm runs under the stack's label. A rollback needs no
	// more (the record keeps the digests to put back), and at 3 a.m. the
	// file of the release being undone may be on another machine.
	Deployed bool
}

// preflightInterrupted makes the error of a preflight that a signal cut
// short say so: it is a cancellation, whatever the step it cut short made
// of it, and nothing was changed yet.
func preflightInterrupted(ctx context.Context, err *error) {
	if *err != nil && ctx.Err() != nil && !strings.HasPrefix((*err).Error(), "interrupted") {
		*err = fmt.Errorf("interrupted before anything was changed: %w", ctx.Err())
	}
}

// Where state lives (Options.StateIn).
const (
	StateEngine = "engine"
	StateLocal  = "local"
)

// Open loads the project, checks that the user's docker compose is v2 or
// later and that the engine answers, and opens the project's state: the
// preflight of every run, before anything is pinned, pulled or stopped.
// The executor's Secrets are everything it hides.
func Open(ctx context.Context, o Options) (x *Executor, err error) {
	defer preflightInterrupted(ctx, &err)
	p, secrets, ep, err := load(ctx, o)
	if err != nil {
		return nil, err
	}
	cli := &compose.CLI{Project: p, Context: ep.Context}
	if _, err := cli.Version(ctx); err != nil {
		return nil, err
	}
	engine, err := compose.ConnectTo(ctx, ep)
	if err != nil {
		return nil, err
	}
	x = &Executor{Project: p, Engine: engine, Compose: cli, Runner: &Runner{Endpoint: ep.String(), Remote: ep.Remote(), OnEvent: o.OnEvent,
		Secrets: secrets, LockWait: o.LockWait, Lease: o.Lease, Me: Me(o.Command), children: cli}}
	if err := x.openStore(ctx, o, engine, p.Name); err != nil {
		engine.Close()
		return nil, err
	}
	x.Redact = redactor(p, x.Local, secrets).String
	x.Me.Command = x.Redact(x.Me.Command)
	return x, nil
}

// openStore opens this machine's folder and the store: the engine's keep
// (compose.Keep), or the folder itself with --state local.
func (x *Executor) openStore(ctx context.Context, o Options, engine *compose.Docker, project string) error {
	local, done, err := x.Runner.openLocal(o, project)
	if done || err != nil {
		return err
	}
	es, carried, err := OpenEngineStore(ctx, engine.Keep(keepVolume(o)), project, x.Endpoint, local, time.Now())
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &StateError{Dir: "the engine " + x.Endpoint, Err: err, Hint: "upshift keeps the deploy lock, journal and history on the engine (a volume and containers that never run, made from an empty imported image); if this engine cannot hold them, run with --state local to keep them in " + local.Dir + " (only this machine then sees them)"}
	}
	x.Store, x.EngineID = es, es.Engine.ID
	if carried > 0 {
		x.emit(Event{Kind: EventNote, Text: fmt.Sprintf("carried the history of %s over from %s to %s: %d run(s); from now on every machine that reaches this engine sees it", project, local.Dir, es.Where(), carried)})
	}
	return nil
}

// openLocal opens this machine's folder (folder under the state
// directory) as the run's Local and, for now, its Store; done: o keeps the
// state there (--state local), said in the output.
func (x *Runner) openLocal(o Options, folder string) (local *State, done bool, err error) {
	if local, err = OpenState(cmp.Or(o.StateDir, DefaultStateDir()), folder); err != nil {
		return nil, false, err
	}
	x.Local, x.Store = local, local
	if done, err = localState(o); done {
		x.emit(Event{Kind: EventNote, Text: "the deploy lock, the journal and the history are in " + x.Local.Dir + " (--state local): only this machine sees them"})
	}
	return local, done, err
}

// localState says whether o keeps state in the local folder.
func localState(o Options) (bool, error) {
	if o.Lease != 0 && o.Lease < 3*time.Second {
		return false, &RequestError{Msg: fmt.Sprintf("--lease %s is too short: the holder renews its lease every third of it, and an engine over ssh takes a moment to answer", o.Lease), Hint: "give it 3s or more (default 30s)", Options: []string{"lease"}}
	}
	switch o.StateIn {
	case StateLocal:
		return true, nil
	case "", StateEngine:
		return false, nil
	}
	return false, &RequestError{Msg: fmt.Sprintf("--state %s: state is kept on the engine (engine) or in the local folder (local)", o.StateIn), Options: []string{"state"}}
}

func keepVolume(o Options) string {
	return cmp.Or(o.KeepVolume, os.Getenv("UPSHIFT_STATE_VOLUME"), compose.DefaultKeepVolume)
}

// load is where every run's preflight starts: the project (or stack file),
// every secret it and the options hold, and the engine's endpoint.
func load(ctx context.Context, o Options) (*compose.Project, []string, compose.Endpoint, error) {
	p, err := compose.Load(ctx, o.Project)
	if err != nil {
		return nil, nil, compose.Endpoint{}, err
	}
	ep, err := compose.ResolveEndpoint(o.Context)
	if err != nil {
		return nil, nil, compose.Endpoint{}, err
	}
	return p, append(slices.Clone(p.Secrets), o.Secrets...), ep, nil
}

// redactor hides the secrets everywhere but inside the project's names —
// its name, services, containers, files, images, state folder — which are
// printed whole; a secret that is part of one is too weak to hide, and
// gets a warning that names where it comes from, never its value.
func redactor(p *compose.Project, st *State, secrets []string) *redact.Set {
	if st == nil {
		st = &State{}
	}
	set := redact.Of(secrets...)
	names := append([]string{p.Name, p.WorkingDir, st.Dir}, p.Files...)
	names = append(names, p.EnvFiles...)
	for _, s := range p.Services {
		names = append(names, s.Name, s.Image, s.ContainerName)
	}
	set.Protect(names...)
	weak := set.Weak(secrets...)
	var warnings []string
	for sec, name := range weak {
		where := cmp.Or(p.SecretSources[sec], "a secret")
		warnings = append(warnings, fmt.Sprintf("%s is weak: it is part of the name %q, which upshift prints whole, so it cannot be hidden from the output; use a strong, random secret", where, name))
	}
	slices.Sort(warnings)
	p.Warnings = append(p.Warnings, warnings...)
	return set
}

// Query selects runs of the history.
type Query struct {
	Service string // only runs that touched it ("": all)
	Limit   int    // the newest this many (0: all)
}

// Entry is one run of the history, with the rollback that undid it.
type Entry struct {
	*Record
	RolledBackBy *string `json:"rolled_back_by"`
}

// Runs lists the history newest first, with a run that a dead upshift
// left unfinished (and that no live one holds the lock for) reported as
// interrupted.
func Runs(ctx context.Context, s Store, q Query) ([]Entry, error) {
	runs, err := s.History(ctx)
	if err != nil {
		return nil, err
	}
	unfinished, err := s.Unfinished(ctx)
	if err != nil {
		return nil, err
	}
	if unfinished != nil {
		// A finished run the history could not take is shown as it ended.
		held, _ := s.Held(ctx)
		now := time.Now().Add(s.Skew())
		if held != nil && !held.Expired(now) && unfinished.Outcome == Running && held.TTL > 0 {
			// Its holder renewed the lease lately: it runs, or died
			// less than a lease ago; nothing here can tell which yet.
			unfinished.Error = fmt.Sprintf("under way during step %q: %s renewed its deploy lock %s ago; if that upshift died, its lease runs out within %s and the next run finishes or undoes it",
				unfinished.Step, held.Holder, now.Sub(held.Renewed).Round(time.Second), held.TTL)
		}
		if (held == nil || held.Expired(now)) && unfinished.Outcome == Running {
			unfinished.Outcome = Interrupted
			unfinished.Error = fmt.Sprintf("upshift stopped during step %q without finishing; `upshift upgrade` finishes it, `upshift rollback` puts the images from before it back", unfinished.Step)
		}
		runs = append(runs, unfinished)
	}
	undone := UndoneBy(runs)
	var shown []*Record
	for _, r := range runs {
		if q.Service == "" || slices.Contains(r.ServiceNames(), q.Service) {
			shown = append(shown, r)
		}
	}
	if q.Limit > 0 && len(shown) > q.Limit {
		shown = shown[len(shown)-q.Limit:]
	}
	out := []Entry{}
	for i := len(shown) - 1; i >= 0; i-- {
		e := Entry{Record: shown[i]}
		if by := undone[shown[i].ID]; by != nil {
			e.RolledBackBy = &by.ID
		}
		out = append(out, e)
	}
	return out, nil
}

// OpenHistory opens the history of a project, named by its compose files
// as Open would load them, or of a stack (stack != ""), which needs no
// file: both are read from the engine (the swarm) where the state lives
// there. name is the project's or the stack's; close ends the engine's
// connection.
func OpenHistory(ctx context.Context, o Options, stack string) (st Store, name string, close func(), err error) {
	close = func() {}
	name = stack
	if stack == "" {
		p, err := compose.Load(ctx, o.Project)
		if err != nil {
			return nil, "", close, err
		}
		name = p.Name
	}
	if o.StateIn == StateLocal {
		folder := name
		if stack != "" {
			folder = StackState(stack)
		}
		st, err = OpenState(cmp.Or(o.StateDir, DefaultStateDir()), folder)
		return st, name, close, err
	}
	ep, err := compose.ResolveEndpoint(o.Context)
	if err != nil {
		return nil, "", close, err
	}
	engine, err := compose.ConnectTo(ctx, ep)
	if err != nil {
		return nil, "", close, err
	}
	close = func() { engine.Close() }
	r := &Runner{Endpoint: ep.String(), OnEvent: o.OnEvent}
	if stack != "" {
		sx := &Stack{Runner: r, Name: stack, Swarm: engine.Swarm(), At: ep}
		if err := sx.openStore(ctx, o, engine.Swarm()); err != nil {
			return nil, "", close, err
		}
		return sx.Store, name, close, nil
	}
	x := &Executor{Runner: r}
	if err := x.openStore(ctx, o, engine, name); err != nil {
		return nil, "", close, err
	}
	return x.Store, name, close, nil
}

// WriteText writes the entry as `upshift history` shows it: one line for
// the run, then what changed.
func (e Entry) WriteText(w io.Writer) {
	status := e.Record.Describe()
	if e.RolledBackBy != nil {
		status += ", rolled back by " + *e.RolledBackBy
	}
	fmt.Fprintf(w, "%s  %-8s %s  %s  (%s, by %s)\n", e.StartedAt.Local().Format("2006-01-02 15:04:05"), e.Kind, e.ID, status,
		time.Duration(e.DurationMS)*time.Millisecond, e.Holder.Short())
	for _, s := range e.Services {
		fmt.Fprintf(w, "    %s %s → %s\n", s.Name, s.From.String(), s.To.String())
	}
	if e.Setup != nil && len(e.Setup.Migrations) > 0 {
		fmt.Fprintf(w, "    migrations applied: %s\n", strings.Join(e.Setup.Migrations, ", "))
	}
	if e.Strategy != "" {
		fmt.Fprintf(w, "    strategy: %s (%s)\n", e.Strategy, e.StrategyReason)
	}
	if e.Backup != nil {
		fmt.Fprintf(w, "    backup: %s (%d bytes)\n", e.Backup.File, e.Backup.SizeBytes)
	}
	if e.Error != "" {
		fmt.Fprintf(w, "    error: %s\n", e.Error)
	}
}

// StackState is the name of a stack's state folder: a dot can never be in
// a compose project's name, so a stack and a project never share one.
func StackState(stack string) string { return stack + ".stack" }

// OpenStack is Open for a deployed Docker Swarm stack: the stack file
// loads with compose-go under the stack's name, the engine must answer
// (that it is a swarm manager is checked when a run begins), and the
// stack's state folder opens. No docker compose CLI is involved.
func OpenStack(ctx context.Context, o Options, stack string) (x *Stack, err error) {
	defer preflightInterrupted(ctx, &err)
	if !validStack.MatchString(stack) {
		return nil, &RequestError{Msg: fmt.Sprintf("%q is not a stack name (letters, digits, _ and -, starting with a letter or digit)", stack), Options: []string{"stack"}}
	}
	o.Project.ProjectName = stack
	var p *compose.Project
	secrets := o.Secrets
	var ep compose.Endpoint
	if o.Deployed {
		ep, err = compose.ResolveEndpoint(o.Context)
	} else {
		p, secrets, ep, err = load(ctx, o)
	}
	if err != nil {
		return nil, err
	}
	engine, err := compose.ConnectTo(ctx, ep)
	if err != nil {
		return nil, err
	}
	x = &Stack{Runner: &Runner{Endpoint: ep.String(), OnEvent: o.OnEvent, LockWait: o.LockWait, Lease: o.Lease, Me: Me(o.Command)},
		Name: stack, Swarm: engine.Swarm(), At: ep, close: engine.Close}
	if o.Deployed {
		if p, err = x.deployedProject(ctx); err != nil {
			engine.Close()
			return nil, err
		}
	}
	if err := x.openStore(ctx, o, engine.Swarm()); err != nil {
		engine.Close()
		return nil, err
	}
	x.Project, x.Secrets = p, secrets
	x.Redact = redactor(p, x.Local, secrets).String
	x.Me.Command = x.Redact(x.Me.Command)
	return x, nil
}

// deployedProject is the project of a stack as the swarm runs it: its
// services by their stack names, with the images their specs name.
func (x *Stack) deployedProject(ctx context.Context) (*compose.Project, error) {
	if _, err := x.manager(ctx); err != nil {
		return nil, err
	}
	svcs, err := x.Swarm.StackServices(ctx, x.Name)
	if err != nil {
		return nil, &compose.EngineError{Endpoint: x.At, Err: err}
	}
	if len(svcs) == 0 {
		return nil, &RequestError{Msg: fmt.Sprintf("no stack %s is deployed on the swarm at %s (no service is labelled %s=%s)", x.Name, x.Endpoint, compose.LabelStack, x.Name),
			Hint: "check the name with `docker stack ls`, or point upshift at that swarm's manager (--context, DOCKER_HOST)", Options: []string{"stack", "context"}}
	}
	wd, _ := os.Getwd()
	p := &compose.Project{Name: x.Name, WorkingDir: wd, Services: map[string]*compose.Service{}}
	for name, s := range svcs {
		if !s.Job {
			p.Services[name] = &compose.Service{Name: name, Image: s.Image}
		}
	}
	return p, nil
}

var validStack = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)
