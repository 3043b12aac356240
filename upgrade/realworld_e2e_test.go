package upgrade_test

// The dry-run plans of the real deployments in ../shared/realworld/compose,
// with their example env files, as a new user would first try upshift on
// them: the right setup steps, pulls and strategy, read by people — names,
// paths and commands intact although their example passwords are the
// projects' own names, and a strong secret nowhere.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
	"github.com/upshift-dev/upshift/internal/harness/realworld"
)

// deployment copies a real project's files (read-only in ../shared) into a
// folder named as its project would be, the example env file as .env.
func deployment(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for dst, src := range files {
		b, err := os.ReadFile(realworld.Path(t, "compose", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRealDeploymentsDryRun(t *testing.T) {
	dockertest.Require(t)
	bins := dockertest.Build(t)
	for _, tc := range []struct {
		name, project string
		files         map[string]string
		env           []string
		services      []string
		args          []string
		want          []string // in this order in the output
		strong        string   // a secret that must appear nowhere
		weak          string   // the variable the weak-secret warning names
	}{
		{name: "hatchet", project: "hatchet", files: map[string]string{"docker-compose.yml": "hatchet/docker-compose.yml"},
			services: []string{"hatchet-engine"},
			want: []string{"strategy: stop-start", "nothing shows that the setup step migration runs upshift migrate (it runs `/hatchet/hatchet-migrate`",
				"pull the new images of hatchet-engine, migration, setup-config", "-p hatchet ", "pull hatchet-engine migration setup-config",
				"→ stop     stop hatchet-engine",
				"→ setup    run migration once", "→ setup    run setup-config once", "up -d --no-recreate --wait --pull never postgres rabbitmq", "run --rm -T --no-deps setup-config",
				"→ start    start hatchet-engine on the new images", "up -d --no-deps --pull never hatchet-engine"},
			weak: "POSTGRES_PASSWORD of service postgres"},
		{name: "infisical", project: "infisical", files: map[string]string{"docker-compose.prod.yml": "infisical/docker-compose.prod.yml", ".env": "infisical/.env.example"},
			services: []string{"backend"}, args: []string{"-f", "docker-compose.prod.yml"},
			want: []string{"strategy: stop-start", "(it runs `npm run migration:latest`", "-f " /* the path follows */, "docker-compose.prod.yml -p infisical ",
				"pull backend db-migration", "→ stop     stop backend", "→ setup    run db-migration once", "up -d --no-deps --pull never backend"},
			strong: "5lrMXKKWCVocS/uerPsl7V+TX/aaUaI7iDkgl3tSmLE=", weak: "POSTGRES_PASSWORD"},
		{name: "trigger.dev", project: "trigger", files: map[string]string{"docker-compose.yml": "trigger.dev/webapp/docker-compose.yml", ".env": "trigger.dev/.env.example"},
			env:      []string{"POSTGRES_PASSWORD=Pg-0c9f3e1a7b", "CLICKHOUSE_PASSWORD=Ch-5d2a8e4f61", "OBJECT_STORE_SECRET_ACCESS_KEY=Os-7e1b3c9d20"},
			services: []string{"webapp"},
			want:     []string{"strategy: stop-start", "webapp publishes host port 8030", "no setup step", "pull webapp", "→ stop     stop webapp", "up -d --no-deps --pull never webapp"},
			strong:   "Pg-0c9f3e1a7b"},
		{name: "langfuse", project: "langfuse", files: map[string]string{"docker-compose.yml": "langfuse/docker-compose.yml", ".env": "langfuse/.env.prod.example"},
			services: []string{"langfuse-web", "langfuse-worker"},
			want:     []string{"strategy: stop-start", "no setup step", "pull langfuse-web langfuse-worker", "→ stop     stop langfuse-web, langfuse-worker", "up -d --no-deps --pull never langfuse-web langfuse-worker"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := deployment(t, tc.project, tc.files)
			args := append([]string{"upgrade", "--dry-run"}, tc.args...)
			for _, s := range tc.services {
				args = append(args, "--service", s)
			}
			r := dockertest.RunUpshift(t, bins, dir, append(tc.env, "UPSHIFT_STATE_DIR="+t.TempDir()), args...)
			if r.Code != 0 {
				t.Fatalf("%s", r)
			}
			out := r.Stderr + r.Stdout // notes on stderr come first
			at := 0
			for _, w := range tc.want {
				i := strings.Index(out[at:], w)
				if i < 0 {
					t.Errorf("%q missing (after offset %d):\n%s", w, at, out)
					break
				}
				at += i + len(w)
			}
			if strings.Contains(r.Stdout, "xxxxx") {
				t.Errorf("names garbled by redaction:\n%s", r.Stdout)
			}
			if tc.strong != "" && strings.Contains(out, tc.strong) {
				t.Errorf("a strong secret was printed:\n%s", out)
			}
			if tc.weak != "" && !strings.Contains(r.Stderr, "warning: the value of "+tc.weak) {
				t.Errorf("no weak-secret warning naming %s:\n%s", tc.weak, r.Stderr)
			}
		})
	}
	// trigger.dev's example leaves required secrets empty: refused, naming one.
	dir := deployment(t, "trigger", map[string]string{"docker-compose.yml": "trigger.dev/webapp/docker-compose.yml", ".env": "trigger.dev/.env.example"})
	r := dockertest.RunUpshift(t, bins, dir, []string{"UPSHIFT_STATE_DIR=" + t.TempDir()}, "upgrade", "--dry-run", "--service", "webapp")
	if r.Code != 2 || !strings.Contains(r.Stderr, "Set ") || !strings.Contains(r.Stderr, "in .env") {
		t.Errorf("required variables: %s", r)
	}
}
