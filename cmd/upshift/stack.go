//go:build !migrator

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/upgrade"
)

// StackFlag points a run at a deployed Docker Swarm stack.
type StackFlag struct {
	Stack string `name:"stack" placeholder:"NAME" help:"A deployed Docker Swarm stack (as docker stack deploy named it) instead of a compose project: -f is then its stack file (the new release; rollback and history need none), and the engine must be a swarm manager."`
}

// stackRefuses names the flags that mean nothing to a stack run.
func stackRefuses(set map[string]bool) error {
	var bad []string
	for _, f := range []string{"build", "pull", "backup", "drain", "project-name"} {
		if set[f] {
			bad = append(bad, "--"+f)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &exitError{code: ExitUsage, err: &upgrade.RequestError{Msg: strings.Join(bad, ", ") + " cannot be used with --stack: the swarm's nodes pull the images, --stack names the stack, and backups are taken before it (upshift backup on the database's compose host)"}}
}

func (c *UpgradeCmd) runStack(ctx context.Context, env *Env) error {
	r := newRenderer(env, c.JSON())
	fail := func(err error) error { return r.done(upgrade.NotRun(upgrade.KindUpgrade, c.Stack), err) }
	if err := stackRefuses(map[string]bool{"build": c.Build, "pull": c.Pull, "backup": c.Backup, "drain": c.Drain != 0, "project-name": c.ProjectName != ""}); err != nil {
		return fail(err)
	}
	if c.Strategy != upgrade.Auto && c.Strategy != string(upgrade.Rolling) {
		return fail(&exitError{code: ExitUsage, err: &upgrade.RequestError{Msg: "--strategy " + c.Strategy + " cannot be used with --stack: Swarm always runs old and new tasks side by side (rolling, behind the compatibility check)"}})
	}
	x, err := c.openStack(ctx, env, r, c.Stack, c.LockWait, append(c.Service, c.SetupService...), false, os.Getenv("UPSHIFT_HEALTH_TOKEN"))
	if err != nil {
		return fail(err)
	}
	defer x.Engine.Close()
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
	// Without -f the rollback reads the stack from the swarm: the record
	// has the digests to put back.
	x, err := c.openStack(ctx, env, r, c.Stack, c.LockWait, c.Service, len(c.File) == 0, os.Getenv("UPSHIFT_HEALTH_TOKEN"))
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindRollback, c.Stack), err)
	}
	defer x.Engine.Close()
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
	x, err := upgrade.OpenStack(ctx, upgrade.Options{Project: pf.options(), Context: pf.Context, StateDir: pf.StateDir, LockWait: time.Duration(lockWait),
		Secrets: secrets, Command: commandLine(), OnEvent: r.event, Deployed: deployed}, stack)
	if err != nil {
		return nil, err
	}
	r.redact, r.stack = x.Redact, stack
	r.gh.Mask(x.Secrets...)
	for _, w := range append(x.Project.Warnings, upgrade.SwarmWarnings(x.Project, services...)...) {
		fmt.Fprintln(env.Stderr, "warning:", r.redact(w))
	}
	return x, nil
}
