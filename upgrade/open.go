package upgrade

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
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
	// StateDir is where history, the deploy lock and overrides are kept
	// ("": DefaultStateDir).
	StateDir string
	LockWait time.Duration
	// Context is the docker context to use ("": as the docker CLI
	// chooses: DOCKER_HOST, DOCKER_CONTEXT, the config's current context).
	Context string
	// Secrets besides the project's (a health token, a backup URL's
	// password) that nothing may print.
	Secrets []string
	// Command is the command line the history records for the run.
	Command string
	OnEvent func(Event)
}

// preflightInterrupted makes the error of a preflight that a signal cut
// short say so: it is a cancellation, whatever the step it cut short made
// of it, and nothing was changed yet.
func preflightInterrupted(ctx context.Context, err *error) {
	if *err != nil && ctx.Err() != nil && !strings.HasPrefix((*err).Error(), "interrupted") {
		*err = fmt.Errorf("interrupted before anything was changed: %w", ctx.Err())
	}
}

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
	dir := o.StateDir
	if dir == "" {
		dir = DefaultStateDir()
	}
	st, err := OpenState(dir, p.Name)
	if err != nil {
		engine.Close()
		return nil, err
	}
	return &Executor{Project: p, Engine: engine, Endpoint: ep.String(), Compose: cli, State: st, OnEvent: o.OnEvent,
		Redact: redactor(p, st, secrets).String, Secrets: secrets, LockWait: o.LockWait, Me: Me(o.Command)}, nil
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

// URLPassword is the password of a postgres:// URL ("" when none), for
// Options.Secrets.
func URLPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
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
func (s *State) Runs(q Query) ([]Entry, error) {
	runs, err := s.History()
	if err != nil {
		return nil, err
	}
	unfinished, err := s.Unfinished()
	if err != nil {
		return nil, err
	}
	if unfinished != nil {
		// A finished run the history could not take is shown as it ended.
		if locked, _ := s.Locked(); !locked && unfinished.Outcome == Running {
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
	p, secrets, ep, err := load(ctx, o)
	if err != nil {
		return nil, err
	}
	engine, err := compose.ConnectTo(ctx, ep)
	if err != nil {
		return nil, err
	}
	st, err := OpenState(cmp.Or(o.StateDir, DefaultStateDir()), StackState(stack))
	if err != nil {
		engine.Close()
		return nil, err
	}
	base := &Executor{Project: p, Engine: engine, Endpoint: ep.String(), State: st, OnEvent: o.OnEvent,
		Redact: redactor(p, st, secrets).String, Secrets: secrets, LockWait: o.LockWait, Me: Me(o.Command)}
	return &Stack{Executor: base, Name: stack, Swarm: engine.Swarm(), At: ep}, nil
}

var validStack = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)
