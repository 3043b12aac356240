// Package composetest has fakes for the unit tests of sequencing: an
// in-memory compose.Engine and a Recorder of compose verbs, so that the
// executor's every path (a pull, setup, start or health check that fails,
// a signal) is tested in milliseconds. What really changes containers is
// tested against the real engine and the real docker compose
// (internal/harness/dockertest).
package composetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// Engine holds containers per project/service and image tags.
type Engine struct {
	mu          sync.Mutex
	containers  map[string][]compose.Container // "project/service"
	oneOffs     map[string][]compose.Container
	entrypoints map[string][]string
	images      map[string]string // reference or id → id
}

// New returns an empty engine.
func New() *Engine {
	return &Engine{containers: map[string][]compose.Container{}, images: map[string]string{}}
}

// AddContainer puts a container of project/service on the engine.
func (e *Engine) AddContainer(project string, c compose.Container) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := project + "/" + c.Service
	e.containers[k] = append(e.containers[k], c)
	e.images[c.ImageID] = c.ImageID
	if c.Image != "" {
		e.images[c.Image] = c.ImageID
	}
}

// AddImage makes ref resolve to id.
func (e *Engine) AddImage(ref, id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.images[ref] = id
	e.images[id] = id
}

func (e *Engine) Containers(_ context.Context, project, service string) ([]compose.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]compose.Container(nil), e.containers[project+"/"+service]...), nil
}

// AddOneOff puts a one-off container of project/service on the engine.
func (e *Engine) AddOneOff(project string, c compose.Container) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.oneOffs == nil {
		e.oneOffs = map[string][]compose.Container{}
	}
	k := project + "/" + c.Service
	e.oneOffs[k] = append(e.oneOffs[k], c)
}

func (e *Engine) OneOffs(_ context.Context, project, service string) ([]compose.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]compose.Container(nil), e.oneOffs[project+"/"+service]...), nil
}

// ImageEntrypoint is upshift's for every image: the fake deploys
// db-setup images that run upshift migrate.
func (e *Engine) ImageEntrypoint(_ context.Context, ref string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ep, ok := e.entrypoints[ref]; ok {
		return ep, nil
	}
	return []string{"/upshift", "migrate"}, nil
}

// SetEntrypoint gives an image another entrypoint.
func (e *Engine) SetEntrypoint(ref string, ep ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.entrypoints == nil {
		e.entrypoints = map[string][]string{}
	}
	e.entrypoints[ref] = ep
}

func (e *Engine) Inspect(_ context.Context, id string) (compose.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, cs := range e.containers {
		for _, c := range cs {
			if c.ID == id {
				return c, nil
			}
		}
	}
	return compose.Container{}, fmt.Errorf("no container %s", id)
}

func (e *Engine) ImageID(_ context.Context, ref string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.images[ref], nil
}

func (e *Engine) Tag(_ context.Context, source, target string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.images[source]
	if !ok {
		return fmt.Errorf("no such image: %s", source)
	}
	e.images[target] = id
	return nil
}

func (e *Engine) Untag(_ context.Context, ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.images, ref)
	return nil
}

func (e *Engine) Tags(_ context.Context, repository string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for ref := range e.images {
		if strings.HasPrefix(ref, repository+":") {
			out = append(out, ref)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (e *Engine) StopAndRemove(_ context.Context, id string, _ time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range []map[string][]compose.Container{e.containers, e.oneOffs} {
		for k, cs := range m {
			for i, c := range cs {
				if c.ID == id {
					m[k] = append(cs[:i:i], cs[i+1:]...)
					return nil
				}
			}
		}
	}
	return fmt.Errorf("no container %s", id)
}

func (e *Engine) Close() error { return nil }

var _ compose.Engine = (*Engine)(nil)

// Recorder is a compose.API that runs nothing. It records every verb as
// the command line it would run (without the project's own flags), and
// Do, when set, decides what each verb does: the lines it prints, the
// error it ends with, what it changes on a fake Engine.
type Recorder struct {
	mu    sync.Mutex
	calls []string
	Do    func(v compose.Verb, out compose.Output) error
}

// Calls are the verbs run so far, in order ("stop api").
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *Recorder) record(v compose.Verb, out compose.Output) error {
	r.mu.Lock()
	r.calls = append(r.calls, strings.Join(compose.Argv(nil, v), " "))
	do := r.Do
	r.mu.Unlock()
	if out == nil {
		out = func(string) {}
	}
	if do == nil {
		return nil
	}
	return do(v, out)
}

func (r *Recorder) Pull(_ context.Context, o compose.PullOptions, out compose.Output) error {
	return r.record(o, out)
}
func (r *Recorder) Build(_ context.Context, o compose.BuildOptions, out compose.Output) error {
	return r.record(o, out)
}
func (r *Recorder) Stop(_ context.Context, o compose.StopOptions, out compose.Output) error {
	return r.record(o, out)
}
func (r *Recorder) Up(_ context.Context, o compose.UpOptions, out compose.Output) error {
	return r.record(o, out)
}
func (r *Recorder) RunOneOff(_ context.Context, o compose.RunOptions, out compose.Output) error {
	return r.record(o, out)
}
func (r *Recorder) Exec(_ context.Context, o compose.ExecOptions, out compose.Output) error {
	return r.record(o, out)
}
func (r *Recorder) Logs(_ context.Context, o compose.LogsOptions, out compose.Output) error {
	return r.record(o, out)
}

// Command is the verb as `docker compose` would be called, without the
// project's flags.
func (r *Recorder) Command(v compose.Verb) string {
	return "docker compose " + strings.Join(compose.Argv(nil, v), " ")
}

var _ compose.API = (*Recorder)(nil)

// SetContainers replaces what runs for project/service.
func (e *Engine) SetContainers(project, service string, cs ...compose.Container) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.containers[project+"/"+service] = cs
	for _, c := range cs {
		e.images[c.ImageID] = c.ImageID
	}
}
