package compose_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/compose"
)

const deployment = `services:
  api:
    image: registry.example.com/acme/api:${API_TAG:-1.4.0}
    ports: ["3000:3000"]
    environment:
      DATABASE_URL: postgres://app:${DB_PASSWORD}@db/app
      SESSION_SECRET: ${SESSION_SECRET:-dev-session-secret}
    stop_grace_period: 15s
    healthcheck:
      test: ["CMD", "/api", "health"]
  worker:
    image: registry.example.com/acme/worker:1.4.0
    container_name: acme-worker
  db:
    image: postgres:15
    restart: always
  db-setup:
    image: registry.example.com/acme/db-setup:1.4.0
    profiles: [setup]
`

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "compose.yaml", deployment)
	write(t, dir, ".env", "API_TAG=1.5.0\nDB_PASSWORD=hunter2-pw\nCOMPOSE_PROJECT_NAME=acme\n")
	p, err := compose.Load(context.Background(), compose.Options{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "acme" {
		t.Errorf("name %q, want acme (from .env)", p.Name)
	}
	if got := p.Files; len(got) != 1 || got[0] != filepath.Join(dir, "compose.yaml") {
		t.Errorf("files %v", got)
	}
	api := p.Services["api"]
	if api.Image != "registry.example.com/acme/api:1.5.0" {
		t.Errorf("api image %q: .env not interpolated", api.Image)
	}
	if !api.Healthcheck || api.StopGrace.String() != "15s" || !slices.Equal(api.FixedPorts, []string{"3000"}) {
		t.Errorf("api %+v", api)
	}
	if p.Services["worker"].ContainerName != "acme-worker" || p.Services["db"].Restart != "always" {
		t.Errorf("worker/db %+v %+v", p.Services["worker"], p.Services["db"])
	}
	setup := p.Services["db-setup"]
	if setup == nil || setup.Enabled || !slices.Equal(setup.Profiles, []string{"setup"}) {
		t.Errorf("db-setup under profile setup must be loaded, disabled: %+v", setup)
	}
	for _, secret := range []string{"hunter2-pw", "dev-session-secret"} {
		if !slices.Contains(p.Secrets, secret) {
			t.Errorf("secret %q not collected: %v", secret, p.Secrets)
		}
	}
	args := strings.Join(p.Args("/state/override.yml"), " ")
	want := "-f " + filepath.Join(dir, "compose.yaml") + " -f /state/override.yml -p acme --project-directory " + dir
	if args != want {
		t.Errorf("args\n%s\nwant\n%s", args, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "broken.yaml", "services:\n  api:\n    image: [\n")
	write(t, dir, "typo.yaml", "services:\n  api:\n    imag: registry.example.com/acme/api:1.4.0\n")
	write(t, dir, "compose.yaml", deployment)
	for _, tc := range []struct {
		name string
		opts compose.Options
		want string
	}{
		{"missing file", compose.Options{WorkingDir: dir, Files: []string{"nope.yaml"}}, "nope.yaml"},
		{"invalid yaml", compose.Options{WorkingDir: dir, Files: []string{"broken.yaml"}}, "broken.yaml"},
		// compose-spec.json, validated by jsonschema.
		{"schema violation", compose.Options{WorkingDir: dir, Files: []string{"typo.yaml"}}, "imag"},
		{"stdin", compose.Options{WorkingDir: dir, Files: []string{"-"}}, "standard input"},
		{"no file", compose.Options{WorkingDir: t.TempDir()}, "compose"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compose.Load(context.Background(), tc.opts)
			var pe *compose.ProjectError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ProjectError", err)
			}
			if !strings.Contains(err.Error()+" hint: "+pe.ErrorHint(), tc.want) {
				t.Errorf("%q (hint %q) does not mention %q", err, pe.ErrorHint(), tc.want)
			}
		})
	}
	p, err := compose.Load(context.Background(), compose.Options{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var pe *compose.ProjectError
	if _, err := p.Service("apii"); !errors.As(err, &pe) || !strings.Contains(pe.ErrorHint(), "api, db, db-setup, worker") {
		t.Errorf("unknown service error should list the services: %v", err)
	}
}

func TestLoadHonoursComposeFileAndProfiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "base.yaml", deployment)
	write(t, dir, "prod.yaml", "services:\n  api:\n    image: registry.example.com/acme/api:prod\n")
	t.Setenv("COMPOSE_FILE", filepath.Join(dir, "base.yaml")+string(os.PathListSeparator)+filepath.Join(dir, "prod.yaml"))
	t.Setenv("COMPOSE_PROFILES", "setup")
	t.Setenv("COMPOSE_PROJECT_NAME", "")
	p, err := compose.Load(context.Background(), compose.Options{WorkingDir: dir, ProjectDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) != 2 || p.Services["api"].Image != "registry.example.com/acme/api:prod" {
		t.Errorf("COMPOSE_FILE not honoured: %v %q", p.Files, p.Services["api"].Image)
	}
	if !p.Services["db-setup"].Enabled {
		t.Errorf("COMPOSE_PROFILES=setup should enable db-setup")
	}
	if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, `"DB_PASSWORD" variable is not set`) }) {
		t.Errorf("compose-go's warnings are not reported: %v", p.Warnings)
	}
}

func TestShellQuotedCommand(t *testing.T) {
	c := &compose.CLI{Project: &compose.Project{Name: "app", WorkingDir: "/srv/my app", Files: []string{"/srv/my app/compose.yaml"}}}
	got := c.Command(compose.UpOptions{Services: []string{"api"}, NoDeps: true})
	if got != "docker compose -f '/srv/my app/compose.yaml' -p app --project-directory '/srv/my app' up -d --no-deps --pull never api" {
		t.Errorf("%s", got)
	}
}

// A resolved copy of a large project holds the run's services and their
// dependencies, with the same values (literal dollars included) when
// docker compose reads it again, and nothing else.
func TestResolvedCopy(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`services:
  api:
    image: registry.example.com/acme/api:${API_TAG:-1.4.0}
    environment:
      DATABASE_URL: postgres://app:${DB_PASSWORD}@db/app
      PRICE: "$$5"
    depends_on: [db]
  db:
    image: postgres:15
`)
	for i := 0; b.Len() < compose.ResolvedThreshold; i++ {
		b.WriteString("  extra" + strconv.Itoa(i) + ":\n    image: busybox\n    profiles: [extra]\n    environment:\n      BLOB: \"" + strings.Repeat("y", 2000) + "\"\n")
	}
	write(t, dir, "compose.yaml", b.String())
	write(t, dir, ".env", "API_TAG=1.5.0\nDB_PASSWORD=hunter2-pw\nCOMPOSE_PROJECT_NAME=acme\n")
	p, err := compose.Load(context.Background(), compose.Options{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cli := &compose.CLI{Project: p}
	copyPath := filepath.Join(t.TempDir(), "resolved.yml")
	done, err := cli.UseResolved(copyPath, []string{"api"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(copyPath)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() > 4096 {
		t.Fatalf("resolved copy: %v %v", err, st)
	}
	again, err := compose.Load(context.Background(), compose.Options{Files: []string{copyPath}, ProjectName: "acme", ProjectDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := again.ServiceNames(); strings.Join(got, ",") != "api,db" {
		t.Errorf("services %v", got)
	}
	api := again.Services["api"]
	if api.Image != "registry.example.com/acme/api:1.5.0" || api.Env["PRICE"] != "$5" || api.Env["DATABASE_URL"] != "postgres://app:hunter2-pw@db/app" {
		t.Errorf("api read back: %s %q %q", api.Image, api.Env["PRICE"], api.Env["DATABASE_URL"])
	}
	// Printed commands still name the project's own file.
	if c := cli.Command(compose.StopOptions{Services: []string{"api"}}); !strings.Contains(c, filepath.Join(dir, "compose.yaml")) {
		t.Errorf("printed %s", c)
	}
	done()
	if _, err := os.Stat(copyPath); err == nil {
		t.Errorf("the copy outlived the run")
	}
}

// What a stack file's services set that Swarm ignores, and their
// update_config as the file (not docker stack deploy's defaults) has it.
func TestSwarmKeysOfAStackFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "stack.yml", `services:
  api:
    image: registry.example.com/shop/api:2.0
    container_name: shop-api
    restart: always
    depends_on: [db]
    deploy:
      update_config:
        order: start-first
        failure_action: pause
        monitor: 30s
  db:
    image: postgres:16
    deploy:
      update_config:
        parallelism: 1
  migrate:
    image: registry.example.com/shop/api:2.0
    deploy:
      replicas: 0
`)
	p, err := compose.Load(context.Background(), compose.Options{WorkingDir: dir, Files: []string{"stack.yml"}, ProjectName: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	api, db, migrate := p.Services["api"], p.Services["db"], p.Services["migrate"]
	if got := strings.Join(api.SwarmIgnored, ","); got != "container_name,depends_on,restart (use deploy.restart_policy)" {
		t.Errorf("api: %s", got)
	}
	if api.UpdateOrder != "start-first" || api.UpdateFailureAction != "pause" || api.UpdateMonitor.String() != "30s" {
		t.Errorf("api update_config %q %q %s", api.UpdateOrder, api.UpdateFailureAction, api.UpdateMonitor)
	}
	if len(db.SwarmIgnored) != 0 || db.UpdateFailureAction != "" || db.UpdateMonitor != 0 {
		t.Errorf("db: %v %q %s", db.SwarmIgnored, db.UpdateFailureAction, db.UpdateMonitor)
	}
	if migrate.Scale != 0 {
		t.Errorf("migrate scale %d", migrate.Scale)
	}
}

// Services that share a build section through a YAML anchor have one
// build key; another build has its own.
func TestBuildKey(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "compose.yaml", `name: shop
x-app: &app
  build: {context: ., dockerfile: app.Dockerfile, args: {MODE: prod}}
  image: shop/app:local
services:
  web: *app
  worker:
    <<: *app
    command: ["worker"]
  tools:
    build: {context: ./tools}
    image: shop/tools:local
  db:
    image: postgres:15
`)
	p, err := compose.Load(context.Background(), compose.Options{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	web, worker, tools := p.Services["web"].BuildKey, p.Services["worker"].BuildKey, p.Services["tools"].BuildKey
	if web == "" || web != worker || web == tools || p.Services["db"].BuildKey != "" {
		t.Errorf("build keys web %q, worker %q, tools %q, db %q", web, worker, tools, p.Services["db"].BuildKey)
	}
}
