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

// Runner runs `docker compose` verbs.
type Runner interface {
	// Run runs `docker compose args…`, passing every output line to line
	// (stdout and stderr merged, in order). A non-zero exit is an *ExitError.
	Run(ctx context.Context, line func(string), args ...string) error
	// Stream runs `docker compose args…` with its stdout going to w as it
	// is (a pg_dump), and its stderr lines to line.
	Stream(ctx context.Context, w io.Writer, line func(string), args ...string) error
	// Command is how Run's invocation reads on a shell, for dry runs.
	Command(args ...string) string
}

// CLI runs the user's own docker compose plugin, so that contexts, plugins
// and configuration are theirs.
type CLI struct {
	Docker string   // the docker binary; "docker" on PATH by default
	Env    []string // extra environment, added to the process's
	// Grace is how long a cancelled command gets after SIGINT before it is
	// killed (compose stops what it was doing on SIGINT).
	Grace time.Duration
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

func (c *CLI) Command(args ...string) string {
	parts := []string{c.docker(), "compose"}
	for _, a := range args {
		parts = append(parts, shell.Quote(a))
	}
	return strings.Join(parts, " ")
}

func (c *CLI) Run(ctx context.Context, line func(string), args ...string) error {
	return c.run(ctx, nil, line, args...)
}

func (c *CLI) Stream(ctx context.Context, w io.Writer, line func(string), args ...string) error {
	return c.run(ctx, w, line, args...)
}

// run runs the command; stdout goes to w when set, else it is read as
// lines together with stderr.
func (c *CLI) run(ctx context.Context, w io.Writer, line func(string), args ...string) error {
	cmd := exec.CommandContext(ctx, c.docker(), append([]string{"compose"}, args...)...)
	cmd.Env = append(os.Environ(), c.Env...)
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
			if line != nil {
				line(l)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Start()
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
	out, err := exec.CommandContext(ctx, c.docker(), "compose", "version", "--short").CombinedOutput()
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
