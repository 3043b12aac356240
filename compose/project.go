// Package compose loads docker compose projects with compose-go, observes
// their containers through the Docker engine (the moby client) and runs the
// user's own `docker compose` CLI for every verb that changes something, so
// that what upshift runs is exactly what an operator would run by hand.
package compose

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v3"

	"github.com/upshift-dev/upshift/redact"
)

// Options select a project the way `docker compose` flags do.
type Options struct {
	Files       []string // -f/--file; empty: COMPOSE_FILE, then compose.yaml … in the working directory or a parent
	ProjectName string   // -p/--project-name
	ProjectDir  string   // --project-directory
	EnvFiles    []string // --env-file
	Profiles    []string // --profile (COMPOSE_PROFILES when empty)
	WorkingDir  string   // where relative paths start; empty: the process's
	// Raw loads the files as written: no variable is interpolated (and
	// none is required), so a value such as a service's DATABASE_URL can
	// be shown with its ${PASSWORD} still a variable.
	Raw bool
}

// ProjectError is a compose project that cannot be used: missing or invalid
// files, an unknown service, a service without an image. Nothing was touched.
type ProjectError struct {
	Msg  string
	Hint string
	// Options are the settings the hint refers to ("setup-service"), for
	// a caller to name as its own flags or fields.
	Options []string
	Err     error
}

func (e *ProjectError) Error() string {
	s := e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// ErrorHint is what to change (printed apart from the error).
func (e *ProjectError) ErrorHint() string { return e.Hint }

// ErrorOptions are the settings the hint refers to.
func (e *ProjectError) ErrorOptions() []string { return e.Options }
func (e *ProjectError) Unwrap() error          { return e.Err }

// Service is what upshift needs to know of one service.
type Service struct {
	Name          string
	Image         string // the reference as the compose file resolves it
	Profiles      []string
	Restart       string
	ContainerName string
	FixedPorts    []string // host ports published at a fixed number
	Healthcheck   bool     // a healthcheck that is not disabled
	StopGrace     time.Duration
	Build         bool
	// BuildKey is its build section in one canonical string (context,
	// dockerfile, target, args; "" without one): services with the same
	// key and the same image are one build.
	BuildKey   string
	PullPolicy string // always, never, missing, build ("" when not set)
	// Entrypoint and Command are the file's own (nil: the image's).
	Entrypoint []string
	Command    []string
	Scale      int
	DependsOn  []string
	// Completes are the services it waits for to exit 0
	// (depends_on: condition: service_completed_successfully): one-shots
	// such as migrations that must have run before it starts.
	Completes []string
	// Enabled is false for a service whose profiles are not active: it
	// runs only when targeted with --profile.
	Enabled bool
	// Env is its environment as compose resolves it (secrets included:
	// never print it).
	Env map[string]string
	// UpdateOrder, UpdateFailureAction and UpdateMonitor are the file's
	// deploy.update_config ("" and 0 where it says nothing: docker stack
	// deploy fills in the engine's defaults, pause among them).
	UpdateOrder         string
	UpdateFailureAction string
	UpdateMonitor       time.Duration
	// SwarmIgnored are the keys it sets that `docker stack deploy`
	// ignores: they do nothing on Swarm.
	SwarmIgnored []string
}

// Project is a loaded compose project.
type Project struct {
	Name       string
	WorkingDir string
	Files      []string // absolute paths of every compose file, in order
	EnvFiles   []string
	Profiles   []string // the active profiles
	Services   map[string]*Service
	// Secrets are values from the project's environment and its services'
	// environments, to be kept out of upshift's output; SecretSources says
	// where each comes from ("the value of POSTGRES_PASSWORD of service
	// db"), for
	// warnings that must not repeat the value.
	Secrets       []string
	SecretSources map[string]string
	// Warnings are compose-go's (a variable not set, an obsolete key).
	Warnings []string
	// Bytes is the size of the compose files together.
	Bytes int64

	model *types.Project // as compose-go loaded it, for a resolved copy
}

// Load reads and validates a project with compose-go, as `docker compose`
// would with the same flags and environment. Every service is loaded, those
// behind inactive profiles too, so that a setup service under `profiles:
// [setup]` is found without naming its profile.
func Load(ctx context.Context, o Options) (*Project, error) {
	wd := o.WorkingDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(wd, p)
	}
	var files, envFiles []string
	for _, f := range o.Files {
		if f == "-" {
			return nil, &ProjectError{Msg: "a compose file on standard input (-f -) cannot be used", Hint: "upshift runs docker compose several times; pass the file's path"}
		}
		files = append(files, abs(f))
	}
	for _, f := range o.EnvFiles {
		envFiles = append(envFiles, abs(f))
	}
	projectDir := abs(o.ProjectDir)
	env := os.Environ()
	if os.Getenv("PWD") == "" || o.WorkingDir != "" {
		env = append(env, "PWD="+wd)
	}
	base := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(projectDir),
		cli.WithEnv(env),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithName(o.ProjectName),
		cli.WithProfiles([]string{"*"}),
	}
	if o.Raw {
		base = append(base, cli.WithInterpolation(false))
	}
	if projectDir == "" {
		// compose-go looks for the default file from the process's
		// directory; WorkingDir stands for it in tests and libraries.
		base = append([]cli.ProjectOptionsFn{cli.WithWorkingDirectory(wd)}, base[1:]...)
	}
	po, err := cli.NewProjectOptions(files, base...)
	if err != nil {
		return nil, &ProjectError{Msg: "compose project", Err: err, Hint: "name the compose file, or run upshift in the project's directory", Options: []string{"file"}}
	}
	if len(po.ConfigPaths) == 0 {
		return nil, &ProjectError{Msg: "no compose file found in " + wd + " or its parents", Hint: "name it, or set COMPOSE_FILE", Options: []string{"file"}}
	}
	warnings := captureWarnings()
	p, err := po.LoadProject(ctx)
	warned := warnings()
	if err != nil {
		return nil, &ProjectError{Msg: "invalid compose project " + strings.Join(po.ConfigPaths, ", "), Err: err}
	}
	active := o.Profiles
	if len(active) == 0 {
		for _, s := range strings.Split(p.Environment["COMPOSE_PROFILES"], ",") {
			if s = strings.TrimSpace(s); s != "" {
				active = append(active, s)
			}
		}
	}
	out := &Project{Name: p.Name, WorkingDir: p.WorkingDir, Files: p.ComposeFiles, EnvFiles: envFiles,
		Profiles: active, Services: map[string]*Service{}, Warnings: warned}
	for name, s := range p.Services {
		out.Services[name] = service(s, active)
	}
	out.Secrets, out.SecretSources = secrets(p)
	out.model = p
	for _, f := range p.ComposeFiles {
		if st, err := os.Stat(f); err == nil {
			out.Bytes += st.Size()
		}
	}
	return out, nil
}

// WriteResolved writes the project as compose-go resolved it — only the
// named services and what they depend on, variables interpolated, env
// files inlined — to path (0600: it holds the environment's values), for
// docker compose to read instead of parsing the project's own files again
// on every verb. Literal dollars are escaped, as `docker compose config`
// does, so that the copy interpolates to the same values.
func (p *Project) WriteResolved(path string, services []string) error {
	if p.model == nil {
		return fmt.Errorf("project %s was not loaded from files", p.Name)
	}
	m, err := p.model.WithSelectedServices(services)
	if err != nil {
		return err
	}
	b, err := m.WithoutUnnecessaryResources().MarshalYAML()
	if err != nil {
		return err
	}
	return os.WriteFile(path, bytes.ReplaceAll(b, []byte("$"), []byte("$$")), 0o600)
}

// captureWarnings collects what compose-go logs through logrus while a
// project loads, instead of letting it print timestamped lines; the caller
// shows them as its own warnings.
func captureWarnings() func() []string {
	var buf bytes.Buffer
	prevOut, prevFmt := logrus.StandardLogger().Out, logrus.StandardLogger().Formatter
	logrus.SetOutput(&buf)
	logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableQuote: true})
	return func() []string {
		logrus.SetOutput(prevOut)
		logrus.SetFormatter(prevFmt)
		var out []string
		for _, l := range strings.Split(buf.String(), "\n") {
			if _, msg, ok := strings.Cut(l, "msg="); ok {
				out = append(out, msg)
			}
		}
		return out
	}
}

func service(s types.ServiceConfig, active []string) *Service {
	svc := &Service{
		Name: s.Name, Image: s.Image, Profiles: s.Profiles, Restart: s.Restart,
		ContainerName: s.ContainerName, Build: s.Build != nil, BuildKey: buildKey(s.Build), Scale: 1,
		Enabled: len(s.Profiles) == 0 || s.HasProfile(active),
	}
	if s.Scale != nil {
		svc.Scale = *s.Scale
	}
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		svc.Scale = *s.Deploy.Replicas
	}
	if s.Restart == "" && s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		svc.Restart = s.Deploy.RestartPolicy.Condition
	}
	if s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 0 && s.HealthCheck.Test[0] != "NONE" {
		svc.Healthcheck = true
	}
	if s.StopGracePeriod != nil {
		svc.StopGrace = time.Duration(*s.StopGracePeriod)
	}
	for _, p := range s.Ports {
		if p.Published != "" && !strings.Contains(p.Published, "-") {
			svc.FixedPorts = append(svc.FixedPorts, p.Published)
		}
	}
	svc.Env = map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			svc.Env[k] = *v
		}
	}
	svc.PullPolicy, svc.Entrypoint, svc.Command = s.PullPolicy, s.Entrypoint, s.Command
	for dep, d := range s.DependsOn {
		svc.DependsOn = append(svc.DependsOn, dep)
		if d.Condition == types.ServiceConditionCompletedSuccessfully {
			svc.Completes = append(svc.Completes, dep)
		}
	}
	sort.Strings(svc.DependsOn)
	sort.Strings(svc.Completes)
	svc.SwarmIgnored = swarmIgnored(s)
	if s.Deploy != nil && s.Deploy.UpdateConfig != nil {
		u := s.Deploy.UpdateConfig
		svc.UpdateOrder, svc.UpdateFailureAction, svc.UpdateMonitor = u.Order, u.FailureAction, time.Duration(u.Monitor)
	}
	return svc
}

// swarmIgnored names the keys of s that Swarm does not apply.
func swarmIgnored(s types.ServiceConfig) []string {
	var out []string
	for _, k := range []struct {
		key string
		set bool
	}{
		{"build", s.Build != nil},
		{"container_name", s.ContainerName != ""},
		{"depends_on", len(s.DependsOn) > 0},
		{"links", len(s.Links) > 0},
		{"external_links", len(s.ExternalLinks) > 0},
		{"network_mode", s.NetworkMode != ""},
		{"restart (use deploy.restart_policy)", s.Restart != ""},
		{"devices", len(s.Devices) > 0},
		{"cgroup_parent", s.CgroupParent != ""},
		{"userns_mode", s.UserNSMode != ""},
		{"security_opt", len(s.SecurityOpt) > 0},
		{"profiles", len(s.Profiles) > 0},
	} {
		if k.set {
			out = append(out, k.key)
		}
	}
	return out
}

// secrets collects values that must not be echoed: the environment the
// project was interpolated with and every service's environment, where the
// variable's name says it is a secret or the value is a URL with a password.
func secrets(p *types.Project) ([]string, map[string]string) {
	var out []string
	from := map[string]string{}
	// A variable named as a secret names it better than a URL holding it.
	better := func(a, b string) bool {
		ua, ub := strings.HasPrefix(a, "the password in "), strings.HasPrefix(b, "the password in ")
		return b == "" || ua != ub && ub || ua == ub && a < b
	}
	add := func(k, of string, v *string) {
		if v == nil || len(*v) < 4 {
			return
		}
		note := func(secret, where string) {
			out = append(out, secret)
			if better(where, from[secret]) {
				from[secret] = where
			}
		}
		if isSecretName(k) {
			note(*v, "the value of "+k+of)
		}
		_, forms := redact.URLPassword(*v)
		for _, pw := range forms {
			note(pw, "the password in "+k+of)
		}
	}
	for k, v := range p.Environment {
		add(k, " in the project's environment", &v)
	}
	for _, s := range p.Services {
		for k, v := range s.Environment {
			add(k, " of service "+s.Name, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) || len(out[i]) == len(out[j]) && out[i] < out[j] })
	return slices.Compact(out), from
}

func isSecretName(k string) bool {
	k = strings.ToUpper(k)
	for _, w := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "AUTH"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// Service returns the named service or a ProjectError naming the ones there are.
func (p *Project) Service(name string) (*Service, error) {
	if s, ok := p.Services[name]; ok {
		return s, nil
	}
	return nil, &ProjectError{Msg: fmt.Sprintf("service %q is not defined in %s", name, strings.Join(p.Files, ", ")),
		Hint: "services there: " + strings.Join(p.ServiceNames(), ", ")}
}

// ServiceNames lists the services, sorted.
func (p *Project) ServiceNames() []string {
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Args are the global `docker compose` flags that select this very project,
// the loaded files spelled out so that an override file can be added after
// them. extra files (an override of upshift's own) come last.
func (p *Project) Args(extra ...string) []string { return p.args(p.Files, p.EnvFiles, extra) }

func (p *Project) args(files, envFiles, extra []string) []string {
	args := []string{}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	for _, f := range extra {
		args = append(args, "-f", f)
	}
	args = append(args, "-p", p.Name, "--project-directory", p.WorkingDir)
	for _, f := range envFiles {
		args = append(args, "--env-file", f)
	}
	return args
}

// buildKey is a build section in one canonical string.
func buildKey(b *types.BuildConfig) string {
	if b == nil {
		return ""
	}
	var args []string
	for k, v := range b.Args {
		val := ""
		if v != nil {
			val = *v
		}
		args = append(args, k+"="+val)
	}
	sort.Strings(args)
	return strings.Join(append([]string{b.Context, b.Dockerfile, b.DockerfileInline, b.Target}, args...), "\x00")
}

// RawEnv is a service's environment variable as the compose files write it
// (the last file that sets it wins), its ${VARIABLES} uninterpolated: what
// may be shown where the interpolated value holds a password. It reads the
// environment key's map and list forms and YAML anchors and merges; a
// value that comes from an env_file or extends is not found.
func RawEnv(files []string, service, key string) (string, bool) {
	value, found := "", false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc struct {
			Services map[string]struct {
				Environment any `yaml:"environment"`
			} `yaml:"services"`
		}
		if yaml.Unmarshal(b, &doc) != nil {
			continue
		}
		switch env := doc.Services[service].Environment.(type) {
		case map[string]any:
			if v, ok := env[key]; ok && v != nil {
				value, found = fmt.Sprint(v), true
			}
		case []any:
			for _, e := range env {
				if k, v, ok := strings.Cut(fmt.Sprint(e), "="); ok && k == key {
					value, found = v, true
				}
			}
		}
	}
	return value, found
}
