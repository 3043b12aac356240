package upgrade

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/migrate/result"
)

// Strategy is how the services of a compose project are replaced.
type Strategy string

// Strategies.
const (
	// StopStart stops the services, migrates, starts the new images: a
	// short downtime, any migration.
	StopStart Strategy = "stop-start"
	// MigrateFirst migrates while the old version serves (behind the
	// compatibility gate), then stops and starts: a shorter downtime.
	MigrateFirst Strategy = "migrate-first"
	// Rolling migrates first while the old version serves, starts new
	// containers beside the old ones, and retires the old ones once the new
	// ones answer: no downtime behind a proxy, expand-only migrations.
	Rolling Strategy = "rolling"
)

// Step names of the migrate-first and rolling strategies.
const (
	StepGate = "gate" // refuse migrations that contract the running version's schema
	StepRoll = "roll" // one service: new containers beside the old, verify, retire the old
)

// CheckRolling refuses, before anything changes, services that cannot run
// twice side by side. Errors are *compose.ProjectError.
func CheckRolling(p *compose.Project, services []string) error {
	for _, name := range services {
		s := p.Services[name]
		if s == nil {
			continue
		}
		if s.ContainerName != "" {
			return &compose.ProjectError{Msg: fmt.Sprintf("service %q sets container_name %q, so a second container of it cannot start beside the first: a rolling upgrade is impossible", name, s.ContainerName),
				Hint: "remove container_name, or use the stop-start strategy (migrating first keeps its downtime to the swap)", Options: []string{"strategy", "migrate-first"}}
		}
		if len(s.FixedPorts) > 0 {
			return &compose.ProjectError{Msg: fmt.Sprintf("service %q publishes host port %s, which a second container cannot bind: a rolling upgrade is impossible", name, strings.Join(s.FixedPorts, ", ")),
				Hint: "put a reverse proxy that resolves the service name in front of it and publish the proxy's port instead, or use the stop-start strategy"}
		}
	}
	return nil
}

// GateVerb runs the setup service's `upshift migrate` as a dry run that
// prints the pending migrations and their lint findings as JSON.
func GateVerb(req Request) compose.RunOptions {
	v := SetupVerb(req)
	// The setup command (or the image's own, upshift migrate) asked for
	// a dry run: the gate needs upshift there.
	// Its result arrives as the typed line (SetupVerb asks for it), the
	// one document the gate reads.
	v.Command = append(slices.Clone(req.SetupCommand), "--dry-run")
	return v
}

// BreakingError is a release whose migrations contract the schema that the
// running version still uses.
type BreakingError struct {
	Findings []result.Finding
}

func (e *BreakingError) Error() string {
	var b strings.Builder
	b.WriteString("refusing: the pending migrations contract the schema that the running version still reads and writes:\n")
	for _, f := range e.Findings {
		fmt.Fprintf(&b, "  %s:%d:%d: %s: %s\n", f.File, f.Line, f.Column, f.Rule, oneLine(f.Statement))
	}
	b.WriteString("nothing was changed")
	return b.String()
}

// ErrorHint is what to do with such a release.
func (e *BreakingError) ErrorHint() string {
	return "ship them as a later contract release, once no running version uses what they remove or change (expand, migrate, contract)"
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// runsUpshift says whether the compose setup step runs upshift migrate
// (setupProgram.runsUpshift), asking the engine for the image's entrypoint
// where the file names none.
func (x *Executor) runsUpshift(ctx context.Context, req Request) (bool, string) {
	s := x.Project.Services[req.Setup]
	if s == nil && len(req.SetupCommand) == 0 {
		return false, req.Setup
	}
	p := setupProgram{Override: req.SetupCommand}
	if s != nil {
		p.Entrypoint, p.Command = s.Entrypoint, s.Command
		// After the pull: the new image is on the engine.
		p.Image = func() imageFacts { return x.imageFacts(ctx, s.Image, true) }
	}
	return p.runsUpshift()
}

// imageFacts asks the engine about an image; pulled: it is known to be
// there (after the pull), else its absence is asked first (the plan).
func (x *Executor) imageFacts(ctx context.Context, ref string, pulled bool) imageFacts {
	f := imageFacts{Ref: ref}
	if ref == "" {
		return f
	}
	if !pulled {
		if id, err := x.Engine.ImageID(ctx, ref); err != nil || id == "" {
			return f
		}
	}
	f.Present = true
	f.Entrypoint, _ = x.Engine.ImageEntrypoint(ctx, ref)
	if l, ok := x.Engine.(interface {
		ImageLabels(ctx context.Context, ref string) (map[string]string, error)
	}); ok {
		f.Labels, _ = l.ImageLabels(ctx, ref)
	}
	return f
}

// gate runs the setup service as a dry run and refuses breaking migrations.
func (x *Executor) gate(ctx context.Context, rec *Record, st Step, req Request) error {
	if ok, runs := x.runsUpshift(ctx, req); !ok {
		why := fmt.Errorf("nothing shows that the setup step %s runs upshift migrate (it runs %s), so whether its migrations suit the running version cannot be checked", req.Setup, runs)
		switch {
		case req.Auto:
			rec.gateVerdict = why
			return nil
		case req.AllowBreaking:
			rec.Notes = append(rec.Notes, why.Error()+"; migrating while the old version serves anyway (breaking allowed)")
			return nil
		}
		return &RequestError{Msg: why.Error() + "; nothing was changed", Hint: "migrate with the services stopped, or migrate first unchecked", Options: []string{"strategy", "allow-breaking"}}
	}
	var lines []string
	err := compose.Do(ctx, x.Compose, st.Verbs[0], func(l string) {
		if !composeProgress(l) {
			lines = append(lines, l)
		}
	})
	return x.judge(rec, st, req, lines, err, x.Compose.Command(st.Verbs[0]))
}

// judge reads the gate's dry run — its output lines, its error, the
// command that ran it — and refuses breaking migrations.
func (x *Runner) judge(rec *Record, st Step, req Request, lines []string, err error, command string) error {
	doc, perr := result.Find(lines)
	if req.Auto && perr != nil {
		// Not upshift's result: the check cannot clear the migrations,
		// which is no failure when upshift chose the strategy.
		rec.gateVerdict = fmt.Errorf("`%s` printed no upshift migrate result (the check needs upshift in the setup image)", command)
		return nil
	}
	if perr != nil {
		if err != nil {
			return fmt.Errorf("the setup service's dry run failed: %w%s", err, lastLines(lines, 5))
		}
		return fmt.Errorf("the compatibility check runs `%s` and expects upshift migrate's result document from it: %v; use upshift as the setup service's entrypoint, or allow breaking migrations to skip the check", command, perr)
	}
	if doc.Error != nil && doc.Error.Message != "" {
		return fmt.Errorf("the setup service's dry run failed: %s", doc.Error.Message)
	}
	if err != nil {
		return fmt.Errorf("the setup service's dry run failed: %w", err)
	}
	rec.GatePending = slices.Clone(doc.Pending)
	breaking := doc.Breaking()
	note := fmt.Sprintf("compatibility: %d pending migration(s) (%s), %d contracting statement(s)", len(doc.Pending), strings.Join(doc.Pending, ", "), len(breaking))
	x.emit(Event{Kind: EventOutput, Step: st.Name, Source: "gate", Text: note})
	if len(breaking) == 0 {
		rec.gateCleared = true
		return nil
	}
	if req.AllowBreaking {
		rec.Notes = append(rec.Notes, fmt.Sprintf("breaking allowed: migrating %d contracting statement(s) while the old version serves", len(breaking)))
		return nil
	}
	if req.Auto {
		rec.gateVerdict = &BreakingError{Findings: breaking}
		return nil
	}
	return &BreakingError{Findings: breaking}
}

// RollVerb starts n new containers of a service beside the running ones.
func RollVerb(service string, running, n int) compose.UpOptions {
	return compose.UpOptions{Services: []string{service}, NoDeps: true, NoRecreate: true, Scale: map[string]int{service: running + n}}
}

// RollingError is a rolling upgrade whose new containers failed their check:
// they were removed and the old ones kept serving throughout — or, with
// Retired, the new ones passed on their own but the health URL did not
// answer the new version once the old ones were retired, so the previous
// images are to be put back.
type RollingError struct {
	Service string
	Err     error
	Retired bool
}

func (e *RollingError) Error() string {
	if e.Retired {
		return fmt.Sprintf("the new containers of %s answered on their own, but after the old ones were retired: %v", e.Service, e.Err)
	}
	return fmt.Sprintf("the new containers of %s failed their check and were removed; the old ones kept serving: %v", e.Service, e.Err)
}
func (e *RollingError) Unwrap() error { return e.Err }

// roll replaces one service's containers without a gap: start as many new
// containers as run now, verify each, wait --drain, then stop the old ones
// gracefully (their stop_grace_period) and remove them.
func (x *Executor) roll(ctx context.Context, rec *Record, service string, req Request) error {
	before, err := x.Engine.Containers(ctx, x.Project.Name, service)
	if err != nil {
		return err
	}
	old := map[string]bool{}
	var running []compose.Container
	for _, c := range before {
		old[c.ID] = true
		if c.Running() {
			running = append(running, c)
		}
	}
	// As many new as run now; on a first deploy, the service's scale.
	n := len(running)
	if n == 0 {
		n = max(1, x.Project.Services[service].Scale)
	}
	up := RollVerb(service, len(running), n)
	x.emit(Event{Kind: EventOutput, Step: StepRoll, Source: "", Text: x.Compose.Command(up)})
	if err := x.Compose.Up(ctx, up, func(l string) { x.emit(Event{Kind: EventOutput, Step: StepRoll, Text: l}) }); err != nil {
		x.removeNew(ctx, service, old)
		return &RollingError{Service: service, Err: err}
	}
	isNew := func(c compose.Container) bool { return !old[c.ID] }
	// While the old containers serve, a URL that reaches the service
	// through something else (a proxy, the host's published port) may
	// answer from an old one: each new container is judged on its own.
	each, how := x.eachNew(ctx, service, req.Health, old)
	x.emit(Event{Kind: EventOutput, Step: StepRoll, Source: "check", Text: how})
	health, err := x.verify(ctx, []string{service}, each, req.Health.ExpectVersion, isNew)
	if err != nil {
		x.removeNew(context.WithoutCancel(ctx), service, old)
		return &RollingError{Service: service, Err: err}
	}
	if req.Drain > 0 {
		x.emit(Event{Kind: EventOutput, Step: StepRoll, Source: "drain", Text: fmt.Sprintf("new containers answer; waiting %s before stopping the old ones", req.Drain)})
		if err := x.wait(ctx, req.Drain); err != nil {
			x.removeNew(context.WithoutCancel(ctx), service, old)
			return &RollingError{Service: service, Err: err}
		}
	}
	for _, c := range before {
		if err := x.Engine.StopAndRemove(context.WithoutCancel(ctx), c.ID, x.Project.Services[service].StopGrace); err != nil {
			return fmt.Errorf("the new containers of %s serve, but retiring old container %s failed: %w", service, c.Name, err)
		}
	}
	if each.URL != req.Health.URL {
		// Only the new version serves now: the URL itself must answer it,
		// and keep answering it for the stability window.
		x.emit(Event{Kind: EventOutput, Step: StepRoll, Source: "check", Text: "the old containers are retired: " + req.Health.URL + " must answer " + cmp.Or(req.Health.ExpectVersion, "200") + " now"})
		h, err := x.verify(ctx, []string{service}, req.Health, req.Health.ExpectVersion, nil)
		if err != nil {
			return &RollingError{Service: service, Err: err, Retired: true}
		}
		health = h
	}
	after, _ := x.Engine.Containers(ctx, x.Project.Name, service)
	if s := rec.service(service); s != nil {
		s.Health = health
		s.Containers = []string{}
		for _, c := range after {
			s.Containers = append(s.Containers, c.Name)
		}
		if c := runningImage(after); c != nil {
			s.To = &Image{Ref: c.Image, ID: c.ImageID}
		}
	}
	return nil
}

// eachNew is how each new container of a roll is judged while the old
// ones still serve, and a line that says so. A health URL naming the
// service is already checked per container. Any other (the proxy's, a
// published port) is asked of each new container at its own address, on
// the port it exposes (the one of the URL's when it exposes several);
// without one, its healthcheck decides, else only that it runs. The URL
// itself is checked once the old containers are retired.
func (x *Executor) eachNew(ctx context.Context, service string, h Health, old map[string]bool) (Health, string) {
	if h.URL == "" || h.targets(service) {
		return h, "each new container: " + h.describe()
	}
	u, err := url.Parse(h.URL)
	if err != nil {
		return h, "each new container: " + h.describe()
	}
	ports := map[int]bool{}
	cs, _ := x.Engine.Containers(ctx, x.Project.Name, service)
	for _, c := range cs {
		if !old[c.ID] {
			for _, p := range c.TCPPorts {
				ports[p] = true
			}
		}
	}
	port := 0
	if want, _ := strconv.Atoi(u.Port()); ports[want] {
		port = want
	} else if len(ports) == 1 {
		for p := range ports {
			port = p
		}
	}
	then := "; " + h.URL + " once the old ones are retired"
	if port != 0 {
		each := h
		each.URL = (&url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(service, strconv.Itoa(port)), Path: u.Path, RawQuery: u.RawQuery}).String()
		return each, fmt.Sprintf("each new container at its own address, on the port it exposes: %s%s", each.URL, then)
	}
	each := h
	each.URL = ""
	if svc := x.Project.Services[service]; svc != nil && svc.Healthcheck {
		return each, "each new container by its healthcheck (it exposes no single port to ask " + u.Path + " of)" + then
	}
	return each, "each new container only by running (it has no healthcheck and exposes no single port: add `expose:` or a healthcheck to check it on its own)" + then
}

// removeNew removes the containers of service that were not there before.
func (x *Executor) removeNew(ctx context.Context, service string, old map[string]bool) {
	cs, err := x.Engine.Containers(ctx, x.Project.Name, service)
	if err != nil {
		return
	}
	for _, c := range cs {
		if !old[c.ID] {
			if err := x.Engine.StopAndRemove(ctx, c.ID, time.Second); err != nil {
				x.emit(Event{Kind: EventNote, Text: "could not remove new container " + c.Name + ": " + err.Error()})
			}
		}
	}
}

// lastLines quotes the last n lines a step printed, for its error.
func lastLines(lines []string, n int) string {
	if len(lines) == 0 {
		return ""
	}
	return "; its last output: " + strings.Join(lines[max(0, len(lines)-n):], " / ")
}
