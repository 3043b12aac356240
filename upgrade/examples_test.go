package upgrade

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/upshift-dev/upshift/compose"
)

// The example compose project loads as compose does, and upshift plans an
// upgrade of it as documented.
func TestExampleComposeProject(t *testing.T) {
	t.Setenv("POSTGRES_PASSWORD", "example-secret-pw")
	t.Setenv("COMPOSE_PROJECT_NAME", "")
	p, err := compose.Load(context.Background(), compose.Options{WorkingDir: filepath.Join("..", "examples", "compose")})
	if err != nil {
		t.Fatal(err)
	}
	req, err := Resolve(p, Choice{Services: []string{"api", "worker"}})
	if err != nil || req.Setup != "db-setup" || !slices.Equal(req.SetupProfiles, []string{"setup"}) {
		t.Fatalf("resolve: %+v %v", req, err)
	}
	b, err := ResolveBackup(p, Backup{Dir: t.TempDir()}, req.Setup, false)
	if err != nil || b.Service != "postgres" {
		t.Errorf("backup: %+v %v", b, err)
	}
	if err := CheckRolling(p, []string{"worker"}); err != nil {
		t.Errorf("worker can roll: %v", err)
	}
	if err := CheckRolling(p, []string{"api"}); err == nil {
		t.Errorf("api publishes a fixed port and cannot roll")
	}
	if !slices.Contains(p.Secrets, "example-secret-pw") {
		t.Errorf("the database password is not known as a secret")
	}
	steps := planLines(p, Plan(p, Current{}, req))
	if got := strings.Join(steps, "\n"); !strings.Contains(got, "--profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup") || !strings.Contains(got, "up -d --no-deps --pull never api worker") {
		t.Errorf("plan:\n%s", got)
	}
}

// The manifests and workflows are valid YAML documents.
func TestExampleYAML(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*.yml"))
	more, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*.yaml"))
	files = append(append(files, more...), filepath.Join("..", "action.yml"))
	if len(files) < 5 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil || len(doc) == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
