package scaffold

import (
	"errors"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/compose"
)

func project(services map[string]*compose.Service) *compose.Project {
	for n, s := range services {
		s.Name, s.Enabled = n, true
	}
	return &compose.Project{Name: "shop", WorkingDir: "/srv/shop", Files: []string{"/srv/shop/compose.yaml"}, Services: services}
}

func TestMake(t *testing.T) {
	db := &compose.Service{Image: "postgres:16", Healthcheck: true}
	for _, tc := range []struct {
		name      string
		p         *compose.Project
		o         Options
		services  string
		snippet   []string // in the snippet ("-" alone: no snippet)
		notes     []string
		wantError error
	}{
		{name: "the services that reach the database, not the one-shots they wait for",
			p: project(map[string]*compose.Service{"db": db,
				"api":     {Env: map[string]string{"DATABASE_URL": "postgres://shop:${DB_PASSWORD}@db:5432/shop"}, Completes: []string{"migrate"}},
				"worker":  {Env: map[string]string{"DATABASE_URL": "postgres://shop:${DB_PASSWORD}@db:5432/shop"}},
				"migrate": {Env: map[string]string{"DATABASE_URL": "x"}}}),
			services: "api,worker",
			snippet:  []string{`DATABASE_URL: "postgres://shop:${DB_PASSWORD}@db:5432/shop"`, "db:\n        condition: service_healthy", "dockerfile: db-setup.Dockerfile", "profiles: [setup]"}},
		{name: "a password in the clear is not copied",
			p: project(map[string]*compose.Service{"db": {Image: "postgres:16"},
				"api": {Env: map[string]string{"DATABASE_URL": "postgres://shop:hunter2@db:5432/shop"}}}),
			services: "api",
			snippet:  []string{`DATABASE_URL: "${DATABASE_URL}"`, "condition: service_started"},
			notes:    []string{"holds its password in the clear"}},
		{name: "nor one in a variable's default",
			p: project(map[string]*compose.Service{"db": db,
				"web": {Env: map[string]string{"DATABASE_URL": "${DATABASE_URL:-postgresql://postgres:hunter2@db:5432/postgres}"}}}),
			services: "web",
			snippet:  []string{`DATABASE_URL: "${DATABASE_URL}"`},
			notes:    []string{"holds its password in the clear"}},
		{name: "a default without a password is copied",
			p: project(map[string]*compose.Service{"db": db,
				"web": {Env: map[string]string{"DATABASE_URL": "${DATABASE_URL:-postgres://db:5432/app}"}}}),
			services: "web",
			snippet:  []string{`DATABASE_URL: "${DATABASE_URL:-postgres://db:5432/app}"`}},
		{name: "a project with its setup service keeps it",
			p: project(map[string]*compose.Service{"db": db, "db-setup": {Image: "shop/setup"},
				"api": {Env: map[string]string{"DATABASE_URL": "postgres://db/shop"}}}),
			services: "api", snippet: []string{"-"}, notes: []string{"has its setup service db-setup already"}},
		{name: "named services",
			p: project(map[string]*compose.Service{"db": db, "web": {}, "api": {Env: map[string]string{"DATABASE_URL": "postgres://db/x"}}}),
			o: Options{Services: []string{"web"}}, services: "web", snippet: []string{"DATABASE_URL: \"${DATABASE_URL}\""}},
		{name: "nothing to guess from",
			p:         project(map[string]*compose.Service{"web": {}}),
			wantError: ErrNoServices},
		{name: "a hosted runner needs secrets and a reachable health URL",
			p:        project(map[string]*compose.Service{"api": {Env: map[string]string{"DATABASE_URL": "postgres://db/x"}}}),
			o:        Options{Runner: SSH, HealthURL: "http://127.0.0.1:3000/health"},
			services: "api", notes: []string{"DEPLOY_DOCKER_HOST", "give --health-url an address it can reach"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Project, o.Migrations, o.Image, o.Action = tc.p, "/srv/shop/drizzle", "upshift:test", "upshift-dev/upshift@v1"
			plan, err := Make(o)
			if tc.wantError != nil {
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("err %v, want %v", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(plan.Services, ","); got != tc.services {
				t.Errorf("services %s, want %s", got, tc.services)
			}
			for _, w := range tc.snippet {
				if w == "-" {
					if plan.Snippet != "" {
						t.Errorf("a snippet for a project that has its setup service:\n%s", plan.Snippet)
					}
					continue
				}
				if !strings.Contains(plan.Snippet, w) {
					t.Errorf("the snippet lacks %q:\n%s", w, plan.Snippet)
				}
			}
			notes := strings.Join(plan.Notes, "\n")
			for _, w := range tc.notes {
				if !strings.Contains(notes, w) {
					t.Errorf("the notes lack %q:\n%s", w, notes)
				}
			}
			if strings.Contains(plan.Snippet+notes, "hunter2") {
				t.Error("the password written in the clear reached the output")
			}
		})
	}
}

func TestWithoutVariables(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:${PW}@db/x":             "postgres://u:variable@db/x",
		"postgres://u:$PW@db/x":               "postgres://u:variable@db/x",
		"${DATABASE_URL:-postgres://a:b@c/d}": "variable",
		"postgres://u:p$$w@db/x":              "postgres://u:p$$w@db/x",
		"postgres://u:${UNCLOSED@db/x":        "postgres://u:${UNCLOSED@db/x",
	} {
		if got := withoutVariables(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
