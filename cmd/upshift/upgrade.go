//go:build !migrator

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/internal/ghactions"
	"github.com/upshift-dev/upshift/redact"
	"github.com/upshift-dev/upshift/upgrade"
)

// Exit codes of upgrade and rollback (see the README's table).
const (
	ExitRolledBack     = 5 // the upgrade failed and the previous version is healthy again
	ExitRollbackFailed = 6 // the upgrade failed and putting the previous version back failed too
)

// ProjectFlags select the compose project as docker compose's own flags do.
type ProjectFlags struct {
	File        []string        `short:"f" name:"file" placeholder:"FILE" help:"Compose file (repeatable). Default: COMPOSE_FILE, else compose.yaml (or docker-compose.yml) in the working directory or a parent."`
	ProjectName string          `short:"p" name:"project-name" placeholder:"NAME" help:"Project name. Default: COMPOSE_PROJECT_NAME, the file's top-level name, else the directory's name." stack:"--stack names the stack"`
	ProjectDir  string          `name:"project-directory" placeholder:"DIR" help:"Project directory (relative paths and .env start there). Default: the first compose file's directory."`
	EnvFile     []string        `name:"env-file" placeholder:"FILE" help:"Environment file (repeatable). Default: .env in the project directory."`
	Profile     []string        `name:"profile" placeholder:"NAME" help:"Profile to enable (repeatable). Default: COMPOSE_PROFILES."`
	Context     string          `name:"context" placeholder:"NAME" help:"Docker context of the engine, for upshift and every docker compose it runs. Default: as docker chooses (DOCKER_HOST, including ssh://user@host; DOCKER_CONTEXT; the current context)."`
	backupURL   string          `kong:"-"`
	StateDir    string          `name:"state-dir" env:"UPSHIFT_STATE_DIR" placeholder:"DIR" help:"This machine's folder for upshift's own files (overrides, default backups, a copy of the run's journal), per project; with --state local, also the deploy lock and history. Default: /var/lib/upshift for root, else ~/.local/state/upshift."`
	Lease       cliutil.Seconds `name:"lease" env:"UPSHIFT_LEASE" default:"30s" placeholder:"DURATION" help:"How long the deploy lock outlives its holder's last renewal (the holder renews it every third of that): a runner that died blocks later deploys at most this long."`
	State       string          `name:"state" env:"UPSHIFT_STATE" enum:"engine,local" default:"engine" help:"Where the deploy lock, the run's journal and the history live. engine: with the deployment, so every machine that reaches the engine shares them (a volume and never-started containers on the engine; configs in a swarm). local: the --state-dir folder of the machine running upshift."`
}

// HealthFlags say how to verify a version.
type HealthFlags struct {
	HealthURL     string          `name:"health-url" placeholder:"URL" help:"Poll this URL until it answers 200 (e.g. http://127.0.0.1:3000/v1/health/ready). A Bearer token is taken from UPSHIFT_HEALTH_TOKEN. Without it: the containers must run, and be healthy where a compose healthcheck is defined."`
	ExpectVersion string          `name:"expect-version" placeholder:"V" help:"The version the health URL's JSON body must report."`
	VersionField  string          `name:"version-field" default:"version" placeholder:"PATH" help:"Dotted path of the version in the health URL's JSON body."`
	HealthTimeout cliutil.Seconds `name:"health-timeout" default:"60s" placeholder:"DURATION" help:"How long the new version has to answer: seconds, or a duration such as 90s."`
	HealthStable  cliutil.Seconds `name:"health-stable" default:"3s" placeholder:"DURATION" help:"After the first good answer, how long every check must stay good (a release that answers once, then fails or flaps, is not healthy); 0: the first good answer is enough."`
}

func (h *HealthFlags) health() upgrade.Health {
	return upgrade.Health{URL: h.HealthURL, ExpectVersion: h.ExpectVersion, VersionField: h.VersionField,
		Timeout: time.Duration(h.HealthTimeout), Stable: time.Duration(h.HealthStable), Token: os.Getenv("UPSHIFT_HEALTH_TOKEN")}
}

// UpgradeCmd moves services to new images.
type UpgradeCmd struct {
	ProjectFlags
	StackFlag
	HealthFlags
	OutputFlags
	Service       []string        `name:"service" short:"s" required:"" placeholder:"NAME" help:"Service to upgrade (repeatable)."`
	SetupService  []string        `name:"setup-service" placeholder:"NAME" help:"One-shot service run once between stop and start (repeatable, in order; the first migrates). Default: db-setup where the project defines it (under any profile), then the one-shots the services wait for (depends_on: condition: service_completed_successfully), dependencies first."`
	SetupCommand  string          `name:"setup-command" placeholder:"CMD" help:"Run CMD in a new container of the (first) setup service instead of its command, its entrypoint kept and its dependencies not started: migrations through the app's own image, e.g. --setup-service api --setup-command \"pnpm run db:migrate\"."`
	NoSetup       bool            `name:"no-setup" help:"Run no setup service."`
	Build         bool            `name:"build" help:"Build every service that has a build: section (default: as its pull_policy says; a build: without one is built)." stack:"the swarm's nodes pull the images"`
	Pull          bool            `name:"pull" help:"Pull every service that names an image, even where it has a build: section." stack:"the swarm's nodes pull the images"`
	LockWait      cliutil.Seconds `name:"lock-wait" default:"5m" placeholder:"DURATION" help:"How long to wait for another upgrade or rollback of the project to finish (0: do not wait); then exit 3."`
	DryRun        bool            `name:"dry-run" help:"Print the plan and the exact docker compose commands; pull, stop and lock nothing."`
	Strategy      string          `name:"strategy" enum:"auto,stop-start,migrate-first,rolling" default:"auto" help:"auto: the least downtime this upgrade allows, and why (rolling where every service can run twice and the migrations are expand-only, else migrate-first where they are, else stop-start). stop-start: stop, migrate, start. migrate-first: migrate while the old version serves, then swap (expand-only migrations). rolling: also start the new containers beside the old ones and stop the old ones once the new ones answer (no downtime behind a proxy that resolves the service name)."`
	MigrateFirst  bool            `name:"migrate-first" help:"Same as --strategy migrate-first." stack:"Swarm always runs old and new tasks side by side, behind the compatibility check"`
	AllowBreaking bool            `name:"allow-breaking" help:"With rolling or --migrate-first: migrate even when the migrations drop, rename, retype or make NOT NULL what the running version uses."`
	Drain         cliutil.Seconds `name:"drain" default:"0" placeholder:"DURATION" help:"rolling: how long the old containers keep serving after the new ones answer, before they are stopped (for proxies that hold connections)." stack:"the swarm's update_config says how tasks are replaced"`
	Backup        bool            `name:"backup" help:"pg_dump -Fc the database before anything is pulled, stopped or migrated; a failed backup stops the upgrade." stack:"take backups before the stack run (upshift backup on the database's compose host)"`
	BackupFlags
}

// BackupFlags say where and how to dump the database.
type BackupFlags struct {
	BackupDir string `name:"backup-dir" placeholder:"DIR" help:"Folder of the dumps. Default: backups/ in the project's state folder." stack:"a stack run takes no backup"`
	BackupURL string `name:"backup-url" env:"UPSHIFT_BACKUP_URL" placeholder:"URL" help:"The database to dump (postgres://user:password@db:5432/app). Default: the setup service's DATABASE_URL." stack:"a stack run takes no backup"`
	DBService string `name:"db-service" placeholder:"NAME" help:"The database's compose service, whose pg_dump is used (versions match). Default: the backup URL's host." stack:"a stack run takes no backup"`
	BackupVia string `name:"backup-via" enum:"container,host" default:"container" help:"container: pg_dump inside the database's container (docker compose exec); host: the host's pg_dump through the URL." stack:"a stack run takes no backup"`
}

func (b *BackupFlags) backup(env *Env, x *upgrade.Executor, setup string) (*upgrade.Backup, error) {
	dir := b.BackupDir
	_, onEngine := x.Store.(*upgrade.EngineStore)
	onEngine = onEngine && x.Remote && dir == ""
	if dir == "" {
		dir = filepath.Join(x.Local.Dir, "backups")
	} else if x.Remote {
		fmt.Fprintln(env.Stderr, "warning:", fmt.Sprintf("--backup-dir %s is a folder of this machine, not of the engine's host (%s): the dump and its restore note outlive this run only as long as this machine keeps that folder; without --backup-dir, upshift keeps the dump on the engine", dir, x.Endpoint))
	}
	bk, err := upgrade.ResolveBackup(x.Project, upgrade.Backup{Dir: dir, URL: b.BackupURL, Service: b.DBService, OnEngine: onEngine}, setup, b.BackupVia == "host")
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	return &bk, nil
}

// BackupCmd dumps the project's database.
type BackupCmd struct {
	ProjectFlags
	OutputFlags
	BackupFlags
	SetupService string          `name:"setup-service" placeholder:"NAME" help:"Service whose DATABASE_URL names the database. Default: db-setup when the project defines it."`
	LockWait     cliutil.Seconds `name:"lock-wait" default:"5m" placeholder:"DURATION" help:"How long to wait for an upgrade or rollback of the project to finish (0: do not wait); then exit 3."`
}

func (c *BackupCmd) Run(ctx context.Context, env *Env) error {
	r := newRenderer(env, c.JSON())
	c.backupURL = c.BackupURL
	x, err := c.open(ctx, env, r, c.LockWait)
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindBackup, c.ProjectName), err)
	}
	defer x.Engine.Close()
	b, err := c.backup(env, x, cmp.Or(c.SetupService, upgrade.DefaultSetupService))
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindBackup, x.Project.Name), err)
	}
	r.verb = "backup"
	rec, err := x.BackupOnly(ctx, *b)
	return r.done(rec, err)
}

// RollbackCmd puts the previous images back.
type RollbackCmd struct {
	ProjectFlags
	StackFlag
	HealthFlags
	OutputFlags
	Service  []string        `name:"service" short:"s" required:"" placeholder:"NAME" help:"Service to roll back (repeatable)."`
	LockWait cliutil.Seconds `name:"lock-wait" default:"5m" placeholder:"DURATION" help:"How long to wait for another upgrade or rollback of the project to finish (0: do not wait); then exit 3."`
	DryRun   bool            `name:"dry-run" help:"Print what would run; change nothing."`
}

// HistoryCmd lists past runs.
type HistoryCmd struct {
	ProjectFlags
	StackFlag
	OutputFlags
	Service string `name:"service" placeholder:"NAME" help:"Only runs that touched this service."`
	Limit   int    `name:"limit" default:"20" help:"Newest runs to show (0: all)."`
}

func (pf *ProjectFlags) options() compose.Options {
	return compose.Options{Files: pf.File, ProjectName: pf.ProjectName, ProjectDir: pf.ProjectDir, EnvFiles: pf.EnvFile, Profiles: pf.Profile}
}

// open is every run's preflight (upgrade.Open), its output through r.
func (pf *ProjectFlags) open(ctx context.Context, env *Env, r *renderer, lockWait cliutil.Seconds, secrets ...string) (*upgrade.Executor, error) {
	x, err := upgrade.Open(ctx, upgrade.Options{Project: pf.options(), Context: pf.Context, StateDir: pf.StateDir, StateIn: pf.State, Lease: time.Duration(pf.Lease), LockWait: time.Duration(lockWait),
		Secrets: append(secrets, argSecrets(os.Args[1:])...), Command: commandLine(), OnEvent: r.event})
	if err != nil {
		return nil, err // upgradeExit gives it its code
	}
	r.redact = x.Redact
	r.gh.Mask(x.Secrets...)
	onSecondSignal(x.Abandon)
	for _, w := range x.Project.Warnings {
		fmt.Fprintln(env.Stderr, "warning:", r.redact(w))
	}
	return x, nil
}

// urlPasswords are the spellings of a URL's password, to keep out of output.
func urlPasswords(raw string) []string {
	_, forms := redact.URLPassword(raw)
	return forms
}

// argSecrets are the passwords of every URL on the command line (a flag's
// value, alone or after its "="), and of the URLs taken from the
// environment instead (UPSHIFT_BACKUP_URL): the command line is kept in
// the journal, the history, the lock and the output, redacted, and
// --health-url, --backup-url or any later URL flag may carry one.
func argSecrets(args []string) []string {
	var out []string
	for _, a := range append(args, os.Getenv("UPSHIFT_BACKUP_URL")) {
		if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "--") {
			a = v
		}
		out = append(out, urlPasswords(a)...)
	}
	return out
}

func commandLine() string {
	s := strings.Join(append([]string{"upshift"}, os.Args[1:]...), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (c *UpgradeCmd) Run(ctx context.Context, env *Env) error {
	if c.Stack != "" {
		return c.runStack(ctx, env)
	}
	r := newRenderer(env, c.JSON())
	c.backupURL = c.BackupURL
	x, err := c.open(ctx, env, r, c.LockWait, os.Getenv("UPSHIFT_HEALTH_TOKEN"))
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindUpgrade, c.ProjectName), err)
	}
	defer x.Engine.Close()
	req, err := upgrade.Resolve(x.Project, upgrade.Choice{Services: c.Service, SetupServices: c.SetupService, SetupCommand: c.SetupCommand, NoSetup: c.NoSetup, Build: c.Build, Pull: c.Pull})
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindUpgrade, x.Project.Name), &exitError{code: ExitUsage, err: err})
	}
	for _, w := range req.Warnings {
		fmt.Fprintln(env.Stderr, "warning:", r.redact(w))
	}
	if c.MigrateFirst {
		c.Strategy = string(upgrade.MigrateFirst)
	}
	if err := x.Choose(ctx, &req, c.Strategy); err != nil {
		return r.done(upgrade.NotRun(upgrade.KindUpgrade, x.Project.Name), &exitError{code: ExitUsage, err: err})
	}
	req.Health, req.DryRun, req.AllowBreaking, req.Drain = c.health(), c.DryRun, c.AllowBreaking, time.Duration(c.Drain)
	if c.Backup {
		if req.Backup, err = c.backup(env, x, req.Setup); err != nil {
			return r.done(upgrade.NotRun(upgrade.KindUpgrade, x.Project.Name), err)
		}
	}
	r.header("upgrade", x.Project, req.Services, req.Setup, c.DryRun)
	rec, err := x.Upgrade(ctx, req)
	return r.done(rec, err)
}

func (c *RollbackCmd) Run(ctx context.Context, env *Env) error {
	if c.Stack != "" {
		return c.runStack(ctx, env)
	}
	r := newRenderer(env, c.JSON())
	x, err := c.open(ctx, env, r, c.LockWait, os.Getenv("UPSHIFT_HEALTH_TOKEN"))
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindRollback, c.ProjectName), err)
	}
	defer x.Engine.Close()
	req, err := upgrade.Resolve(x.Project, upgrade.Choice{Services: c.Service, NoSetup: true})
	if err != nil {
		return r.done(upgrade.NotRun(upgrade.KindRollback, x.Project.Name), &exitError{code: ExitUsage, err: err})
	}
	r.header("rollback", x.Project, req.Services, "", c.DryRun)
	rec, err := x.Rollback(ctx, upgrade.RollbackRequest{Services: req.Services, Health: c.health(), DryRun: c.DryRun})
	return r.done(rec, err)
}

// upgradeExit maps a run's outcome to the documented exit codes.
func upgradeExit(rec *upgrade.Record, err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case rec != nil && rec.ExitCode != nil:
		return *rec.ExitCode // decided by upgrade when the run ended, as its history keeps it
	}
	// Refused before a run was recorded: the same rule.
	o := upgrade.Failed
	if rec != nil && (rec.Outcome == upgrade.RolledBack || rec.Outcome == upgrade.RollbackFailed) {
		o = rec.Outcome
	}
	return upgrade.ExitCodeOf(o, err)
}

// renderer turns executor events into text, or collects the JSON document.
type renderer struct {
	env    *Env
	json   bool
	redact func(string) string
	start  time.Time
	gh     *ghactions.Workflow
	verb   string
	stack  string   // a Docker Swarm stack's run
	files  []string // its stack files
}

func newRenderer(env *Env, asJSON bool) *renderer {
	return &renderer{env: env, json: asJSON, redact: func(s string) string { return s }, start: time.Now(), gh: ghactions.New(env.Stderr)}
}

func (r *renderer) header(verb string, p *compose.Project, services []string, setup string, dry bool) {
	r.verb, r.files = verb, p.Files
	if r.json {
		return
	}
	s := fmt.Sprintf("upshift: %s %s in project %s (%s)", verb, strings.Join(services, ", "), p.Name, strings.Join(p.Files, ", "))
	if r.stack != "" {
		files := strings.Join(p.Files, ", ")
		if files == "" {
			files = "no stack file: the services as the swarm runs them"
		}
		s = fmt.Sprintf("upshift: %s %s in swarm stack %s (%s)", verb, strings.Join(services, ", "), r.stack, files)
	}
	if setup != "" {
		s += ", setup service " + setup
	}
	if dry {
		s += " — dry run: nothing will be pulled, stopped or locked"
	}
	fmt.Fprintln(r.env.Stdout, s)
}

func (r *renderer) event(e upgrade.Event) {
	switch e.Kind {
	case upgrade.EventStep:
		r.gh.Group(e.Step + ": " + e.Text)
	case upgrade.EventStepDone:
		r.gh.EndGroup()
	}
	if r.json {
		return
	}
	w := r.env.Stdout
	switch e.Kind {
	case upgrade.EventStep:
		fmt.Fprintf(w, "→ %-8s %s\n", e.Step, e.Text)
		for _, c := range e.Commands {
			fmt.Fprintf(w, "    $ %s\n", c)
		}
		for _, c := range e.API {
			fmt.Fprintf(w, "    engine API: %s\n", c)
		}
	case upgrade.EventStepDone:
		if e.Err != nil {
			fmt.Fprintf(w, "✗ %-8s failed after %s: %s\n", e.Step, e.Duration.Round(time.Millisecond), r.redact(e.Err.Error()))
		} else {
			fmt.Fprintf(w, "✓ %-8s %s\n", e.Step, e.Duration.Round(time.Millisecond))
		}
	case upgrade.EventOutput:
		if e.Source != "" {
			fmt.Fprintf(w, "    %s | %s\n", e.Source, e.Text)
		}
	case upgrade.EventNote:
		fmt.Fprintf(r.env.Stderr, "upshift: %s\n", e.Text)
	case upgrade.EventWaiting:
		fmt.Fprintf(r.env.Stderr, "upshift: %s\n", e.Text)
	}
}

type upgradeJSON struct {
	*upgrade.Record
	ExitCode int        `json:"exit_code"`
	Err      *errorJSON `json:"error"`
}

// done prints the final report (or the JSON document) and returns the error
// with its exit code.
func (r *renderer) done(rec *upgrade.Record, err error) error {
	if r.redact != nil {
		rec = rec.Redacted(r.redact) // the run's every text, in every output
	}
	code := upgradeExit(rec, err)
	hint := hintOf(err)
	if be := (*upgrade.BreakingError)(nil); errors.As(err, &be) {
		hint += "; --allow-breaking migrates anyway"
	}
	msg := ""
	if err != nil {
		msg = r.redact(err.Error())
	}
	r.github(rec, code, msg)
	if r.json {
		doc := upgradeJSON{Record: rec, ExitCode: code}
		if err != nil {
			doc.Err = &errorJSON{Message: msg, Hint: r.redact(hint), ExitCode: code}
			err = &exitError{code: code}
		}
		return endJSON(r.env.Stdout, &doc, &doc.Err, err)
	}
	if rec != nil && rec.ID != "" {
		rec.WriteReport(r.env.Stdout, r.stack != "", r.redact)
	}
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: errors.New(msg), hint: r.redact(hint)}
}

// github adds the run to the job summary and the step outputs, and turns a
// failure into an annotation.
func (r *renderer) github(rec *upgrade.Record, code int, msg string) {
	if !r.gh.On {
		return
	}
	r.gh.EndGroup()
	verb := r.verb
	if verb == "" && rec != nil {
		verb = string(rec.Kind)
	}
	if msg != "" {
		r.gh.Annotate("error", "", 0, 0, fmt.Sprintf("upshift %s failed (exit %d)", verb, code), msg)
	}
	if rec == nil {
		return
	}
	r.gh.Summarize(rec.Summary(verb, code, r.redact))
	migrations := ""
	if rec.Setup != nil {
		migrations = strings.Join(rec.Setup.Migrations, ",")
	}
	r.gh.Output("outcome", string(rec.Outcome), "exit-code", fmt.Sprint(code), "run-id", rec.ID,
		"migrations-applied", migrations, "duration-ms", fmt.Sprint(rec.DurationMS))
}

func (c *HistoryCmd) Run(ctx context.Context, env *Env) error {
	st, name, closeEngine, err := upgrade.OpenHistory(ctx, upgrade.Options{Project: c.options(), Context: c.Context, StateDir: c.StateDir, StateIn: c.State}, c.Stack)
	if err != nil {
		return r0(env, c.JSON(), &exitError{code: upgradeExit(nil, err), err: err})
	}
	defer closeEngine()
	runs, err := upgrade.Runs(ctx, st, upgrade.Query{Service: c.Service, Limit: c.Limit})
	if err != nil {
		return r0(env, c.JSON(), err)
	}
	if c.JSON() {
		return writeJSON(env.Stdout, historyJSON{Project: name, StateDir: st.Where(), Runs: runs})
	}
	if len(runs) == 0 {
		what := "project " + name
		if c.Stack != "" {
			what = "stack " + name
		}
		fmt.Fprintf(env.Stdout, "no upgrades of %s recorded in %s\n", what, st.Where())
	}
	for _, r := range runs {
		r.WriteText(env.Stdout)
	}
	return nil
}

// historyJSON is history's document, the same keys on every path.
type historyJSON struct {
	Project  string          `json:"project"`
	StateDir string          `json:"state_dir"`
	Runs     []upgrade.Entry `json:"runs"`
	Err      *errorJSON      `json:"error"`
}

// r0 reports an error of history, as its JSON document with --format json.
func r0(env *Env, asJSON bool, err error) error {
	if asJSON {
		doc := historyJSON{Runs: []upgrade.Entry{}}
		return endJSON(env.Stdout, &doc, &doc.Err, err)
	}
	return err
}
