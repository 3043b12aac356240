package compose

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Output receives a verb's output line by line (stdout and stderr merged,
// in order); nil discards it.
type Output func(line string)

// API is every docker compose verb upshift runs, one options struct each,
// as docker compose's own pkg/api has them. CLI runs them with the user's
// docker compose; tests record them (composetest.Recorder).
type API interface {
	Pull(ctx context.Context, o PullOptions, out Output) error
	Build(ctx context.Context, o BuildOptions, out Output) error
	Stop(ctx context.Context, o StopOptions, out Output) error
	Up(ctx context.Context, o UpOptions, out Output) error
	RunOneOff(ctx context.Context, o RunOptions, out Output) error
	Exec(ctx context.Context, o ExecOptions, out Output) error
	Logs(ctx context.Context, o LogsOptions, out Output) error
	// Command is how v reads on a shell, for dry runs and the history.
	Command(v Verb) string
}

// Verb is one of the options structs below: what to run, without the
// project's own flags (-f, -p, --project-directory, --env-file).
type Verb interface {
	// Name is the compose verb ("pull", "up", "run", …).
	Name() string
	// Args are the global flags this verb adds (override files, profiles)
	// and the verb's own arguments.
	globals() (overrides, profiles []string)
	args() []string
}

// Do runs v through api's method for it.
func Do(ctx context.Context, api API, v Verb, out Output) error {
	switch v := v.(type) {
	case PullOptions:
		return api.Pull(ctx, v, out)
	case BuildOptions:
		return api.Build(ctx, v, out)
	case StopOptions:
		return api.Stop(ctx, v, out)
	case UpOptions:
		return api.Up(ctx, v, out)
	case RunOptions:
		return api.RunOneOff(ctx, v, out)
	case ExecOptions:
		return api.Exec(ctx, v, out)
	case LogsOptions:
		return api.Logs(ctx, v, out)
	}
	return fmt.Errorf("compose: no verb %T", v)
}

// PullOptions pull the services' images.
type PullOptions struct {
	Services []string
	Profiles []string // to enable (a setup service under a profile)
}

func (PullOptions) Name() string                    { return "pull" }
func (o PullOptions) globals() ([]string, []string) { return nil, o.Profiles }
func (o PullOptions) args() []string                { return append([]string{"pull"}, o.Services...) }

// BuildOptions build the services' images from their build: sections.
type BuildOptions struct {
	Services []string
	Profiles []string
	Pull     bool // --pull: always try to pull a newer base image
}

func (BuildOptions) Name() string                    { return "build" }
func (o BuildOptions) globals() ([]string, []string) { return nil, o.Profiles }
func (o BuildOptions) args() []string {
	a := []string{"build"}
	if o.Pull {
		a = append(a, "--pull")
	}
	return append(a, o.Services...)
}

// StopOptions stop the services' containers (their stop_grace_period).
type StopOptions struct {
	Services []string
}

func (StopOptions) Name() string                  { return "stop" }
func (StopOptions) globals() ([]string, []string) { return nil, nil }
func (o StopOptions) args() []string              { return append([]string{"stop"}, o.Services...) }

// UpOptions start the services detached, on the images the files (and
// Overrides) name, never pulling.
type UpOptions struct {
	Services []string
	// Overrides are compose files of upshift's own, added after the
	// project's (the previous images, for a rollback).
	Overrides  []string
	NoDeps     bool
	NoRecreate bool
	// Wait waits until the services run (healthy, where a healthcheck
	// is defined).
	Wait bool
	// Scale runs this many containers of a service (rolling: twice as
	// many, old beside new).
	Scale map[string]int
}

func (UpOptions) Name() string                    { return "up" }
func (o UpOptions) globals() ([]string, []string) { return o.Overrides, nil }
func (o UpOptions) args() []string {
	a := []string{"up", "-d"}
	if o.NoDeps {
		a = append(a, "--no-deps")
	}
	if o.NoRecreate {
		a = append(a, "--no-recreate")
	}
	if o.Wait {
		a = append(a, "--wait")
	}
	a = append(a, "--pull", "never")
	names := make([]string, 0, len(o.Scale))
	for s := range o.Scale {
		names = append(names, s)
	}
	slices.Sort(names)
	for _, s := range names {
		a = append(a, "--scale", s+"="+strconv.Itoa(o.Scale[s]))
	}
	return append(a, o.Services...)
}

// RunOptions run a one-off container of a service (`run --rm -T`): its
// dependencies started as up would, its output attached, its exit code
// the verb's, and only its own container removed afterwards.
type RunOptions struct {
	Service  string
	Profiles []string
	// Env are NAME=value pairs for the container (never secrets: they
	// are part of the command line).
	Env []string
	// NoDeps starts no dependency.
	NoDeps bool
	// Command replaces the image's command (the entrypoint stays); empty
	// keeps it.
	Command []string
}

func (RunOptions) Name() string                    { return "run" }
func (o RunOptions) globals() ([]string, []string) { return nil, o.Profiles }
func (o RunOptions) args() []string {
	a := []string{"run", "--rm", "-T"}
	if o.NoDeps {
		a = append(a, "--no-deps")
	}
	for _, e := range o.Env {
		a = append(a, "-e", e)
	}
	a = append(a, o.Service)
	return append(a, o.Command...)
}

// ExecOptions run a command in a service's running container.
type ExecOptions struct {
	Service string
	Command []string
	// SecretEnv are NAME=value pairs handed to the container through
	// docker compose's environment: only NAME is on the command line.
	SecretEnv []string
	// Stdout, when set, takes the command's stdout as it is (a dump);
	// stderr still goes to the Output.
	Stdout io.Writer
}

func (ExecOptions) Name() string                  { return "exec" }
func (ExecOptions) globals() ([]string, []string) { return nil, nil }
func (o ExecOptions) args() []string {
	a := []string{"exec", "-T"}
	for _, e := range o.SecretEnv {
		a = append(a, "-e", envName(e))
	}
	a = append(a, o.Service)
	return append(a, o.Command...)
}

// LogsOptions print the services' last lines.
type LogsOptions struct {
	Services []string
	Tail     int // 0: all
}

func (LogsOptions) Name() string                  { return "logs" }
func (LogsOptions) globals() ([]string, []string) { return nil, nil }
func (o LogsOptions) args() []string {
	a := []string{"logs", "--no-color", "--no-log-prefix"}
	if o.Tail > 0 {
		a = append(a, "--tail", strconv.Itoa(o.Tail))
	}
	return append(a, o.Services...)
}

func envName(kv string) string {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i]
		}
	}
	return kv
}

// Argv is the whole `docker compose` argument list for v on project p.
func Argv(p *Project, v Verb) []string {
	overrides, profiles := v.globals()
	var a []string
	if p != nil {
		a = p.Args(overrides...)
	} else {
		for _, o := range overrides {
			a = append(a, "-f", o)
		}
	}
	for _, pr := range profiles {
		a = append(a, "--profile", pr)
	}
	return append(a, v.args()...)
}
