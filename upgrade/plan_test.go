package upgrade

import (
	"errors"
	"slices"
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
			"nothing":   {Name: "nothing", Enabled: true, Scale: 1},
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
		{"service with neither image nor build", []string{"nothing"}, "", false, `service "nothing" has neither an image nor a build`, ""},
		{"setup that never exits", []string{"mana-auth"}, "db", false, "`restart: always`", ""},
		{"unknown setup", []string{"mana-auth"}, "migrate", false, `setup service "migrate" is not defined`, ""},
		{"setup upgraded as a service", []string{"mana-auth"}, "mana-auth", false, "is a setup service", ""},
		{"no service", nil, "", false, "no service to upgrade was named", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Resolve(project(), Choice{Services: tc.services, SetupServices: nonEmpty(tc.setup), NoSetup: tc.noSetup})
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
	req, err := Resolve(p, Choice{Services: []string{"mana-auth"}})
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
		{"migrate first", func(r *Request) { r.Strategy = MigrateFirst }, []string{
			"pin",
			"pull: " + base + " --profile setup pull mana-auth worker db-setup",
			"gate: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup --dry-run",
			"setup: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup",
			// Migrated already: up replaces the containers in one move.
			"start: " + base + " up -d --no-deps --pull never mana-auth worker",
			"verify",
		}},
		{"rolling", func(r *Request) { r.Strategy = Rolling }, []string{
			"pin",
			"pull: " + base + " --profile setup pull mana-auth worker db-setup",
			"gate: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup --dry-run",
			"setup: " + base + " --profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup",
			"roll: " + base + " up -d --no-deps --no-recreate --pull never --scale mana-auth=4 mana-auth",
			"roll: " + base + " up -d --no-deps --no-recreate --pull never --scale worker=1 worker", // none runs: its scale, not twice it
		}},
		{"rolling without setup", func(r *Request) {
			r.Strategy, r.Setup, r.SetupProfiles, r.Pull = Rolling, "", nil, []string{"mana-auth", "worker"}
		}, []string{
			"pin",
			"pull: " + base + " pull mana-auth worker",
			"roll: " + base + " up -d --no-deps --no-recreate --pull never --scale mana-auth=4 mana-auth",
			"roll: " + base + " up -d --no-deps --no-recreate --pull never --scale worker=1 worker", // none runs: its scale, not twice it
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Resolve(p, Choice{Services: []string{"mana-auth", "worker"}})
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

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// The setup steps come from the compose file: the one-shots the services
// wait for, transitively, dependencies first (hatchet's shape); the build
// or pull of each service follows compose's pull_policy unless forced.
func TestResolveChainsAndBuilds(t *testing.T) {
	p := &compose.Project{Name: "hatchet", WorkingDir: "/srv/h", Files: []string{"/srv/h/compose.yaml"}, Services: map[string]*compose.Service{
		"postgres":     {Name: "postgres", Image: "postgres:15", Restart: "always", Enabled: true},
		"rabbitmq":     {Name: "rabbitmq", Image: "rabbitmq:3", Enabled: true},
		"migration":    {Name: "migration", Image: "hatchet-migrate:latest", DependsOn: []string{"postgres"}, Enabled: true},
		"setup-config": {Name: "setup-config", Image: "hatchet-admin:latest", DependsOn: []string{"migration", "postgres", "rabbitmq"}, Completes: []string{"migration"}, Enabled: true},
		"engine":       {Name: "engine", Image: "hatchet-engine:latest", Build: true, DependsOn: []string{"migration", "setup-config"}, Completes: []string{"migration", "setup-config"}, Enabled: true},
		"dashboard":    {Name: "dashboard", Image: "hatchet-dashboard:latest", PullPolicy: "always", Build: true, DependsOn: []string{"setup-config"}, Completes: []string{"setup-config"}, Enabled: true},
		"local":        {Name: "local", Image: "local:dev", PullPolicy: "never", Enabled: true},
	}}
	for _, tc := range []struct {
		name                      string
		c                         Choice
		setup, after, pull, build string
	}{
		{"chain from the file", Choice{Services: []string{"engine"}}, "migration", "setup-config", "migration,setup-config", "engine"},
		{"shared chain once", Choice{Services: []string{"engine", "dashboard"}}, "migration", "setup-config", "dashboard,migration,setup-config", "engine"},
		{"named explicitly", Choice{Services: []string{"dashboard"}, SetupServices: []string{"setup-config"}}, "setup-config", "", "dashboard,setup-config", ""},
		{"no setup", Choice{Services: []string{"engine"}, NoSetup: true}, "", "", "", "engine"},
		{"--pull", Choice{Services: []string{"engine"}, NoSetup: true, Pull: true}, "", "", "engine", ""},
		{"--build", Choice{Services: []string{"dashboard"}, NoSetup: true, Build: true}, "", "", "", "dashboard"},
		{"pull_policy never", Choice{Services: []string{"local"}, NoSetup: true}, "", "", "", ""},
		{"migrations through the app's image", Choice{Services: []string{"engine"}, SetupServices: []string{"engine"}, SetupCommand: "/hatchet/migrate --up 'all of them'"}, "engine", "", "", "engine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Resolve(p, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			sorted := func(s []string) string { s = slices.Clone(s); slices.Sort(s); return strings.Join(s, ",") }
			if req.Setup != tc.setup || strings.Join(req.SetupAfter, ",") != tc.after || sorted(req.Pull) != tc.pull || sorted(req.Build) != tc.build {
				t.Errorf("setup %q after %v pull %v build %v", req.Setup, req.SetupAfter, req.Pull, req.Build)
			}
		})
	}
	req, _ := Resolve(p, Choice{Services: []string{"engine"}})
	got := planLines(p, Plan(p, Current{}, req))
	base := "docker compose -f /srv/h/compose.yaml -p hatchet --project-directory /srv/h"
	want := []string{
		"pin",
		"pull: " + base + " pull migration setup-config",
		"build: " + base + " build engine",
		"stop: " + base + " stop engine",
		"setup: " + base + " run --rm -T -e UPSHIFT_RESULT=line migration",
		"setup: " + base + " up -d --no-recreate --wait --pull never postgres rabbitmq: " + base + " run --rm -T --no-deps setup-config",
		"start: " + base + " up -d --no-deps --pull never engine",
		"verify",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Several services built: one compose build.
	req, _ = Resolve(p, Choice{Services: []string{"engine", "dashboard"}, NoSetup: true, Build: true})
	builds := 0
	for _, l := range planLines(p, Plan(p, Current{}, req)) {
		if strings.HasPrefix(l, "build: ") {
			builds++
			if !strings.HasSuffix(l, " build engine dashboard") {
				t.Errorf("build %s", l)
			}
		}
	}
	if builds != 1 {
		t.Errorf("%d build steps", builds)
	}
	req, _ = Resolve(p, Choice{Services: []string{"engine"}, SetupServices: []string{"engine"}, SetupCommand: "/hatchet/migrate --up 'all of them'"})
	if v := SetupVerb(req); strings.Join(compose.Argv(nil, v), " ") != "run --rm -T --no-deps -e UPSHIFT_RESULT=line engine /hatchet/migrate --up all of them" || len(v.Command) != 3 {
		t.Errorf("setup command: %v", compose.Argv(nil, v))
	}
	for _, c := range []Choice{
		{Services: []string{"engine"}, SetupServices: []string{"engine"}},
		{Services: []string{"engine"}, NoSetup: true, SetupCommand: "migrate"},
		{Services: []string{"local"}, SetupServices: []string{"postgres"}},
	} {
		if _, err := Resolve(p, c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// Two services that share one build section and image (a YAML anchor for
// web and worker) are built once.
func TestSharedBuildIsBuiltOnce(t *testing.T) {
	p := project()
	p.Services["web"] = &compose.Service{Name: "web", Image: "shop/app:local", Build: true, BuildKey: ".\x00Dockerfile", Enabled: true, Scale: 1}
	p.Services["worker"] = &compose.Service{Name: "worker", Image: "shop/app:local", Build: true, BuildKey: ".\x00Dockerfile", Enabled: true, Scale: 1}
	p.Services["other"] = &compose.Service{Name: "other", Image: "shop/other:local", Build: true, BuildKey: ".\x00Dockerfile", Enabled: true, Scale: 1}
	req, err := Resolve(p, Choice{Services: []string{"web", "worker", "other"}, NoSetup: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(req.Build, ","); got != "web,other" {
		t.Errorf("built %s, want web,other (worker shares web's build and image)", got)
	}
	for _, st := range Plan(p, Current{}, req) {
		if st.Name == StepBuild && !strings.Contains(st.What, "worker shares web's build and image") {
			t.Errorf("the build step does not say worker shares web's: %s", st.What)
		}
	}
}

// Where no setup step, or several, look like migrations, the plan says
// so and names --setup-service; a permissions step the migration waits
// for is its dependency, not the migration.
func TestMigratingStepOfAChain(t *testing.T) {
	svc := func(name string, command []string, completes ...string) *compose.Service {
		return &compose.Service{Name: name, Image: "x/" + name + ":1", Command: command, Completes: completes, Enabled: true, Scale: 1}
	}
	for _, tc := range []struct {
		name     string
		services []*compose.Service
		setup    string
		before   string
		note     string
	}{
		{"perms before the migration", []*compose.Service{svc("perms", []string{"chmod", "-R", "777", "/mnt/data"}), svc("app-migrate", []string{"migrate", "sql", "-e", "--yes"}, "perms"), svc("app", nil, "app-migrate")}, "app-migrate", "perms", ""},
		{"alembic", []*compose.Service{svc("init", []string{"alembic", "upgrade", "head"}), svc("app", nil, "init")}, "init", "", ""},
		{"none migrates", []*compose.Service{svc("perms", []string{"chmod", "-R", "777", "/data"}), svc("app", nil, "perms")}, "perms", "", "no setup step (perms) looks like a migration"},
		{"several migrate", []*compose.Service{svc("a", []string{"migrate", "up"}), svc("b", []string{"npm", "run", "db:migrate"}, "a"), svc("app", nil, "b")}, "a", "", "several setup steps look like migrations (a, b)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &compose.Project{Name: "shop", Services: map[string]*compose.Service{}}
			for _, s := range tc.services {
				p.Services[s.Name] = s
			}
			req, err := Resolve(p, Choice{Services: []string{"app"}})
			if err != nil {
				t.Fatal(err)
			}
			warnings := strings.Join(req.Warnings, "\n")
			if req.Setup != tc.setup || strings.Join(req.SetupBefore, ",") != tc.before || tc.note != "" && (!strings.Contains(warnings, tc.note) || !strings.Contains(warnings, "--setup-service")) {
				t.Errorf("setup %q before %v warnings %q; want setup %q before %q note %q", req.Setup, req.SetupBefore, warnings, tc.setup, tc.before, tc.note)
			}
		})
	}
}
