// Package composetest has an in-memory compose.Engine for the planner's unit
// tests. Anything that changes containers is tested against the real engine
// (internal/dockertest); this fake only answers questions.
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
	mu         sync.Mutex
	containers map[string][]compose.Container // "project/service"
	images     map[string]string              // reference or id → id
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
	for k, cs := range e.containers {
		for i, c := range cs {
			if c.ID == id {
				e.containers[k] = append(cs[:i:i], cs[i+1:]...)
				return nil
			}
		}
	}
	return fmt.Errorf("no container %s", id)
}

func (e *Engine) Close() error { return nil }

var _ compose.Engine = (*Engine)(nil)
