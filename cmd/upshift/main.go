// Command upshift applies Drizzle migrations to PostgreSQL safely.
//
// This package only wires flags to the library packages and prints their
// results; it is the one place that knows about kong, stdout and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/buildinfo"
	"github.com/upshift-dev/upshift/cmd/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/cmd/upshift/internal/dockerplugin"
	"github.com/upshift-dev/upshift/dbconn"
	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/pgsql"
)

// version, commit and date are set at release time with -ldflags
// "-X main.version=v0.9.0 -X main.commit=… -X main.date=…" (make release).
var version, commit, date = "", "", ""

func buildVersion() string { return buildinfo.Version(version) }
func buildCommit() string  { return buildinfo.Commit(commit) }

// Exit codes. They are documented in the README and stable.
const (
	ExitOK          = 0 // success, including "nothing to do"
	ExitFailed      = 1 // a migration or operation failed
	ExitUsage       = 2 // bad usage or bad input: flags, folder, journal, URL
	ExitLockTimeout = 3 // the advisory lock was not acquired within --timeout
	ExitDrift       = 4 // status --exit-code found pending or drifted migrations
	// 5 and 6 are upgrade's: see upgrade.go.
)

// exitError carries an explicit exit code, and what to do next.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func (e *exitError) ErrorHint() string {
	if e.hint != "" {
		return e.hint
	}
	var h interface{ ErrorHint() string }
	if errors.As(e.err, &h) {
		return h.ErrorHint()
	}
	return ""
}

// hintOf is an error's advice: errors say what went wrong, and carry what
// to do next apart (ErrorHint), for the text's "hint:" line and the JSON's
// hint field.
func hintOf(err error) string {
	var h interface{ ErrorHint() string }
	if !errors.As(err, &h) {
		return ""
	}
	hint := h.ErrorHint()
	// Libraries name the settings a hint means; here they are flags.
	var o interface{ ErrorOptions() []string }
	if errors.As(err, &o) && len(o.ErrorOptions()) > 0 {
		var flags []string
		for _, name := range o.ErrorOptions() {
			f := "--" + name
			if name == "file" {
				f = "-f/--file"
			}
			if env := flagEnv[name]; env != "" {
				f += "/" + env
			}
			flags = append(flags, f)
		}
		hint += " (" + strings.Join(flags, ", ") + ")"
	}
	return hint
}

// flagEnv are the variables that set the flags hints name.
var flagEnv = map[string]string{"dir": "MIGRATIONS_DIR", "migrations-schema": "MIGRATIONS_SCHEMA", "migrations-table": "MIGRATIONS_TABLE",
	"backup-url": "UPSHIFT_BACKUP_URL", "database-url": "DATABASE_URL"}

// usage is an exit-2 error with its hint.
func usage(err error, hint string) error { return &exitError{code: ExitUsage, err: err, hint: hint} }

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ee *exitError
	var ie *drizzle.InputError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ie), errors.Is(err, dbconn.ErrBadURL):
		return ExitUsage
	}
	return ExitFailed
}

// CLI is the command tree.
type CLI struct {
	Status      StatusCmd      `cmd:"" help:"Show which migrations are applied, pending, modified, missing or out of order. Read-only: creates, alters and locks nothing."`
	Migrate     MigrateCmd     `cmd:"" help:"Apply pending migrations under the service's advisory lock, exactly as drizzle-orm records them."`
	Lint        LintCmd        `cmd:"" help:"Find statements that lock or rewrite busy tables, with the safe way to write each (PostgreSQL's own parser)."`
	MarkApplied MarkAppliedCmd `cmd:"" name:"mark-applied" help:"Record migrations as applied without running them (after finishing one by hand, or to baseline with --all)."`
	Wait        WaitCmd        `cmd:"" help:"Block until the database accepts connections (for container entrypoints)."`
	DB          DBCmd          `cmd:"" name:"db" help:"Database-level commands."`
	Locks       LocksCmd       `cmd:"" help:"List the advisory locks held in the database, with their holders."`
	Unlock      UnlockCmd      `cmd:"" help:"Show the session holding a service's lock; --force ends it."`
	Lockids     LockidsCmd     `cmd:"" help:"Print the advisory lock registry and the derived id of given services."`
	Init        InitCmd        `cmd:"" help:"Write what a project needs to deploy with upshift, where it is missing: the db-setup image's Dockerfile, the deploy and rollback workflows; print the db-setup service to add to the compose file."`
	Upgrade     UpgradeCmd     `cmd:"" help:"Move compose services (or, with --stack, a Swarm stack's) to new images: pin the running ones, pull, stop, run the setup service, start, verify; put the previous images back by itself on failure."`
	Rollback    RollbackCmd    `cmd:"" help:"Put back the images that ran before the latest upgrade of the services, and verify them."`
	History     HistoryCmd     `cmd:"" help:"List the upgrades and rollbacks of the compose project, and how each ended."`
	Backup      BackupCmd      `cmd:"" help:"pg_dump -Fc the compose project's database into a file (through its container, so versions match), recorded in the history."`
	Completion  CompletionCmd  `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
	Version     VersionCmd     `cmd:"" help:"Print the version."`
}

// ExitInterrupted is the exit code after a second Ctrl-C / SIGTERM, which
// ends upshift at once (128 + SIGINT, as shells report it).
const ExitInterrupted = 130

func main() {
	// upshift runs for milliseconds on every deploy and container start:
	// a higher GC target spares collections while reading a large folder.
	debug.SetGCPercent(400)
	// ...but a data migration of tens of megabytes must not make that
	// target a few hundred: a db-setup container has a memory limit. The
	// soft limit makes the collector work harder instead (GOMEMLIMIT
	// overrides it).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(160 << 20)
	}
	// Buffered, so that a status of a thousand lines is a few writes; it
	// is flushed before any line goes to stderr to keep the order.
	out := cliutil.NewStdout(os.Stdout)
	// The same binary is the docker CLI plugin docker-upshift.
	inv, err := dockerplugin.Parse(os.Args[0], os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "upshift:", err)
		os.Exit(ExitUsage)
	}
	if inv.Metadata {
		os.Stdout.Write(dockerplugin.Metadata(buildVersion()))
		os.Exit(ExitOK)
	}
	for _, kv := range inv.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	args := inv.Args
	// Commands that report as they go flush each line; the listings
	// (status, lint, a thousand lines) are written in a few writes.
	out.Lines = len(args) < 1 || args[0] != "status" && args[0] != "lint"
	// The first SIGINT/SIGTERM cancels the context: the running statement
	// is cancelled on the server, the transaction rolled back and the lock
	// released. A second one ends the process at once — after flushing
	// what was already printed.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		out.Flush()
		// CI's cancel is SIGINT, SIGTERM seconds later, then SIGKILL:
		// before ending, release the deploy lock, remove the files
		// holding secrets and stop the compose commands, within the
		// moments left; a third signal ends it at once.
		done := make(chan struct{})
		go func() { abandonRun(); close(done) }()
		select {
		case <-done:
		case <-sigs:
		case <-time.After(2 * time.Second):
		}
		os.Exit(ExitInterrupted)
	}()
	code := run(ctx, args, out, cliutil.FlushFirst{B: out, W: os.Stderr}, stdoutTerminal())
	out.Flush()
	os.Exit(code)
}

// abandon is what a second signal does before upshift ends: the open
// run's Abandon (set when an upgrade, rollback or backup opens).
var abandon atomic.Pointer[func()]

func abandonRun() {
	if f := abandon.Load(); f != nil {
		(*f)()
	}
}

// onSecondSignal sets what a second signal does before upshift ends.
func onSecondSignal(f func()) { abandon.Store(&f) }

// Env is what commands print to.
type Env struct {
	Stdout, Stderr io.Writer
	// Terminal: stdout is a terminal Width characters wide (live lines).
	Terminal bool
	Width    int
}

// terminal is whether stdout is a terminal, and its width.
type terminal struct {
	on    bool
	width int
}

func stdoutTerminal() terminal {
	fd := int(os.Stdout.Fd())
	if !term.IsTerminal(fd) || os.Getenv("TERM") == "dumb" {
		return terminal{}
	}
	w, _, err := term.GetSize(fd)
	if err != nil || w <= 0 {
		w, _ = strconv.Atoi(os.Getenv("COLUMNS"))
	}
	return terminal{on: true, width: w}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty terminal) int {
	var cli CLI
	exited := -1
	// Building kong's model of every command costs more than the rest of
	// a no-op migrate's startup; a plain command line needs only its own.
	var root any = &cli
	var only []kong.Option
	if name, cmd, help, ok := cliutil.OneCommand(&cli, args); ok {
		root = &struct{}{}
		only = append(only, kong.DynamicCommand(name, help, "", cmd))
	}
	parser, err := kong.New(root, append(only,
		kong.Name("upshift"),
		kong.Description("Ship Drizzle migrations to PostgreSQL safely."),
		kong.Writers(stdout, stderr),
		kong.UsageOnError(),
		kong.Exit(func(code int) { exited = code; panic(exitSentinel{}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Help(cliutil.HelpWithExamples(examples)),
		kong.ValueFormatter(cliutil.HelpValue),
	)...)
	if err != nil {
		fmt.Fprintln(stderr, "upshift:", err)
		return ExitFailed
	}
	kctx, code := parse(parser, args, &exited)
	if kctx == nil {
		if code == ExitUsage && cliutil.ArgsAskJSON(args) {
			_ = writeJSON(stdout, map[string]any{"error": &errorJSON{Message: lastUsageError, Hint: "run `upshift --help` for usage", ExitCode: ExitUsage}})
		}
		if code != 0 {
			fmt.Fprintln(stderr, "upshift: run `upshift --help` for usage")
		}
		return code
	}
	counted := &cliutil.Counting{W: stdout}
	env := &Env{Stdout: counted, Stderr: stderr, Terminal: tty.on, Width: tty.width}
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(env)
	// Asked for JSON, a command prints one document on every path: one
	// that failed before printing anything prints its error.
	if err != nil && counted.N == 0 && jsonRequested(kctx) {
		_ = writeJSON(stdout, map[string]any{"error": newErrorJSON(err)})
	}
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || ee.err != nil {
			fmt.Fprintln(stderr, "upshift:", err)
			if h := hintOf(err); h != "" {
				fmt.Fprintln(stderr, "  hint: "+h)
			}
		}
	}
	return exitCode(err)
}

// jsonRequested says whether the command was run with --format json.
func jsonRequested(kctx *kong.Context) bool {
	for _, f := range kctx.Flags() {
		if f.Name == "format" {
			v := kctx.FlagValue(f)
			return v == "json"
		}
	}
	return false
}

type exitSentinel struct{}

// lastUsageError is kong's complaint, kept for the JSON error document.
var lastUsageError string

// parse runs kong's parser, turning its exits (help, errors) into codes.
func parse(p *kong.Kong, args []string, exited *int) (kctx *kong.Context, code int) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(exitSentinel); !ok {
				panic(r)
			}
			kctx, code = nil, *exited
		}
	}()
	kctx, err := p.Parse(cliutil.JoinNegativeValues(args))
	if err != nil {
		lastUsageError = err.Error()
		fmt.Fprintln(p.Stderr, "upshift:", err)
		return nil, ExitUsage
	}
	return kctx, 0
}

// VersionCmd prints the version.
type VersionCmd struct {
	OutputFlags
}

func (c VersionCmd) Run(env *Env) error {
	v := map[string]string{"version": buildVersion(), "commit": buildCommit(), "date": date, "go": runtime.Version(),
		"platform": runtime.GOOS + "/" + runtime.GOARCH, "parser": pgsql.Backend}
	if c.JSON() {
		return writeJSON(env.Stdout, v)
	}
	fmt.Fprintln(env.Stdout, "upshift", v["version"])
	for _, k := range []string{"commit", "date", "platform", "go", "parser"} {
		if v[k] != "" {
			fmt.Fprintf(env.Stdout, "  %-9s %s\n", k+":", v[k])
		}
	}
	return nil
}
