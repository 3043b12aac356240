package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/ghworkflow"
	"github.com/upshift-dev/upshift/internal/harness/realworld"
)

// initProject lays out a project for init: the compose file(s) of src
// (a file, or a folder whose files are copied), a drizzle-kit folder and
// its drizzle.config.ts.
func initProject(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
	} else {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeFile(filepath.Join(dir, filepath.Base(src)), string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "drizzle"), os.DirFS(goldenDir("v0-journal"))); err != nil {
		t.Fatal(err)
	}
	cfg := "import { defineConfig } from \"drizzle-kit\";\nexport default defineConfig({ dialect: \"postgresql\", out: \"./drizzle\", dbCredentials: { url: process.env.DATABASE_URL! } });\n"
	if err := writeFile(filepath.Join(dir, "drizzle.config.ts"), cfg); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestInitWritesWhatIsMissing: on the examples' deployment and on real
// compose deployments, init writes a Dockerfile and two workflows that
// parse as GitHub reads them, prints a db-setup service that docker
// compose accepts merged with the project's files, and a second init
// writes nothing; --dry-run writes nothing, --force names what it replaces.
func TestInitWritesWhatIsMissing(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		files     []string // -f
		args      []string
		services  string // the workflows' upgrade
		hasSetup  bool   // the project has its db-setup service
		clear     string // a password the compose file writes in the clear ("" none)
	}{
		{"examples", "", []string{"compose.yaml"}, nil, "--service api --service worker", true, ""},
		{"hatchet", "hatchet", []string{"docker-compose.yml"}, nil, "--service hatchet-dashboard --service hatchet-engine", false, "hatchet:hatchet@"},
		{"langfuse", "langfuse", []string{"docker-compose.yml"}, []string{"--runner", "ssh", "--health-url", "https://langfuse.example.com/api/public/health"}, "--service langfuse-web --service langfuse-worker", false, "postgres:postgres@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dir string
			if tc.src == "" {
				dir = initProject(t, filepath.Join("..", "..", "examples", "compose", "compose.yaml"))
			} else {
				dir = initProject(t, realworld.Path(t, "compose", tc.src))
			}
			args := append([]string{"init"}, tc.args...)
			for _, f := range tc.files {
				args = append(args, "-f", filepath.Join(dir, f))
			}
			dry := upshiftIn(t, dir, nil, append(args, "--dry-run")...)
			if dry.code != 0 || !strings.Contains(dry.stdout, "--- .github/workflows/deploy.yml") {
				t.Fatalf("init --dry-run: %v", dry)
			}
			if _, err := os.Stat(filepath.Join(dir, ".github")); err == nil {
				t.Fatal("--dry-run wrote files")
			}
			r := upshiftIn(t, dir, nil, args...)
			if r.code != 0 {
				t.Fatalf("init: %v", r)
			}
			if tc.clear != "" && strings.Contains(r.stdout+r.stderr+dry.stdout, tc.clear) {
				t.Errorf("init printed the password the compose file writes in the clear (%s):\n%s", tc.clear, r.stdout)
			}
			for _, f := range []string{".github/workflows/deploy.yml", ".github/workflows/rollback.yml"} {
				if !strings.Contains(r.stdout, "wrote     "+f) {
					t.Errorf("init did not say it wrote %s:\n%s", f, r.stdout)
				}
			}
			deploy, err := ghworkflow.Read(filepath.Join(dir, ".github/workflows/deploy.yml"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ghworkflow.Read(filepath.Join(dir, ".github/workflows/rollback.yml")); err != nil {
				t.Fatal(err)
			}
			runs := deploy.Runs("deploy")
			last := runs[len(runs)-1].Run
			if !strings.Contains(last, "upshift upgrade") || !strings.Contains(last, tc.services) {
				t.Errorf("the deploy workflow runs %q, want an upgrade of %s", last, tc.services)
			}
			if tc.hasSetup {
				// Its own db-setup stays as it is: no Dockerfile, no snippet.
				if strings.Contains(r.stdout, "db-setup.Dockerfile") || strings.Contains(r.stdout, "init does not edit it") || !strings.Contains(r.stdout, "has its setup service db-setup already") {
					t.Errorf("init on a project with its db-setup:\n%s", r.stdout)
				}
				return
			}
			df, _ := os.ReadFile(filepath.Join(dir, "db-setup.Dockerfile"))
			if !strings.Contains(r.stdout, "wrote     db-setup.Dockerfile") || !strings.Contains(string(df), "COPY drizzle /drizzle") {
				t.Errorf("the Dockerfile does not copy the project's migrations:\n%s", df)
			}

			// The printed service, merged with the project's files, is a
			// project docker compose accepts.
			_, snippet, ok := strings.Cut(r.stdout, "(init does not edit it):\n\n")
			if !ok {
				t.Fatalf("no compose snippet printed:\n%s", r.stdout)
			}
			snippet, _, _ = strings.Cut(snippet, "\nnote: ")
			if err := writeFile(filepath.Join(dir, "db-setup.snippet.yaml"), snippet); err != nil {
				t.Fatal(err)
			}
			cfg := []string{"compose"}
			for _, f := range tc.files {
				cfg = append(cfg, "-f", f)
			}
			cfg = append(cfg, "-f", "db-setup.snippet.yaml", "--profile", "setup", "config", "--services")
			cmd := exec.Command("docker", cfg...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "POSTGRES_PASSWORD=x", "DATABASE_URL=postgres://u:p@db/x")
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "db-setup") {
				if _, lerr := exec.LookPath("docker"); lerr != nil && os.Getenv("CI") == "" {
					t.Skip("no docker CLI here to check the snippet with")
				}
				t.Errorf("docker compose config with the snippet: %v\n%s\n%s", err, out, snippet)
			}

			again := upshiftIn(t, dir, nil, args...)
			if again.code != 0 || !strings.Contains(again.stdout, "nothing written: every file exists") {
				t.Errorf("a second init: %v", again)
			}
			forced := upshiftIn(t, dir, nil, append(args, "--force")...)
			if forced.code != 0 || !strings.Contains(forced.stdout, "replaced  .github/workflows/deploy.yml") {
				t.Errorf("init --force: %v", forced)
			}
		})
	}
}

// A project where nothing reaches a database: init says which flag names
// the services, and writes nothing.
func TestInitNeedsServicesItCannotGuess(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(filepath.Join(dir, "compose.yaml"), "services:\n  web:\n    image: nginx:1\n"); err != nil {
		t.Fatal(err)
	}
	r := upshiftIn(t, dir, nil, "init")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--service") {
		t.Errorf("init without a DATABASE_URL anywhere: %v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, ".github")); err == nil {
		t.Error("init wrote files after refusing")
	}
}
