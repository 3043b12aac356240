package upgrade

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// Health says how to tell that the new version really serves.
type Health struct {
	URL           string
	ExpectVersion string
	VersionField  string // dotted path in the JSON body; "version" by default
	Timeout       time.Duration
	Token         string // sent as a Bearer token; never printed
	// Stable is how long everything must stay good after it first is:
	// a release that answers once and then fails, or flaps, is not
	// healthy (0: the first good answer is enough).
	Stable time.Duration
}

// RequestError is a request refused before anything is touched (exit 2):
// Options name the settings at fault.
type RequestError struct {
	Msg     string
	Hint    string
	Options []string
}

func (e *RequestError) Error() string          { return e.Msg }
func (e *RequestError) ErrorHint() string      { return e.Hint }
func (e *RequestError) ErrorOptions() []string { return e.Options }

// Check refuses a health check that cannot work, before anything is
// pinned, pulled or stopped: a URL upshift cannot poll, a version without
// a URL to read it from, a window longer than the timeout.
func (h Health) Check() error {
	bad := func(msg, hint string, opts ...string) error {
		return &RequestError{Msg: msg + "; nothing was changed", Hint: hint, Options: opts}
	}
	if h.URL == "" {
		if h.ExpectVersion != "" {
			return bad("an expected version needs a health URL to read it from", "give the URL whose JSON body reports the version", "health-url")
		}
	} else {
		u, err := url.Parse(h.URL)
		switch {
		case err != nil && strings.Contains(err.Error(), "first path segment in URL cannot contain colon"):
			return bad(fmt.Sprintf("health URL %q has no scheme", h.URL), "write it as http://"+h.URL, "health-url")
		case err != nil:
			return bad(fmt.Sprintf("health URL %q is not a URL: %v", h.URL, err), "write it as http://host:port/path", "health-url")
		case u.Scheme != "http" && u.Scheme != "https":
			hint := "write it as http://host:port/path"
			if u.Scheme == "" && u.Host == "" {
				hint = "write it as http://" + strings.TrimPrefix(h.URL, "//")
			}
			if u.Scheme == "" {
				return bad(fmt.Sprintf("health URL %q has no scheme: upshift polls http:// and https:// URLs", h.URL), hint, "health-url")
			}
			return bad(fmt.Sprintf("health URL %q is %s://: upshift polls http:// and https:// URLs", h.URL, u.Scheme), hint, "health-url")
		case u.Hostname() == "":
			return bad(fmt.Sprintf("health URL %q names no host", h.URL), "write it as http://host:port/path", "health-url")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return bad(fmt.Sprintf("health URL %q has port %s, outside 1-65535", h.URL, p), "fix the port", "health-url")
			}
		}
	}
	for _, part := range strings.Split(h.field(), ".") {
		if part == "" {
			return bad(fmt.Sprintf("version field %q has an empty part", h.field()), "name it as a dotted path such as version or build.version", "version-field")
		}
	}
	if h.Stable < 0 || h.Stable >= h.timeout() {
		return bad(fmt.Sprintf("the stability window (%s) must be shorter than the health timeout (%s)", h.Stable, h.timeout()), "shorten the window or lengthen the timeout", "health-stable", "health-timeout")
	}
	return nil
}

func (h Health) describe() string {
	if h.URL == "" {
		s := "wait until the containers run (and are healthy, where a healthcheck is defined)"
		if h.Stable > 0 {
			s += ", then stay so for " + h.Stable.String()
		}
		return s
	}
	s := "poll " + h.URL + " until it answers 200"
	if h.ExpectVersion != "" {
		s += " with " + h.field() + " " + strconv.Quote(h.ExpectVersion)
	}
	s += ", within " + h.timeout().String()
	if h.Stable > 0 {
		s += ", then for " + h.Stable.String() + " without a failure"
	}
	return s
}

func (h Health) field() string {
	if h.VersionField == "" {
		return "version"
	}
	return h.VersionField
}

func (h Health) timeout() time.Duration {
	if h.Timeout <= 0 {
		return 60 * time.Second
	}
	return h.Timeout
}

// probe is one answer of the health URL.
type probe struct {
	ok      bool
	status  int
	version string
	err     error
	body    string
}

func (p probe) String() string {
	if p.err != nil {
		return p.err.Error()
	}
	s := fmt.Sprintf("HTTP %d", p.status)
	if p.version != "" {
		s += ", version " + strconv.Quote(p.version)
	}
	if p.status != http.StatusOK && p.body != "" {
		s += ": " + p.body
	}
	return s
}

func (h Health) probe(ctx context.Context, c *http.Client, wantVersion string) probe {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return probe{err: err}
	}
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return probe{err: fmt.Errorf("no answer: %s", trimErr(err))}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	p := probe{status: resp.StatusCode, body: excerpt(string(body))}
	p.version = versionAt(body, h.field())
	p.ok = resp.StatusCode == http.StatusOK && (wantVersion == "" || p.version == wantVersion)
	return p
}

// versionAt reads a dotted path (a.b.c) out of a JSON body.
func versionAt(body []byte, path string) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func trimErr(err error) string {
	s := err.Error()
	// net/http repeats the method and URL; the URL is in the message already.
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.HasPrefix(s, "Get ") {
		return s[i+2:]
	}
	return s
}

// HealthError is a verification that failed.
type HealthError struct {
	Msg string
}

func (e *HealthError) Error() string { return e.Msg }

// targets reports whether the URL's host names service: then it is checked
// against each of the service's containers at its own address (the way a
// proxy resolving the service name reaches them), not once.
func (h Health) targets(service string) bool {
	if h.URL == "" {
		return false
	}
	u, err := url.Parse(h.URL)
	return err == nil && u.Hostname() == service
}

func (x *Executor) namesAService(h Health) bool {
	for name := range x.Project.Services {
		if h.targets(name) {
			return true
		}
	}
	return false
}

// at is the URL with its host replaced by a container's address.
func (h Health) at(ip string) Health {
	u, err := url.Parse(h.URL)
	if err != nil {
		return h
	}
	if port := u.Port(); port != "" {
		u.Host = net.JoinHostPort(ip, port)
	} else {
		u.Host = ip
	}
	h.URL = u.String()
	return h
}

// verify waits until the services' containers in scope (all when scope is
// nil) run — healthy where a healthcheck is defined — and the health URL
// answers 200 (with wantVersion when set). It fails fast when a container
// exits, restarts or turns unhealthy.
func (x *Executor) verify(ctx context.Context, services []string, h Health, wantVersion string, scope func(compose.Container) bool) (string, error) {
	return x.stable(ctx, h, x.containersReady(services, h, wantVersion, scope))
}

// containersReady is the compose engine's look for the verify loop: the
// containers in scope run (healthy where a healthcheck is defined) and the
// URL answers; a container that exits, restarts or turns unhealthy ends
// the wait.
func (x *Executor) containersReady(services []string, h Health, wantVersion string, scope func(compose.Container) bool) readiness {
	restarts := map[string]int{}
	return func(ctx context.Context) (bool, string, string, error) {
		ready, lastState := true, ""
		var last probe
		perContainer := false
		for _, name := range services {
			all, err := x.Engine.Containers(ctx, x.Project.Name, name)
			if err != nil {
				return false, "", "", err
			}
			var cs []compose.Container
			for _, c := range all {
				if scope == nil || scope(c) {
					cs = append(cs, c)
				}
			}
			if len(cs) == 0 {
				ready = false
				lastState = "no container of " + name + " exists"
				continue
			}
			svc := x.Project.Services[name]
			for _, c := range cs {
				if base, ok := restarts[c.ID]; !ok {
					restarts[c.ID] = c.RestartCount
				} else if c.RestartCount > base {
					return false, "", "", &HealthError{Msg: fmt.Sprintf("container %s restarted (restart count %d)%s", c.Name, c.RestartCount, x.exitNote(ctx, name, c))}
				}
				switch {
				case c.State == "exited" || c.State == "dead":
					return false, "", "", &HealthError{Msg: fmt.Sprintf("container %s exited with code %d%s", c.Name, c.ExitCode, x.exitNote(ctx, name, c))}
				case c.State == "restarting":
					return false, "", "", &HealthError{Msg: fmt.Sprintf("container %s is restarting (it exited with code %d)%s", c.Name, c.ExitCode, x.exitNote(ctx, name, c))}
				case c.Health == "unhealthy":
					return false, "", "", &HealthError{Msg: fmt.Sprintf("container %s is unhealthy (its compose healthcheck fails)%s", c.Name, x.exitNote(ctx, name, c))}
				case !c.Running():
					ready = false
					lastState = fmt.Sprintf("container %s is %s", c.Name, c.State)
				case svc != nil && svc.Healthcheck && c.Health != "healthy":
					ready = false
					lastState = fmt.Sprintf("container %s is %s (healthcheck)", c.Name, c.Health)
				case ready && h.targets(name):
					perContainer = true
					if len(c.IPs) == 0 {
						ready = false
						lastState = fmt.Sprintf("container %s has no address yet", c.Name)
						continue
					}
					last = h.at(c.IPs[0]).probe(ctx, x.httpClient(), wantVersion)
					if !last.ok {
						ready = false
						lastState = probeState(h.at(c.IPs[0]).URL+" ("+c.Name+")", last, wantVersion)
					}
				}
			}
		}
		// A URL naming another service is that service's check, not these.
		if ready && h.URL != "" && !perContainer && !x.namesAService(h) {
			last = h.probe(ctx, x.httpClient(), wantVersion)
			if !last.ok {
				ready = false
				lastState = probeState(h.URL, last, wantVersion)
			}
		}
		if !ready {
			return false, lastState, "", nil
		}
		switch {
		case h.URL == "" || (!perContainer && x.namesAService(h)):
			return true, "", "running", nil
		case last.version != "":
			return true, "", fmt.Sprintf("%s: 200, version %s", h.URL, last.version), nil
		}
		return true, "", h.URL + ": 200", nil
	}
}

// readiness is one look at what a verify waits for, per engine: ready (and
// what answered), else why not; an error ends the wait at once (a
// container that exited or restarted).
type readiness func(ctx context.Context) (ready bool, state, answer string, err error)

// stable is the one verify loop of both engines: it looks until look is
// ready, then for h.Stable more (0: the first good look is enough), every
// look good; one bad look after a good one fails ("not stable"), and so
// does no good look within h.timeout(). The first look only sets
// baselines (restart counts): what is up on it must still be up on the
// second. Looks back off from 100 ms to 2 s, and are 250 ms apart once
// good, so that a flap shows.
func (x *Runner) stable(ctx context.Context, h Health, look readiness) (string, error) {
	deadline := x.now().Add(h.timeout())
	wait := 100 * time.Millisecond
	lastState := ""
	first := true
	var goodSince time.Time // the first good look; Stable is counted from it
	for {
		ready, state, answer, err := look(ctx)
		if err != nil {
			return "", err
		}
		if !ready {
			lastState = state
			if !goodSince.IsZero() {
				return "", &HealthError{Msg: fmt.Sprintf("not stable: good at first, then within %s: %s", x.now().Sub(goodSince).Round(time.Millisecond), state)}
			}
		}
		if ready && !first && h.Stable > 0 && goodSince.IsZero() {
			goodSince = x.now()
		}
		if ready && !first && (h.Stable <= 0 || x.now().Sub(goodSince) >= h.Stable) {
			return answer, nil
		}
		first = false
		if goodSince.IsZero() && x.now().After(deadline) {
			return "", &HealthError{Msg: fmt.Sprintf("not healthy within %s: %s", h.timeout(), cmp.Or(lastState, "no answer"))}
		}
		if !goodSince.IsZero() {
			wait = min(wait, 250*time.Millisecond) // a flap shows between looks
		}
		if err := x.wait(ctx, wait); err != nil {
			return "", err
		}
		if goodSince.IsZero() {
			wait = min(wait*3/2, 2*time.Second)
		}
	}
}

func probeState(url string, p probe, wantVersion string) string {
	if p.status == http.StatusOK && wantVersion != "" {
		return fmt.Sprintf("%s answered version %q, expected %q", url, p.version, wantVersion)
	}
	return url + " answered " + p.String()
}

// exitNote adds the last lines a failed container printed.
func (x *Executor) exitNote(ctx context.Context, service string, c compose.Container) string {
	var lines []string
	_ = x.Compose.Logs(ctx, compose.LogsOptions{Services: []string{service}, Tail: 5}, func(l string) { lines = append(lines, x.redact(l)) })
	if len(lines) == 0 {
		return ""
	}
	return "; its last output: " + strings.Join(lines, " / ")
}

func (x *Runner) httpClient() *http.Client {
	if x.HTTP != nil {
		return x.HTTP
	}
	return &http.Client{Timeout: 3 * time.Second}
}
