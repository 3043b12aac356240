//go:build !migrator

package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/upgrade"
)

// StackFlag points a run at a deployed Docker Swarm stack.
type StackFlag struct {
	Stack string `name:"stack" placeholder:"NAME" help:"A deployed Docker Swarm stack (as docker stack deploy named it) instead of a compose project: -f is then its stack file (the new release; rollback and history need none), and the engine must be a swarm manager."`
}

// stackRefuses refuses (exit 2) every flag of cmd that means nothing to a
// stack run and is set: the flags tagged stack:"why", so that the flags
// and the refusals cannot drift apart (a flag is set when it is not its
// default, whether from the command line or its environment variable).
func stackRefuses(cmd any) error {
	var bad, why []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f, fv := t.Field(i), v.Field(i)
			if f.Anonymous && fv.Kind() == reflect.Struct {
				walk(fv)
				continue
			}
			reason, ok := f.Tag.Lookup("stack")
			if !ok || !f.IsExported() || fv.IsZero() || fmt.Sprint(fv.Interface()) == f.Tag.Get("default") {
				continue
			}
			bad = append(bad, "--"+f.Tag.Get("name"))
			if !slices.Contains(why, reason) {
				why = append(why, reason)
			}
		}
	}
	walk(reflect.ValueOf(cmd).Elem())
	if len(bad) == 0 {
		return nil
	}
	return &exitError{code: ExitUsage, err: &upgrade.RequestError{Msg: strings.Join(bad, ", ") + " cannot be used with --stack: " + strings.Join(why, "; ")}}
}

func (c *UpgradeCmd) runStack(ctx context.Context, env *Env) error {
	r := newRenderer(env, c.JSON())
	fail := func(err error) error { return r.done(upgrade.NotRun(upgrade.KindUpgrade, c.Stack), err) }
	if err := stackRefuses(c); err != nil {
		return fail(err)
	}
	if c.Strategy != upgrade.Auto && c.Strategy != string(upgrade.Rolling) {
		return fail(&exitError{code: ExitUsage, err: &upgrade.RequestError{Msg: "--strategy " + c.Strategy + " cannot be used with --stack: Swarm always runs old and new tasks side by side (rolling, behind the compatibility check)"}})
	}
	x, err := c.openStack(ctx, env, r, c.Stack, c.LockWait, append(c.Service, c.SetupService...), false, os.Getenv("UPSHIFT_HEALTH_TOKEN"))
	if err != nil {
		return fail(err)
	}
	defer x.Close()
	req, err := upgrade.ResolveStack(x.Project, upgrade.Choice{Services: c.Service, SetupServices: c.SetupService, SetupCommand: c.SetupCommand, NoSetup: c.NoSetup})
	if err != nil {
		return fail(err)
	}
	req.Health, req.DryRun, req.AllowBreaking = c.health(), c.DryRun, c.AllowBreaking
	r.header("upgrade", x.Project, req.Services, req.Setup, c.DryRun)
	rec, err := x.Upgrade(ctx, req)
	return r.done(rec, err)
}

func (c *RollbackCmd) runStack(ctx context.Context, env *Env) error {
	r := newRenderer(env, c.JSON())
	if err := stackRefuses(c); err != nil {
		return r.done(upgrade.NotRun(upgrade.KindRollback, c.Stack), err)
	}
	// Without -f the rollback reads the stack from the swarm: the record
	// has the digests to put back.
	x, err := c.openStack(ctx, env, r, c.Stack, c.LockWait, c.Service, len(c.File) == 0, os.Getenv("UPSHIFT_HEALTH_TOKEN"))
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindRollback, c.Stack), err)
	}
	defer x.Close()
	req, err := upgrade.ResolveStack(x.Project, upgrade.Choice{Services: c.Service, NoSetup: true})
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindRollback, c.Stack), err)
	}
	r.header("rollback", x.Project, req.Services, "", c.DryRun)
	rec, err := x.Rollback(ctx, upgrade.StackRollbackRequest{Services: req.Services, Health: c.health(), DryRun: c.DryRun})
	return r.done(rec, err)
}

// openStack is open for a stack: its preflight, its warnings (what Swarm
// ignores in the services the run touches among them). deployed: no stack
// file, the services as the swarm runs them.
func (pf *ProjectFlags) openStack(ctx context.Context, env *Env, r *renderer, stack string, lockWait cliutil.Seconds, services []string, deployed bool, secrets ...string) (*upgrade.Stack, error) {
	x, err := upgrade.OpenStack(ctx, upgrade.Options{Project: pf.options(), Context: pf.Context, StateDir: pf.StateDir, StateIn: pf.State, Lease: time.Duration(pf.Lease), LockWait: time.Duration(lockWait),
		Secrets: append(secrets, argSecrets(os.Args[1:])...), Command: commandLine(), OnEvent: r.event, Deployed: deployed}, stack)
	if err != nil {
		return nil, err
	}
	r.redact, r.stack = x.Redact, stack
	r.gh.Mask(x.Secrets...)
	onSecondSignal(x.Abandon)
	for _, w := range append(x.Project.Warnings, upgrade.SwarmWarnings(x.Project, services...)...) {
		fmt.Fprintln(env.Stderr, "warning:", r.redact(w))
	}
	return x, nil
}
