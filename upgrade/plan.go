package upgrade

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-shellwords"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/migrate/result"
)

// Step names, in the order an upgrade runs them.
const (
	StepPin      = "pin"
	StepPull     = "pull"
	StepBuild    = "build"
	StepStop     = "stop"
	StepSetup    = "setup"
	StepStart    = "start"
	StepVerify   = "verify"
	StepRollback = "rollback"
)

// Step is one planned step: what it does and the compose verbs it runs.
type Step struct {
	Name     string
	Services []string
	Verbs    []compose.Verb
	What     string // for people
	// API names the engine API requests of a step with no compose verbs
	// (a swarm step's service update), as the record keeps them: no
	// command line runs for it, so none is recorded.
	API []string
	// run, when set, is the step's work instead of its verbs.
	run func(context.Context) error
	// before runs ahead of the step's journaling (the migrations table's
	// mark, journaled with the step).
	before func(context.Context)
	// then, after the step succeeded, gives the steps that replace the
	// rest of the plan (nil: the plan stands).
	then func() []Step
	// replaces: once begun, the step may have moved its services off the
	// images they ran (a stop, a start, a roll, a swarm update).
	replaces bool
}

// Request is what the user asked for.
type Request struct {
	Services []string
	// Setup is the one-shot service that migrates ("" for none): the
	// first setup step, the one the gate and --migrate-first apply to.
	Setup string
	// Warnings are what the plan tells before anything runs: a one-shot
	// that plainly migrates but that no upgraded service waits for, so
	// that it is not run unless named.
	Warnings []string
	// SetupAfter are the further setup steps, in order (a seed, a config
	// step): one-shots that run once after Setup, each on its new image.
	SetupAfter []string
	// SetupBefore are the one-shots Setup depends on (a chmod of its
	// volume) that come before it in the chain: compose runs them as
	// its dependencies, in its run, and they are not the migration.
	SetupBefore []string
	// SetupCommand, when set, replaces Setup's command (its entrypoint
	// stays) and runs it without starting dependencies: migrations through
	// the app's own image.
	SetupCommand []string
	// SetupProfiles must be enabled to run the setup steps.
	SetupProfiles []string
	// Pull and Build are the services (setup steps included) whose new
	// images are pulled, and those built on this host.
	Pull  []string
	Build []string
	// SharesBuild says which services are not built themselves: their
	// build and image are another's in Build.
	SharesBuild []string
	Health      Health
	DryRun      bool
	// Strategy is StopStart (default), MigrateFirst or Rolling; the last
	// two run the setup service while the old version serves.
	Strategy Strategy
	// Auto: the strategy was chosen by upshift (Choose); when the gate
	// does not clear the migrations, the run falls back to stop-start
	// instead of failing. Reason says why it is what it is.
	Auto   bool
	Reason string
	// AllowBreaking skips the compatibility gate's refusal.
	AllowBreaking bool
	// Drain is how long old containers keep serving after the new ones
	// answer (rolling), for proxies that hold connections.
	Drain time.Duration
	// Backup, when set, dumps the database before anything is pulled,
	// stopped or migrated.
	Backup *Backup
}

// migratesFirst says whether the setup service runs while the old version
// serves, behind the compatibility gate.
func (r Request) migratesFirst() bool {
	return r.Setup != "" && (r.Strategy == MigrateFirst || r.Strategy == Rolling)
}

// strategyName is how the services are replaced.
func (r Request) strategyName() Strategy {
	switch {
	case r.Strategy == Rolling:
		return Rolling
	case r.migratesFirst():
		return MigrateFirst
	}
	return StopStart
}

// setups are every setup step, in order.
func (r Request) setups() []string {
	if r.Setup == "" {
		return nil
	}
	return append([]string{r.Setup}, r.SetupAfter...)
}

// DefaultSetupService is the setup service used when the project defines it.
const DefaultSetupService = "db-setup"

// Choice is what the user chose on the command line.
type Choice struct {
	Services []string
	// SetupServices name the setup steps in order (the first migrates);
	// empty: the one-shots the services wait for, from the compose file.
	SetupServices []string
	NoSetup       bool
	// SetupCommand replaces the first setup step's command (a shell-like
	// string: "pnpm run db:migrate").
	SetupCommand string
	// Build builds every service that has a build: section; Pull pulls
	// every service that names an image; neither: compose's pull_policy.
	Build, Pull bool
}

// Resolve checks a request against the project before anything is touched:
// every service exists and has an image or a build, the setup steps —
// named, or else the one-shots the services depend on with
// service_completed_successfully (transitively, dependencies first) and
// db-setup where the project defines it — are one-shots. Errors are
// *compose.ProjectError.
func Resolve(p *compose.Project, c Choice) (Request, error) {
	req := Request{}
	if len(c.Services) == 0 {
		return req, &compose.ProjectError{Msg: "no service to upgrade was named", Hint: "services in " + p.Name + ": " + strings.Join(p.ServiceNames(), ", ")}
	}
	for _, name := range c.Services {
		if slices.Contains(req.Services, name) {
			continue
		}
		s, err := p.Service(name)
		if err != nil {
			return req, err
		}
		if s.Image == "" && !s.Build {
			return req, &compose.ProjectError{Msg: fmt.Sprintf("service %q has neither an image nor a build: there is nothing to upgrade it to", name),
				Hint: "add `image:` naming where CI pushes it, or `build:`"}
		}
		req.Services = append(req.Services, name)
	}
	var setups []string
	switch {
	case c.NoSetup && c.SetupCommand != "":
		return req, &compose.ProjectError{Msg: "a setup command needs a setup step, and no setup was asked for", Options: []string{"no-setup", "setup-command"}}
	case c.NoSetup:
	case len(c.SetupServices) > 0:
		setups = c.SetupServices
	default:
		var notes []string
		setups, req.SetupBefore, notes = migratingFirst(p, SetupChain(p, req.Services))
		req.Warnings = append(unchainedMigrations(p, req.Services, append(slices.Clone(req.SetupBefore), setups...)), notes...)
	}
	if c.SetupCommand != "" && len(setups) == 0 {
		return req, &compose.ProjectError{Msg: "a setup command runs in a setup service, and the project names none", Hint: "name the service whose image runs it (the app's own, for migrations through the app)", Options: []string{"setup-service"}}
	}
	for i, name := range setups {
		if slices.Contains(setups[:i], name) {
			continue
		}
		s, err := p.Service(name)
		if err != nil {
			return req, &compose.ProjectError{Msg: fmt.Sprintf("setup service %q is not defined", name), Hint: "name the setup service, or run none", Options: []string{"setup-service", "no-setup"}}
		}
		withCommand := i == 0 && c.SetupCommand != ""
		if slices.Contains(req.Services, name) && !withCommand {
			return req, &compose.ProjectError{Msg: fmt.Sprintf("%q is a setup service; it runs once during the upgrade and is not upgraded as a service", name),
				Hint: "to run migrations through the app's own image, give the command too", Options: []string{"setup-command"}}
		}
		switch s.Restart {
		case "always", "unless-stopped", "any":
			if !withCommand {
				return req, &compose.ProjectError{Msg: fmt.Sprintf("setup service %q has `restart: %s`, so it never finishes: it must be a one-shot that exits 0 when the migrations are applied", name, s.Restart),
					Hint: "set `restart: \"no\"` (or on-failure) on it, run a command in it instead, or run no setup service", Options: []string{"setup-command", "no-setup"}}
			}
		}
		if s.Image == "" && !s.Build {
			return req, &compose.ProjectError{Msg: fmt.Sprintf("setup service %q has neither an image nor a build", name)}
		}
		if !s.Enabled {
			for _, pr := range s.Profiles {
				if !slices.Contains(req.SetupProfiles, pr) {
					req.SetupProfiles = append(req.SetupProfiles, pr)
				}
			}
		}
		if i == 0 {
			req.Setup = name
		} else {
			req.SetupAfter = append(req.SetupAfter, name)
		}
	}
	if c.SetupCommand != "" {
		words, err := shellwords.Parse(c.SetupCommand)
		if err != nil || len(words) == 0 {
			return req, &compose.ProjectError{Msg: fmt.Sprintf("setup command %q cannot be split into words: %v", c.SetupCommand, err), Options: []string{"setup-command"}}
		}
		req.SetupCommand = words
	}
	for _, name := range req.SetupBefore {
		if s := p.Services[name]; s != nil && !s.Enabled {
			for _, pr := range s.Profiles {
				if !slices.Contains(req.SetupProfiles, pr) {
					req.SetupProfiles = append(req.SetupProfiles, pr)
				}
			}
		}
	}
	for _, name := range append(append(slices.Clone(req.Services), req.SetupBefore...), req.setups()...) {
		if slices.Contains(req.Pull, name) || slices.Contains(req.Build, name) {
			continue
		}
		switch s := p.Services[name]; newImage(s, c) {
		case "build":
			if other := sharedBuild(p, req.Build, s); other != "" {
				// One build makes the image both name.
				req.SharesBuild = append(req.SharesBuild, name+" shares "+other+"'s build and image")
				continue
			}
			req.Build = append(req.Build, name)
		case "pull":
			req.Pull = append(req.Pull, name)
		}
	}
	return req, nil
}

// sharedBuild is the service of built whose build and image s shares
// ("" when none): the same build section and the same image name.
func sharedBuild(p *compose.Project, built []string, s *compose.Service) string {
	if s == nil || s.Image == "" || s.BuildKey == "" {
		return ""
	}
	for _, name := range built {
		if o := p.Services[name]; o != nil && o.Image == s.Image && o.BuildKey == s.BuildKey {
			return name
		}
	}
	return ""
}

func sharesNote(req Request) string {
	if len(req.SharesBuild) == 0 {
		return ""
	}
	return " (" + strings.Join(req.SharesBuild, "; ") + ")"
}

// newImage says how a service gets its new image, by compose's pull_policy
// unless --build or --pull says otherwise: "build" for a service with a
// build section (always, build, missing or none: an upgrade wants the new
// build), "pull" for one with an image only (or pull_policy: always),
// "" for pull_policy: never (the image is made elsewhere).
func newImage(s *compose.Service, c Choice) string {
	switch {
	case c.Build && s.Build:
		return "build"
	case c.Pull && s.Image != "":
		return "pull"
	}
	switch s.PullPolicy {
	case "never":
		return ""
	case "always":
		if s.Image != "" {
			return "pull"
		}
	}
	if s.Build {
		return "build"
	}
	return "pull"
}

// SetupChain are the setup steps the compose file implies for services:
// the one-shots they wait for with service_completed_successfully, and
// the ones those wait for, dependencies first (migrate before seed); plus
// db-setup, first, where the project defines it.
func SetupChain(p *compose.Project, services []string) []string {
	var out []string
	seen := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		s := p.Services[name]
		if s == nil {
			return
		}
		for _, dep := range s.Completes {
			visit(dep)
			if !slices.Contains(out, dep) && !slices.Contains(services, dep) {
				out = append(out, dep)
			}
		}
	}
	for _, s := range services {
		visit(s)
	}
	if _, ok := p.Services[DefaultSetupService]; ok && !slices.Contains(out, DefaultSetupService) && !slices.Contains(services, DefaultSetupService) {
		out = append([]string{DefaultSetupService}, out...)
	}
	return out
}

// migrates says why a service plainly is a migration step ("" when it is
// not): what it runs says so (MigrationCommand), or it is the default
// setup service, or its name says so.
func migrates(s *compose.Service, command []string) string {
	if s == nil {
		return ""
	}
	argv := append(append(slices.Clone(command), s.Entrypoint...), s.Command...)
	if MigrationCommand(argv) {
		return "its command `" + firstLine(strings.Join(append(slices.Clone(s.Entrypoint), s.Command...), " ")) + "`"
	}
	if s.Name == DefaultSetupService {
		return "the default setup service"
	}
	if strings.Contains(strings.ToLower(s.Name), "migrat") {
		return "its name"
	}
	return ""
}

// migrationTools are the tools whose subcommand migrates without the word
// itself: `alembic upgrade head`, `liquibase update`, `goose up`,
// `dbmate up`.
var migrationTools = map[string]string{"alembic": "upgrade", "liquibase": "update", "goose": "up", "dbmate": "up"}

// MigrationCommand says whether a command migrates a database, by what it
// runs: upshift, a word with "migrat" in it (`migrate`, `db:migrate`,
// `migrate sql`, `migrations up`, `migration:latest`, `prisma migrate
// deploy`, `rails db:migrate`, `knex migrate:latest`, `flyway migrate`,
// `drizzle-kit migrate`, `atlas migrate apply`), or one of
// migrationTools with its subcommand. A script (`sh -c "…"`) is read
// word by word.
func MigrationCommand(argv []string) bool {
	var words []string
	for _, a := range argv {
		words = append(words, strings.Fields(strings.ToLower(a))...)
	}
	for i, w := range words {
		base := filepath.Base(w)
		switch {
		case strings.Contains(w, "migrat"), strings.Contains(base, "upshift"):
			return true
		case migrationTools[base] != "" && slices.Contains(words[i+1:], migrationTools[base]):
			return true
		}
	}
	return false
}

// migratingFirst takes the setup chain (dependencies first) and makes the
// step that migrates the first one, the one with the migrating role (its
// result line, the gate, what the history says it applied): the one-shots
// it depends on are its dependencies, which compose runs before it as
// part of its run, and the others follow it. notes say what upshift made
// of a chain where none or several steps look like migrations.
func migratingFirst(p *compose.Project, chain []string) (setups, before []string, notes []string) {
	var migrating []string
	for _, name := range chain {
		if migrates(p.Services[name], nil) != "" {
			migrating = append(migrating, name)
		}
	}
	switch {
	case len(chain) == 0:
		return chain, nil, nil
	case len(migrating) == 0:
		if len(chain) > 1 || p.Services[chain[0]] != nil && len(p.Services[chain[0]].Command) > 0 {
			notes = append(notes, fmt.Sprintf("no setup step (%s) looks like a migration by what it runs (upshift, or a command with \"migrate\" in it): they run in order, none of them as the migration; if one migrates, name it with --setup-service", strings.Join(chain, ", ")))
		}
		return chain, nil, notes
	case len(migrating) > 1:
		notes = append(notes, fmt.Sprintf("several setup steps look like migrations (%s): %s, the first, is the migration the compatibility check and the history speak of; name another with --setup-service", strings.Join(migrating, ", "), migrating[0]))
	}
	m := slices.Index(chain, migrating[0])
	if m == 0 {
		return chain, nil, notes
	}
	deps := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if s := p.Services[name]; s != nil {
			for _, d := range s.Completes {
				if !deps[d] {
					deps[d] = true
					visit(d)
				}
			}
		}
	}
	visit(migrating[0])
	setups = []string{migrating[0]}
	for _, name := range chain {
		switch {
		case name == migrating[0]:
		case deps[name]:
			before = append(before, name)
		default:
			setups = append(setups, name)
		}
	}
	return setups, before, notes
}

// unchainedMigrations: one-shots that plainly migrate (ory/kratos's
// kratos-migrate under a plain depends_on, Kong's kong-migrations behind a
// profile) but that the upgrade would not run, since no upgraded service
// waits for them to finish.
func unchainedMigrations(p *compose.Project, services, setups []string) []string {
	var out []string
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if slices.Contains(services, name) || slices.Contains(setups, name) || s.Restart == "always" || s.Restart == "unless-stopped" {
			continue
		}
		why := migrates(s, nil)
		if why == "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s looks like a migration step (%s), but no service being upgraded waits for it to finish (depends_on with condition: service_completed_successfully), so this upgrade does not run it; to run it as the setup step: --setup-service %s", name, why, name))
	}
	return out
}

// Current is what runs now, per service.
type Current map[string][]compose.Container

// Plan lays out an upgrade's steps with the exact compose commands.
func Plan(p *compose.Project, current Current, req Request) []Step {
	var pins []string
	for _, s := range req.Services {
		if c := runningImage(current[s]); c != nil {
			pins = append(pins, fmt.Sprintf("%s %s → %s", s, compose.ShortID(c.ImageID), "upshift.local/…"))
		}
	}
	steps := []Step{
		{Name: StepPin, Services: req.Services, What: "keep the running images under a tag of upshift's own (rollback target): " + orNone(pins)},
	}
	if b := req.Backup; b != nil {
		via := "the host's pg_dump"
		if b.Service != "" {
			via = "pg_dump in the " + b.Service + " container"
		}
		steps = append(steps, Step{Name: StepBackup, What: "dump the database with " + via + " into " + b.Dir})
	}
	if len(req.Pull) > 0 {
		steps = append(steps, Step{Name: StepPull, Services: req.Pull, Verbs: []compose.Verb{compose.PullOptions{Services: req.Pull, Profiles: req.SetupProfiles}},
			What: "pull the new images of " + strings.Join(req.Pull, ", ")})
	}
	if len(req.Build) > 0 {
		steps = append(steps, Step{Name: StepBuild, Services: req.Build, Verbs: []compose.Verb{compose.BuildOptions{Services: req.Build, Profiles: req.SetupProfiles}},
			What: "build the new images of " + strings.Join(req.Build, ", ") + " on this host while the old version serves" + sharesNote(req)})
	}
	setup := setupSteps(p, req)
	if req.migratesFirst() {
		steps = append(steps, Step{Name: StepGate, Services: []string{req.Setup}, Verbs: []compose.Verb{GateVerb(req)},
			What: "refuse migrations that drop, rename, retype or make NOT NULL what the running version uses"})
		setup[0].What = "run " + req.Setup + " once while the old version serves" + migrationsWord(p, req) + ", then remove its container" + beforeNote(req)
		steps = append(steps, setup...)
	}
	if req.Strategy == Rolling {
		for _, s := range req.Services {
			n := 0
			for _, c := range current[s] {
				if c.Running() {
					n++
				}
			}
			what := fmt.Sprintf("start %d new %s container(s) beside the old, verify each, then stop the old gracefully", n, s)
			fresh := n
			if n == 0 {
				fresh = 1
				if svc := p.Services[s]; svc != nil {
					fresh = max(1, svc.Scale)
				}
				what = fmt.Sprintf("start %d %s container(s) (none runs yet) and verify each", fresh, s)
			}
			steps = append(steps, Step{Name: StepRoll, Services: []string{s}, Verbs: []compose.Verb{RollVerb(s, n, fresh)}, What: what})
		}
		return steps
	}
	start := Step{Name: StepStart, Services: req.Services, Verbs: []compose.Verb{StartVerb(req.Services)}, What: "start " + strings.Join(req.Services, ", ") + " on the new images"}
	if req.migratesFirst() {
		// Migrated already: `up` replaces each container in one move
		// (stop_grace_period, then the new one), the shortest swap.
		start.What = "replace " + strings.Join(req.Services, ", ") + " by containers on the new images"
	} else {
		steps = append(steps, Step{Name: StepStop, Services: req.Services, Verbs: []compose.Verb{compose.StopOptions{Services: req.Services}}, What: "stop " + strings.Join(req.Services, ", ")})
		steps = append(steps, setup...)
	}
	steps = append(steps, start,
		Step{Name: StepVerify, Services: req.Services, What: req.Health.describe()},
	)
	return steps
}

// setupSteps are the setup steps in order: the one that migrates, then
// migrationsWord labels the first setup step " (migrations)" when it plainly
// migrates; a one-shot that only prepares (a chown, a config) is not called so.
func migrationsWord(p *compose.Project, req Request) string {
	if migrates(p.Services[req.Setup], req.SetupCommand) != "" {
		return " (migrations)"
	}
	return ""
}

// the rest of the chain, each with --no-deps (a one-shot it waits for
// already ran as an earlier step) after its other dependencies are up.
func setupSteps(p *compose.Project, req Request) []Step {
	if req.Setup == "" {
		return nil
	}
	what := "run " + req.Setup + " once" + migrationsWord(p, req) + ", then remove its container"
	if len(req.SetupCommand) > 0 {
		what = "run `" + strings.Join(req.SetupCommand, " ") + "` once in a new " + req.Setup + " container" + migrationsWord(p, req) + ", then remove it"
	}
	what += beforeNote(req)
	steps := []Step{{Name: StepSetup, Services: []string{req.Setup}, Verbs: []compose.Verb{SetupVerb(req)}, What: what}}
	chain := req.setups()
	for _, name := range req.SetupAfter {
		var verbs []compose.Verb
		if s := p.Services[name]; s != nil {
			var deps []string
			for _, d := range s.DependsOn {
				if !slices.Contains(chain, d) && !slices.Contains(s.Completes, d) {
					deps = append(deps, d)
				}
			}
			if len(deps) > 0 {
				verbs = append(verbs, compose.UpOptions{Services: deps, NoRecreate: true, Wait: true})
			}
		}
		verbs = append(verbs, compose.RunOptions{Service: name, Profiles: req.SetupProfiles, NoDeps: true})
		steps = append(steps, Step{Name: StepSetup, Services: []string{name}, Verbs: verbs, What: "run " + name + " once, then remove its container"})
	}
	return steps
}

// beforeNote names the one-shots compose runs before the setup step, as
// its dependencies.
func beforeNote(req Request) string {
	if len(req.SetupBefore) == 0 {
		return ""
	}
	return " (compose runs " + strings.Join(req.SetupBefore, ", ") + " first, as its dependencies)"
}

// SetupVerb runs the setup service as a one-shot: dependencies (the
// database) started as `up` would, output attached, the exit code its own,
// and only its container removed afterwards (never `down`, which would
// remove the whole project, database included).
func SetupVerb(req Request) compose.RunOptions {
	// UPSHIFT_RESULT=line: upshift migrate ends its output with its result
	// document, which is how the run learns what the step applied.
	v := compose.RunOptions{Service: req.Setup, Profiles: req.SetupProfiles, Env: []string{result.LineEnv + "=" + result.LineValue}}
	if len(req.SetupCommand) > 0 {
		// In the app's own image: its dependencies run already.
		v.Command, v.NoDeps = req.SetupCommand, true
	}
	return v
}

// StartVerb starts services on the images the files (and overrides) name.
func StartVerb(services []string, overrides ...string) compose.UpOptions {
	return compose.UpOptions{Services: services, NoDeps: true, Overrides: overrides}
}

// runningImage picks the container that stands for what a service runs: a
// running one, else the newest.
func runningImage(cs []compose.Container) *compose.Container {
	for i := range cs {
		if cs[i].Running() {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[len(cs)-1]
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing runs yet"
	}
	return strings.Join(s, ", ")
}

// Override is a compose override file that runs services on given images.
func Override(runID string, images map[string]string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by upshift (run %s): the images these services ran before.\n# The project's own compose files are not changed.\nservices:\n", runID)
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %q:\n    image: %q\n", n, images[n])
	}
	return []byte(b.String())
}
