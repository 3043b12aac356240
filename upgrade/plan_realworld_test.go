package upgrade

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/internal/harness/realworld"
)

// TestUnchainedMigrationsOfRealProjects: ory/kratos's kratos-migrate (a
// plain depends_on) and Kong's kong-migrations (behind a profile) are
// migration steps that nothing waits for: upgrading the app names them and
// the --setup-service to use instead of leaving them out silently.
func TestUnchainedMigrationsOfRealProjects(t *testing.T) {
	for _, tc := range []struct {
		name, file, service string
		want                []string
	}{
		{"kratos", "kratos/quickstart.yml", "kratos", []string{"kratos-migrate looks like a migration step (its command `-c /etc/config/kratos/kratos.yml migrate sql -e --yes`)", "--setup-service kratos-migrate"}},
		{"kong", "kong/compose/docker-compose.yml", "kong", []string{"kong-migrations looks like a migration step", "--setup-service kong-migrations", "--setup-service kong-migrations-up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := realworld.Path(t, "compose", tc.file)
			p, err := compose.Load(context.Background(), compose.Options{Files: []string{path}, WorkingDir: filepath.Dir(path), ProjectName: tc.name})
			if err != nil {
				t.Fatal(err)
			}
			req, err := Resolve(p, Choice{Services: []string{tc.service}})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(req.Warnings, "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("warnings lack %q:\n%s", w, got)
				}
			}
			if req.Setup != "" {
				t.Errorf("a setup step was chosen (%s) where nothing waits for one", req.Setup)
			}
		})
	}
}

// TestMigrationsLabel: the setup step is called "(migrations)" only when
// it plainly migrates.
func TestMigrationsLabel(t *testing.T) {
	p := &compose.Project{Name: "shop", Services: map[string]*compose.Service{
		"api":   {Name: "api", Image: "shop/api", Enabled: true, Scale: 1, Completes: []string{"chown"}},
		"chown": {Name: "chown", Image: "busybox", Enabled: true, Scale: 1, Command: []string{"chown", "-R", "1000", "/data"}},
	}}
	req, err := Resolve(p, Choice{Services: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	if steps := setupSteps(p, req); len(steps) != 1 || strings.Contains(steps[0].What, "migrations") {
		t.Errorf("a chown one-shot is described as %+v", steps)
	}
	p.Services["chown"].Command = []string{"npm", "run", "migration:latest"}
	if steps := setupSteps(p, req); !strings.Contains(steps[0].What, "(migrations)") {
		t.Errorf("a migrating one-shot is described as %q", steps[0].What)
	}
}
