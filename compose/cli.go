package compose

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/upshift-dev/upshift/internal/shell"
)

// CLI runs the user's own docker compose plugin, so that contexts, plugins
// and configuration are theirs.
type CLI struct {
	// Project is the project every verb runs on: its files, name,
	// directory and env files come first on every command line.
	Project *Project
	Docker  string   // the docker binary; "docker" on PATH by default
	Env     []string // extra environment, added to the process's
	// Context, when set, is the docker context every verb runs on
	// (`docker --context NAME compose …`): the engine upshift's own
	// client was given (Endpoint.Context).
	Context string
	// Grace is how long a cancelled command gets after SIGINT before it is
	// killed (compose stops what it was doing on SIGINT).
	Grace time.Duration

	resolved string // a resolved copy of the project that verbs run with

	children sync.Map // *os.Process → struct{}: the compose commands running now
	warned   sync.Map // compose's warnings about the project, shown once
}

// once says whether l is a warning compose gives about the project on
// every call (a variable not set, an obsolete key) that this CLI showed
// already: a run makes several calls, and the warning is the same.
func (c *CLI) once(l string) bool {
	if !strings.Contains(l, "variable is not set") && !strings.Contains(l, "is obsolete") {
		return false
	}
	_, seen := c.warned.LoadOrStore(strings.TrimSpace(l), true)
	return seen
}

// StopAll is for a process that must end now: every compose command
// still running is sent SIGINT in its own process group (where upshift's
// terminal's Ctrl-C never reaches it), and waited for up to wait, so that
// none outlives upshift doing something nobody watches. It reports
// whether they all ended.
func (c *CLI) StopAll(wait time.Duration) bool {
	c.children.Range(func(k, _ any) bool {
		_ = syscall.Kill(-k.(*os.Process).Pid, syscall.SIGINT)
		return true
	})
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		n := 0
		c.children.Range(func(any, any) bool { n++; return true })
		if n == 0 {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// ResolvedThreshold is the size of compose files above which a run's verbs
// read a resolved copy of the services they touch instead of the files.
const ResolvedThreshold = 256 << 10

// UseResolved makes the verbs of a run on services read a resolved copy of
// the project (written to path) when its files are large: docker compose
// then parses a few services instead of every file, on every verb. Printed
// commands still name the project's own files, which they are equivalent
// to. The returned func removes the copy and goes back to the files.
func (c *CLI) UseResolved(path string, services []string) (func(), error) {
	if c.Project == nil || c.Project.Bytes < ResolvedThreshold {
		return func() {}, nil
	}
	if err := c.Project.WriteResolved(path, services); err != nil {
		return func() {}, err
	}
	c.resolved = path
	return func() { c.resolved = ""; os.Remove(path) }, nil
}

// argv is what runs: the resolved copy in place of the files when in use.
func (c *CLI) argv(v Verb) []string {
	if c.resolved == "" || c.Project == nil {
		return Argv(c.Project, v)
	}
	overrides, profiles := v.globals()
	a := c.Project.args([]string{c.resolved}, nil, overrides)
	for _, pr := range profiles {
		a = append(a, "--profile", pr)
	}
	return append(a, v.args()...)
}

// ExitError is a compose command that exited non-zero.
type ExitError struct {
	Args []string
	Code int
	Tail []string // its last output lines
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("`docker compose %s` exited with code %d", strings.Join(e.Args, " "), e.Code)
	if len(e.Tail) > 0 {
		s += ": " + strings.Join(e.Tail, " / ")
	}
	return s
}

func (c *CLI) docker() string {
	if c.Docker != "" {
		return c.Docker
	}
	return "docker"
}

// Command is how v reads on a shell.
func (c *CLI) Command(v Verb) string { return c.command(Argv(c.Project, v)...) }

func (c *CLI) command(args ...string) string {
	return shell.Join(append(append([]string{c.docker()}, c.globals()...), args...)...)
}

// globals come before the compose arguments: the context, then "compose".
func (c *CLI) globals() []string {
	if c.Context != "" {
		return []string{"--context", c.Context, "compose"}
	}
	return []string{"compose"}
}

func (c *CLI) Pull(ctx context.Context, o PullOptions, out Output) error   { return c.do(ctx, o, out) }
func (c *CLI) Build(ctx context.Context, o BuildOptions, out Output) error { return c.do(ctx, o, out) }
func (c *CLI) Stop(ctx context.Context, o StopOptions, out Output) error   { return c.do(ctx, o, out) }
func (c *CLI) Up(ctx context.Context, o UpOptions, out Output) error       { return c.do(ctx, o, out) }
func (c *CLI) RunOneOff(ctx context.Context, o RunOptions, out Output) error {
	return c.do(ctx, o, out)
}
func (c *CLI) Logs(ctx context.Context, o LogsOptions, out Output) error { return c.do(ctx, o, out) }

// Exec passes SecretEnv through docker compose's environment, so that a
// password is never on a command line, and streams stdout to o.Stdout.
func (c *CLI) Exec(ctx context.Context, o ExecOptions, out Output) error {
	return c.run(ctx, o.Stdout, o.SecretEnv, out, c.argv(o)...)
}

func (c *CLI) do(ctx context.Context, v Verb, out Output) error {
	return c.run(ctx, nil, nil, out, c.argv(v)...)
}

// run runs the command; stdout goes to w when set, else it is read as
// lines together with stderr.
func (c *CLI) run(ctx context.Context, w io.Writer, env []string, line Output, args ...string) error {
	cmd := exec.CommandContext(ctx, c.docker(), append(c.globals(), args...)...)
	cmd.Env = append(append(os.Environ(), c.Env...), env...)
	if c.resolved != "" {
		// The copy holds the run's services only: the others are not
		// orphans.
		cmd.Env = append(cmd.Env, "COMPOSE_IGNORE_ORPHANS=true")
	}
	// Its own process group: a Ctrl-C on upshift's terminal reaches upshift,
	// which then decides what compose is told, and when.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = c.Grace
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 20 * time.Second
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if w != nil {
		cmd.Stdout = w
	}
	var tail []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			if len(tail) == 5 {
				tail = tail[1:]
			}
			tail = append(tail, l)
			if line != nil && !c.once(l) {
				line(l)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Start()
	if err == nil {
		c.children.Store(cmd.Process, struct{}{})
		defer c.children.Delete(cmd.Process)
	}
	if err != nil {
		pw.Close()
		wg.Wait()
		return fmt.Errorf("run docker compose: %w", err)
	}
	err = cmd.Wait()
	pw.Close()
	wg.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ctx.Err() != nil {
			return fmt.Errorf("`docker compose %s` interrupted: %w", strings.Join(args, " "), ctx.Err())
		}
		return &ExitError{Args: args, Code: ee.ExitCode(), Tail: tail}
	}
	return err
}

// Compiled on first use: every run of the binary would pay for it at start.
var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`v?(\d+)\.(\d+)\.(\d+)`) })

// ErrComposeV1 is a docker compose older than v2: its behaviour (container
// names, `up --no-deps`, `--pull`) differs from what upshift relies on.
var ErrComposeV1 = errors.New("docker compose v2 or later is required")

// Version returns the compose plugin's version ("2.29.1"), and
// ErrComposeV1 when only compose v1 (docker-compose) is there.
func (c *CLI) Version(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, c.docker(), append(c.globals(), "version", "--short")...)
	cmd.WaitDelay = time.Second // a child holding the pipe does not hold a cancellation
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		// Killed by a signal, not absent.
		return "", fmt.Errorf("interrupted while asking docker compose for its version: %w", ctx.Err())
	}
	if err != nil {
		if _, lerr := exec.LookPath("docker-compose"); lerr == nil {
			v1, _ := exec.CommandContext(ctx, "docker-compose", "version", "--short").Output()
			return strings.TrimSpace(string(v1)), fmt.Errorf("%w: `%s compose` is not installed and docker-compose is %s; install the compose plugin (docker-compose-plugin, or the binary as ~/.docker/cli-plugins/docker-compose)",
				ErrComposeV1, c.docker(), strings.TrimSpace(string(v1)))
		}
		return "", fmt.Errorf("%w: `%s compose version` failed: %v %s", ErrComposeV1, c.docker(), err, strings.TrimSpace(string(out)))
	}
	v := strings.TrimSpace(string(out))
	m := versionRE().FindStringSubmatch(v)
	if m == nil {
		return v, nil
	}
	if major, _ := strconv.Atoi(m[1]); major < 2 {
		return v, fmt.Errorf("%w: `%s compose` is %s", ErrComposeV1, c.docker(), v)
	}
	return strings.TrimPrefix(m[0], "v"), nil
}
