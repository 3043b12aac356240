package upgrade

import (
	"errors"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/migrate/result"
)

func project() *compose.Project {
	return &compose.Project{
		Name: "mana", WorkingDir: "/srv/mana", Files: []string{"/srv/mana/compose.yaml"},
		Services: map[string]*compose.Service{
			"mana-auth": {Name: "mana-auth", Image: "ghcr.io/mana/auth:latest", Enabled: true, Scale: 1},
			"worker":    {Name: "worker", Image: "ghcr.io/mana/worker:latest", Enabled: true, Scale: 1},
			"builder":   {Name: "builder", Build: true, Enabled: true, Scale: 1},
			"db":        {Name: "db", Image: "postgres:15", Restart: "always", Enabled: true, Scale: 1},
			"db-setup":  {Name: "db-setup", Image: "ghcr.io/mana/db-setup:latest", Profiles: []string{"setup"}, Scale: 1},
		},
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name     string
		services []string
		setup    string
		noSetup  bool
		want     string // error substring, or "" for success
		setupIs  string
	}{
		{"default setup service under its profile", []string{"mana-auth"}, "", false, "", "db-setup"},
		{"no setup", []string{"mana-auth", "worker"}, "", true, "", ""},
		{"unknown service", []string{"mana-ath"}, "", false, `service "mana-ath" is not defined`, ""},
		{"build-only service", []string{"builder"}, "", false, `service "builder" has no image`, ""},
		{"setup that never exits", []string{"mana-auth"}, "db", false, "`restart: always`", ""},
		{"unknown setup", []string{"mana-auth"}, "migrate", false, `setup service "migrate" is not defined`, ""},
		{"setup upgraded as a service", []string{"db-setup"}, "", false, "is the setup service", ""},
		{"no service", nil, "", false, "no service to upgrade was named", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Resolve(project(), tc.services, tc.setup, tc.noSetup)
			if tc.want != "" {
				var pe *compose.ProjectError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want a ProjectError with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Setup != tc.setupIs {
				t.Errorf("setup %q, want %q", req.Setup, tc.setupIs)
			}
			if tc.setupIs == "db-setup" && strings.Join(req.SetupProfiles, ",") != "setup" {
				t.Errorf("setup profiles %v, want [setup]", req.SetupProfiles)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	p := project()
	req, err := Resolve(p, []string{"mana-auth"}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	req.Health = Health{URL: "http://127.0.0.1:3000/v1/health/ready", ExpectVersion: "2.4.0"}
	cur := Current{"mana-auth": {{ID: "c1", Name: "mana-mana-auth-1", Service: "mana-auth", Image: "ghcr.io/mana/auth:latest", ImageID: "sha256:aaaaaaaaaaaaaaaaaaaa", State: "running"}}}
	steps := Plan(p, cur, req)
	got := planLines(p, steps)
	base := "docker compose -f /srv/mana/compose.yaml -p mana --project-directory /srv/mana"
	want := []string{
		"pin",
		"pull: " + base + " --profile setup pull mana-auth db-setup",
		"stop: " + base + " stop mana-auth",
		"setup: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup",
		"start: " + base + " up -d --no-deps --pull never mana-auth",
		"verify",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(steps[0].What, "mana-auth aaaaaaaaaaaa") {
		t.Errorf("pin step should name the running image: %s", steps[0].What)
	}
	if !strings.Contains(steps[5].What, `version "2.4.0"`) {
		t.Errorf("verify step: %s", steps[5].What)
	}
}

func TestOverride(t *testing.T) {
	got := string(Override("20261122T010203Z-abcd", map[string]string{"worker": "upshift.local/mana/worker:x", "mana-auth": "upshift.local/mana/mana-auth:x"}))
	want := "services:\n  \"mana-auth\":\n    image: \"upshift.local/mana/mana-auth:x\"\n  \"worker\":\n    image: \"upshift.local/mana/worker:x\"\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("override:\n%s", got)
	}
}

func TestPinRef(t *testing.T) {
	if got := PinRef("Mana_Prod", "Auth.API", "20261122T010203Z-abcd"); got != "upshift.local/mana_prod/auth.api:20261122T010203Z-abcd" {
		t.Errorf("%s", got)
	}
	if got := PinRepository("mana", "mana-auth"); got != "upshift.local/mana/mana-auth" {
		t.Errorf("%s", got)
	}
}

func TestVersionAt(t *testing.T) {
	for _, tc := range []struct{ body, path, want string }{
		{`{"version":"2.4.0"}`, "version", "2.4.0"},
		{`{"info":{"build":{"version":"2.4.0"}}}`, "info.build.version", "2.4.0"},
		{`{"version":3}`, "version", "3"},
		{`{"version":null}`, "version", ""},
		{`not json`, "version", ""},
		{`{"info":"x"}`, "info.version", ""},
	} {
		if got := versionAt([]byte(tc.body), tc.path); got != tc.want {
			t.Errorf("versionAt(%s, %s) = %q, want %q", tc.body, tc.path, got, tc.want)
		}
	}
}

func planLines(p *compose.Project, steps []Step) []string {
	cli := &compose.CLI{Project: p}
	var got []string
	for _, s := range steps {
		line := s.Name
		for _, v := range s.Verbs {
			line += ": " + cli.Command(v)
		}
		got = append(got, line)
	}
	return got
}

func TestPlanStrategies(t *testing.T) {
	p := project()
	base := "docker compose -f /srv/mana/compose.yaml -p mana --project-directory /srv/mana"
	running := func(id string) compose.Container {
		return compose.Container{ID: id, Service: "mana-auth", State: "running", ImageID: "sha256:" + id}
	}
	cur := Current{"mana-auth": {running("a"), running("b")}, "worker": {}}
	for _, tc := range []struct {
		name string
		req  func(*Request)
		want []string
	}{
		{"migrate first", func(r *Request) { r.MigrateFirst = true }, []string{
			"pin",
			"pull: " + base + " --profile setup pull mana-auth worker db-setup",
			"gate: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup --dry-run --format json",
			"setup: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup",
			"stop: " + base + " stop mana-auth worker",
			"start: " + base + " up -d --no-deps --pull never mana-auth worker",
			"verify",
		}},
		{"rolling", func(r *Request) { r.Strategy = Rolling }, []string{
			"pin",
			"pull: " + base + " --profile setup pull mana-auth worker db-setup",
			"gate: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup --dry-run --format json",
			"setup: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup",
			"roll: " + base + " up -d --no-deps --no-recreate --pull never --scale mana-auth=4 mana-auth",
			"roll: " + base + " up -d --no-deps --no-recreate --pull never --scale worker=2 worker",
		}},
		{"rolling without setup", func(r *Request) { r.Strategy, r.Setup, r.SetupProfiles = Rolling, "", nil }, []string{
			"pin",
			"pull: " + base + " pull mana-auth worker",
			"roll: " + base + " up -d --no-deps --no-recreate --pull never --scale mana-auth=4 mana-auth",
			"roll: " + base + " up -d --no-deps --no-recreate --pull never --scale worker=2 worker",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Resolve(p, []string{"mana-auth", "worker"}, "", false)
			if err != nil {
				t.Fatal(err)
			}
			tc.req(&req)
			got := planLines(p, Plan(p, cur, req))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("plan\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCheckRolling(t *testing.T) {
	p := project()
	p.Services["mana-auth"].FixedPorts = []string{"3000"}
	p.Services["worker"].ContainerName = "mana-worker"
	if err := CheckRolling(p, []string{"mana-auth"}); err == nil || !strings.Contains(err.Error(), "publishes host port 3000") {
		t.Errorf("fixed port: %v", err)
	}
	if err := CheckRolling(p, []string{"worker"}); err == nil || !strings.Contains(err.Error(), `container_name "mana-worker"`) {
		t.Errorf("container_name: %v", err)
	}
	p.Services["mana-auth"].FixedPorts = nil
	if err := CheckRolling(p, []string{"mana-auth"}); err != nil {
		t.Errorf("a service without fixed ports: %v", err)
	}
}

func TestBreakingErrorNamesEachStatement(t *testing.T) {
	be := &BreakingError{Findings: []result.Finding{{Rule: "drop-column", File: "/drizzle/0007_drop_legacy.sql", Line: 1, Column: 1, Statement: "ALTER TABLE users DROP COLUMN legacy", Breaking: true}}}
	if msg := be.Error(); !strings.Contains(msg, "/drizzle/0007_drop_legacy.sql:1:1: drop-column: ALTER TABLE users DROP COLUMN legacy") {
		t.Errorf("%s", msg)
	}
}
