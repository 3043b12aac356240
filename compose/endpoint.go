package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/docker/cli/cli/config"
	dcontext "github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	"github.com/moby/moby/client"
)

// Endpoint is the Docker engine a run talks to, chosen as the docker CLI
// chooses it, so that upshift's own engine client and every `docker
// compose` it runs reach the same engine: --context, else DOCKER_HOST
// (unix, tcp with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, or ssh://user@host
// through the CLI's ssh helper, `ssh … docker system dial-stdio`), else
// DOCKER_CONTEXT, else the docker config's current context, else the
// local socket.
type Endpoint struct {
	// Context is the docker context chosen by name ("" for DOCKER_HOST or
	// the default): docker compose is then run as `docker --context NAME`.
	Context string
	// Host is the engine's address, for people (never a secret: TLS
	// material stays in files).
	Host string
	// From says what chose it ("--context", "DOCKER_HOST", …).
	From string
	opts []client.Opt
}

// Remote says whether the engine is on another machine than this one:
// reached over ssh, or over TCP to an address that is not this machine's
// loopback. What upshift writes locally then does not outlive the runner.
func (e Endpoint) Remote() bool {
	switch {
	case strings.HasPrefix(e.Host, "ssh://"):
		return true
	case strings.HasPrefix(e.Host, "tcp://"):
		h := strings.TrimPrefix(e.Host, "tcp://")
		if i := strings.LastIndex(h, ":"); i >= 0 {
			h = h[:i]
		}
		h = strings.Trim(h, "[]")
		return h != "localhost" && !strings.HasPrefix(h, "127.") && h != "::1"
	}
	return false
}

func (e Endpoint) String() string {
	s := e.Host
	if e.Context != "" {
		s = fmt.Sprintf("%s (docker context %q, from %s)", e.Host, e.Context, e.From)
	} else if e.From != "" {
		s += " (from " + e.From + ")"
	}
	return s
}

// EngineError is an engine that cannot be used: a context that does not
// exist, an address that does not answer. Nothing was touched.
type EngineError struct {
	Endpoint Endpoint
	Err      error
}

func (e *EngineError) Error() string {
	return fmt.Sprintf("docker engine %s: %v; nothing was pinned, pulled or stopped", e.Endpoint, e.Err)
}
func (e *EngineError) Unwrap() error { return e.Err }

// ErrorHint says what to check.
func (e *EngineError) ErrorHint() string {
	return "check that the engine runs and answers `docker --context NAME info` (or DOCKER_HOST) from this machine"
}

// ErrorOptions names the setting.
func (e *EngineError) ErrorOptions() []string { return []string{"context"} }

// ResolveEndpoint chooses the engine for contextName ("" to follow the
// environment and the docker config, as the docker CLI does).
func ResolveEndpoint(contextName string) (Endpoint, error) {
	from := "--context"
	if contextName == "" {
		if h := os.Getenv(client.EnvOverrideHost); h != "" {
			ep := Endpoint{Host: h, From: "DOCKER_HOST"}
			if strings.HasPrefix(h, "ssh://") {
				opts, err := (&dcontext.Endpoint{EndpointMeta: dcontext.EndpointMeta{Host: h}}).ClientOpts()
				if err != nil {
					return ep, &EngineError{Endpoint: ep, Err: err}
				}
				ep.opts = opts
			} else {
				ep.opts = []client.Opt{client.FromEnv}
			}
			return ep, nil
		}
		contextName, from = os.Getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
		if contextName == "" {
			if cfg, err := config.Load(config.Dir()); err == nil {
				contextName, from = cfg.CurrentContext, "the docker config's current context"
			}
		}
	}
	if contextName == "" || contextName == "default" {
		ep := Endpoint{Host: client.DefaultDockerHost, From: "the default"}
		ep.opts = []client.Opt{client.FromEnv}
		return ep, nil
	}
	ep := Endpoint{Context: contextName, From: from}
	s := store.New(config.ContextStoreDir(), store.NewConfig(
		func() any { return &map[string]any{} },
		store.EndpointTypeGetter(dcontext.DockerEndpoint, func() any { return &dcontext.EndpointMeta{} }),
	))
	meta, err := s.GetMetadata(contextName)
	if err != nil {
		return ep, &EngineError{Endpoint: ep, Err: fmt.Errorf("no docker context %q in %s: %w", contextName, config.ContextStoreDir(), err)}
	}
	em, err := dcontext.EndpointFromContext(meta)
	if err != nil {
		return ep, &EngineError{Endpoint: ep, Err: err}
	}
	ep.Host = em.Host
	full, err := dcontext.WithTLSData(s, contextName, em)
	if err != nil {
		return ep, &EngineError{Endpoint: ep, Err: err}
	}
	if ep.opts, err = full.ClientOpts(); err != nil {
		return ep, &EngineError{Endpoint: ep, Err: err}
	}
	return ep, nil
}

// ConnectTo reaches the engine at ep and checks that it answers.
func ConnectTo(ctx context.Context, ep Endpoint) (*Docker, error) {
	c, err := client.New(ep.opts...)
	if err != nil {
		return nil, &EngineError{Endpoint: ep, Err: err}
	}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &EngineError{Endpoint: ep, Err: fmt.Errorf("does not answer: %w", errors.Unwrap(err))}
	}
	return &Docker{c: c}, nil
}
