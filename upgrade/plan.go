package upgrade

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/migrate/result"
)

// Step names, in the order an upgrade runs them.
const (
	StepPin      = "pin"
	StepPull     = "pull"
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
	// run, when set, is the step's work instead of its verbs.
	run func(context.Context) error
}

// Request is what the user asked for.
type Request struct {
	Services []string
	// Setup is the one-shot service that migrates ("" for none).
	Setup string
	// SetupProfiles must be enabled to run Setup.
	SetupProfiles []string
	Health        Health
	DryRun        bool
	// Strategy is StopStart (default) or Rolling.
	Strategy string
	// MigrateFirst runs the setup service before the stop (stop-start):
	// the old version serves during the migration. Rolling always does.
	MigrateFirst bool
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
	return r.Setup != "" && (r.MigrateFirst || r.Strategy == Rolling)
}

// DefaultSetupService is the setup service used when the project defines it.
const DefaultSetupService = "db-setup"

// Resolve checks a request against the project before anything is touched:
// every service exists and has an image, the setup service (named, or
// db-setup when the project defines it, whatever its profile) is a one-shot.
// Errors are *compose.ProjectError.
func Resolve(p *compose.Project, services []string, setup string, noSetup bool) (Request, error) {
	req := Request{}
	if len(services) == 0 {
		return req, &compose.ProjectError{Msg: "no service to upgrade was named", Hint: "services in " + p.Name + ": " + strings.Join(p.ServiceNames(), ", ")}
	}
	seen := map[string]bool{}
	for _, name := range services {
		if seen[name] {
			continue
		}
		seen[name] = true
		s, err := p.Service(name)
		if err != nil {
			return req, err
		}
		if s.Image == "" {
			return req, &compose.ProjectError{Msg: fmt.Sprintf("service %q has no image: upshift upgrades services to new images, and a build-only service has none to pull or to roll back to", name),
				Hint: "add `image:` naming where CI pushes it"}
		}
		req.Services = append(req.Services, name)
	}
	if noSetup {
		return req, nil
	}
	if setup == "" {
		if _, ok := p.Services[DefaultSetupService]; !ok {
			return req, nil
		}
		setup = DefaultSetupService
	}
	s, err := p.Service(setup)
	if err != nil {
		return req, &compose.ProjectError{Msg: fmt.Sprintf("setup service %q is not defined", setup), Hint: "name the setup service, or run none", Options: []string{"setup-service", "no-setup"}}
	}
	if slices.Contains(req.Services, setup) {
		return req, &compose.ProjectError{Msg: fmt.Sprintf("%q is the setup service; it runs once during the upgrade and is not upgraded as a service", setup)}
	}
	switch s.Restart {
	case "always", "unless-stopped", "any":
		return req, &compose.ProjectError{Msg: fmt.Sprintf("setup service %q has `restart: %s`, so it never finishes: it must be a one-shot that exits 0 when the migrations are applied", setup, s.Restart),
			Hint: "set `restart: \"no\"` (or on-failure) on it, or run no setup service", Options: []string{"no-setup"}}
	}
	if s.Image == "" && !s.Build {
		return req, &compose.ProjectError{Msg: fmt.Sprintf("setup service %q has no image", setup)}
	}
	req.Setup = setup
	if !s.Enabled {
		req.SetupProfiles = s.Profiles
	}
	return req, nil
}

// Current is what runs now, per service.
type Current map[string][]compose.Container

// Plan lays out an upgrade's steps with the exact compose commands.
func Plan(p *compose.Project, current Current, req Request) []Step {
	pull := compose.PullOptions{Services: slices.Clone(req.Services), Profiles: req.SetupProfiles}
	if req.Setup != "" {
		pull.Services = append(pull.Services, req.Setup)
	}
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
	steps = append(steps, Step{Name: StepPull, Services: req.Services, Verbs: []compose.Verb{pull}, What: "pull the new images"})
	setup := Step{Name: StepSetup, Services: []string{req.Setup}, Verbs: []compose.Verb{SetupVerb(req)},
		What: "run " + req.Setup + " once (migrations), then remove its container"}
	if req.migratesFirst() {
		steps = append(steps, Step{Name: StepGate, Services: []string{req.Setup}, Verbs: []compose.Verb{GateVerb(req)},
			What: "refuse migrations that drop, rename, retype or make NOT NULL what the running version uses"})
		setup.What = "run " + req.Setup + " once while the old version serves (migrations), then remove its container"
		steps = append(steps, setup)
	}
	if req.Strategy == Rolling {
		for _, s := range req.Services {
			n := 0
			for _, c := range current[s] {
				if c.Running() {
					n++
				}
			}
			steps = append(steps, Step{Name: StepRoll, Services: []string{s}, Verbs: []compose.Verb{RollVerb(s, max(n, 1))},
				What: fmt.Sprintf("start %d new %s container(s) beside the old, verify each, then stop the old gracefully", max(n, 1), s)})
		}
		return steps
	}
	steps = append(steps, Step{Name: StepStop, Services: req.Services, Verbs: []compose.Verb{compose.StopOptions{Services: req.Services}}, What: "stop " + strings.Join(req.Services, ", ")})
	if req.Setup != "" && !req.migratesFirst() {
		steps = append(steps, setup)
	}
	steps = append(steps,
		Step{Name: StepStart, Services: req.Services, Verbs: []compose.Verb{StartVerb(req.Services)}, What: "start " + strings.Join(req.Services, ", ") + " on the new images"},
		Step{Name: StepVerify, Services: req.Services, What: req.Health.describe()},
	)
	return steps
}

// SetupVerb runs the setup service as a one-shot: dependencies (the
// database) started as `up` would, output attached, the exit code its own,
// and only its container removed afterwards (never `down`, which would
// remove the whole project, database included).
func SetupVerb(req Request) compose.RunOptions {
	// UPSHIFT_RESULT=line: upshift migrate ends its output with its result
	// document, which is how the run learns what the step applied.
	return compose.RunOptions{Service: req.Setup, Profiles: req.SetupProfiles, Env: []string{result.LineEnv + "=" + result.LineValue}}
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
