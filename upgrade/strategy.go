package upgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/compose"
)

// The strategy that gives the least downtime this upgrade allows is the
// default: rolling where every upgraded service can run twice side by side
// and the migrations are expand-only; else migrate-first (the old version
// serves while migrating, the downtime is the swap) where they are
// expand-only; else stop-start. The compatibility gate decides the second
// half, so an automatic choice is made in two moves: a candidate before
// the run, confirmed or turned into stop-start by the gate.

// Auto lets upshift choose the strategy (Choose).
const Auto = "auto"

// Choose fills req.Strategy and Reason for strategy ("auto",
// "stop-start", "migrate-first", "rolling"). A forced rolling that cannot
// work is a *compose.ProjectError.
//
// Choose reads the compose file alone; Executor.Choose also asks the
// engine about the setup step's image.
func Choose(p *compose.Project, req *Request, strategy string) error {
	why, err := choose(p, req, strategy, nil)
	req.Reason = why
	return err
}

// Choose is the package's Choose with the engine's word on the setup
// step's image: its entrypoint and labels, where the engine has it.
func (x *Executor) Choose(ctx context.Context, req *Request, strategy string) error {
	why, err := choose(x.Project, req, strategy, func(ref string) imageFacts { return x.imageFacts(ctx, ref, false) })
	req.Reason = why
	return err
}

func choose(p *compose.Project, req *Request, strategy string, look func(ref string) imageFacts) (string, error) {
	switch Strategy(strategy) {
	case StopStart, "":
		req.Strategy = StopStart
		return "asked for", nil
	case MigrateFirst:
		req.Strategy = MigrateFirst
		return "asked for", nil
	case Rolling:
		if err := CheckRolling(p, req.Services); err != nil {
			return "", err
		}
		req.Strategy = Rolling
		return "asked for", nil
	case Auto:
	default:
		return "", &compose.ProjectError{Msg: fmt.Sprintf("unknown strategy %q", strategy), Hint: "auto, stop-start, migrate-first or rolling", Options: []string{"strategy"}}
	}
	req.Auto = true
	if req.Setup != "" {
		if runs, ok := notUpshift(p, *req, look); ok {
			req.Strategy = StopStart
			return fmt.Sprintf("nothing shows that the setup step %s runs upshift migrate (it runs %s), so whether its migrations suit the running version cannot be checked: they run with the services stopped", req.Setup, runs), nil
		}
	}
	if why := cannotRunTwice(p, req.Services); why != "" {
		req.Strategy = MigrateFirst
		if req.Setup == "" {
			req.Strategy = StopStart
			return why + ", so it cannot run twice; no setup step, so nothing to migrate first", nil
		}
		return why + ", so it cannot run twice: migrating while the old version serves, if the gate clears the migrations", nil
	}
	req.Strategy = Rolling
	if req.Setup == "" {
		return "every upgraded service can run twice side by side (no container_name, no fixed host port) and there is nothing to migrate", nil
	}
	return "every upgraded service can run twice side by side (no container_name, no fixed host port), if the compatibility check passes", nil
}

// cannotRunTwice names what keeps a service from running twice side by
// side ("" when nothing does).
func cannotRunTwice(p *compose.Project, services []string) string {
	for _, name := range services {
		switch s := p.Services[name]; {
		case s == nil:
		case s.ContainerName != "":
			return fmt.Sprintf("%s sets container_name %s", name, s.ContainerName)
		case len(s.FixedPorts) > 0:
			return fmt.Sprintf("%s publishes host port %s", name, strings.Join(s.FixedPorts, ", "))
		}
	}
	return ""
}

// fallBack is the automatic choice turned into stop-start after the gate:
// the steps still to run, and why.
func fallBack(p *compose.Project, current Current, req Request, verdict error) ([]Step, string, Request) {
	req.Strategy = StopStart
	var rest []Step
	for _, st := range Plan(p, current, req) {
		switch st.Name {
		case StepPin, StepBackup, StepPull, StepBuild:
			continue // done already
		}
		rest = append(rest, st)
	}
	why := "the compatibility check could not clear the migrations to run beside the old version: " + oneLine(verdict.Error())
	var be *BreakingError
	if errors.As(verdict, &be) {
		why = fmt.Sprintf("the pending migrations contract the schema the running version uses (%d statement(s)): they run with the services stopped", len(be.Findings))
	}
	return rest, why, req
}

// notUpshift says that nothing shows the setup step runs upshift migrate,
// and what it runs (setupProgram.runsUpshift), from the compose file and,
// where look is set, the engine's word on the image.
func notUpshift(p *compose.Project, req Request, look func(ref string) imageFacts) (string, bool) {
	prog := setupProgram{Override: req.SetupCommand}
	if s := p.Services[req.Setup]; s != nil {
		prog.Entrypoint, prog.Command = s.Entrypoint, s.Command
		if len(s.Entrypoint) == 0 {
			prog.Entrypoint = nil // an empty entrypoint: the image's
		}
		prog.Image = func() imageFacts {
			if look == nil {
				return imageFacts{Ref: s.Image}
			}
			return look(s.Image)
		}
	} else if len(req.SetupCommand) == 0 {
		return "", false
	}
	is, what := prog.runsUpshift()
	return what, !is
}
