package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

func stackFile(idle ...string) *compose.Project {
	p := &compose.Project{Name: "shop", Files: []string{"/srv/shop/stack.yml"}, Services: map[string]*compose.Service{
		"api":    {Name: "api", Image: "registry.example.com/shop/api:2.0", Scale: 2, SwarmIgnored: []string{"container_name", "depends_on"}},
		"worker": {Name: "worker", Image: "registry.example.com/shop/worker:2.0", Scale: 1},
		"db":     {Name: "db", Image: "postgres:16", Scale: 1},
	}}
	for _, n := range idle {
		p.Services[n] = &compose.Service{Name: n, Image: "registry.example.com/shop/" + n + ":2.0", Scale: 0}
	}
	return p
}

func TestResolveStack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       *compose.Project
		c       Choice
		setup   string
		command string
		err     string
	}{
		{"the only service kept at replicas 0 migrates", stackFile("migrate"), Choice{Services: []string{"api"}}, "migrate", "", ""},
		{"db-setup first", stackFile("migrate", "db-setup"), Choice{Services: []string{"api"}}, "db-setup", "", ""},
		{"two idle services: none is guessed", stackFile("migrate", "seed"), Choice{Services: []string{"api"}}, "", "", ""},
		{"named", stackFile("migrate", "seed"), Choice{Services: []string{"api"}, SetupServices: []string{"seed"}}, "seed", "", ""},
		{"no setup", stackFile("migrate"), Choice{Services: []string{"api"}, NoSetup: true}, "", "", ""},
		{"the app's own image", stackFile(), Choice{Services: []string{"api"}, SetupServices: []string{"api"}, SetupCommand: "node dist/migrate.js --to 'latest'"}, "api", "node|dist/migrate.js|--to|latest", ""},
		{"unknown service", stackFile(), Choice{Services: []string{"apii"}}, "", "", `service "apii" is not in the stack file (/srv/shop/stack.yml)`},
		{"nothing named", stackFile(), Choice{}, "", "", "no service to upgrade was named"},
		{"two setup services", stackFile("migrate", "seed"), Choice{Services: []string{"api"}, SetupServices: []string{"migrate", "seed"}}, "", "", "runs one setup service"},
		{"unknown setup service", stackFile(), Choice{Services: []string{"api"}, SetupServices: []string{"migrate"}}, "", "", `setup service "migrate" is not in the stack file`},
		{"setup upgraded too", stackFile(), Choice{Services: []string{"api"}, SetupServices: []string{"api"}}, "", "", "both a service to upgrade and the setup service"},
		{"command without a setup service", stackFile(), Choice{Services: []string{"api"}, SetupCommand: "migrate"}, "", "", "--setup-command needs a setup service"},
		{"command that does not split", stackFile("migrate"), Choice{Services: []string{"api"}, SetupCommand: "migrate 'up"}, "", "", "cannot be split into words"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ResolveStack(tc.p, tc.c)
			if tc.err != "" {
				var re *RequestError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want a RequestError with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Setup != tc.setup || strings.Join(req.SetupCommand, "|") != tc.command {
				t.Errorf("setup %q command %q, want %q %q", req.Setup, req.SetupCommand, tc.setup, tc.command)
			}
		})
	}
}

func TestSwarmWarningsNameTheKeys(t *testing.T) {
	got := SwarmWarnings(stackFile(), "api", "worker", "gone")
	if len(got) != 1 || got[0] != "service api sets container_name, depends_on, which Swarm ignores (docker stack deploy drops them)" {
		t.Errorf("%q", got)
	}
}

func TestDigestOfASwarmImage(t *testing.T) {
	for ref, want := range map[string]string{
		"registry.example.com/shop/api:2.0@sha256:abc": "sha256:abc",
		"registry.example.com/shop/api:2.0":            "",
		"127.0.0.1:5000/shop/api@sha256:def":           "sha256:def",
	} {
		if got := digest(ref); got != want {
			t.Errorf("digest(%q) = %q, want %q", ref, got, want)
		}
	}
	if stackImage("") != nil {
		t.Error("no image is nil")
	}
}

// fakeEngine answers /_ping and /info as an engine in the given swarm state
// would: the last inch of the preflight, whose real counterpart (an engine
// outside any swarm, a worker) the test machine cannot be at the same time
// as the manager the end-to-end tests need.
func fakeEngine(t *testing.T, state string, manager bool) (*compose.Docker, compose.Endpoint) {
	t.Helper()
	return dockertest.FakeEngine(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/info"):
			_ = json.NewEncoder(w).Encode(map[string]any{"Swarm": map[string]any{"LocalNodeState": state, "ControlAvailable": manager, "NodeID": "n0d3", "Nodes": 3}})
		case strings.HasSuffix(r.URL.Path, "/services"):
			_, _ = w.Write([]byte("[]")) // no stack is deployed
		default:
			http.NotFound(w, r)
		}
	})
}

func TestStackPreflightWantsAManager(t *testing.T) {
	for _, tc := range []struct {
		state   string
		manager bool
		want    string
	}{
		{"inactive", false, `is not part of an active swarm (its swarm state is "inactive"), so it has no stack shop`},
		{"active", false, "is a swarm worker: only a manager can update services"},
		{"active", true, ""},
	} {
		d, ep := fakeEngine(t, tc.state, tc.manager)
		x := &Stack{Runner: &Runner{Endpoint: ep.String()}, Project: stackFile(), Name: "shop", Swarm: d.Swarm(), At: ep}
		info, err := x.manager(context.Background())
		if tc.want == "" {
			if err != nil || info.Nodes != 3 {
				t.Errorf("a manager: %v %+v", err, info)
			}
			continue
		}
		var re *RequestError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ep.Host) {
			t.Errorf("%s/%v: %v, want a RequestError naming %s with %q", tc.state, tc.manager, err, ep.Host, tc.want)
		}
	}
}

// Without its stack file a stack is what the swarm runs under its label:
// none there is a request error that says where upshift looked, and no
// state folder is made for it.
func TestDeployedStackMustBeOnTheSwarm(t *testing.T) {
	_, ep := fakeEngine(t, "active", true)
	dir := t.TempDir()
	_, err := OpenStack(context.Background(), Options{StateDir: dir, Deployed: true}, "shop")
	var re *RequestError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "no stack shop is deployed on the swarm at "+ep.String()) || !strings.Contains(re.Hint, "docker stack ls") {
		t.Fatalf("OpenStack of an undeployed stack without its file: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a state folder was made for a stack that is not there: %v", entries)
	}
}
