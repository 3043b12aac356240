package main

// The container image end to end: `make image`, a service's db-setup image
// built FROM it with the migrations, run against a PostgreSQL container that
// is still starting and has no database yet.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/internal/harness/realworld"
)

func TestImageCreatesAndMigrates(t *testing.T) {
	dockertest.Require(t)
	name := dockertest.RandomName("img")
	image := "upshift-e2e/upshift:" + name
	root, _ := filepath.Abs("../..")
	dockertest.Run(t, root, nil, "make", "--no-print-directory", "image-migrator", "IMAGE="+image)
	t.Cleanup(func() { _, _ = dockertest.RunErr("", nil, "docker", "rmi", "-f", "--no-prune", image, image+"-setup") })

	// What the image is: non-root, labelled, nothing but upshift and CA certificates.
	inspect := dockertest.Run(t, "", nil, "docker", "image", "inspect", image, "--format",
		"{{.Config.User}}|{{index .Config.Labels \"org.opencontainers.image.version\"}}|{{index .Config.Labels \"org.opencontainers.image.source\"}}|{{json .Config.Cmd}}")
	parts := strings.Split(strings.TrimSpace(inspect), "|")
	if len(parts) != 4 || parts[0] != "65532:65532" || parts[1] == "" || !strings.Contains(parts[2], "upshift") || parts[3] != `["migrate","--wait","60s","--create-database"]` {
		t.Errorf("image config: %q", inspect)
	}

	// A service's db-setup image, as `upshift init` writes its Dockerfile
	// in a project with drizzle.config.ts.
	compose := filepath.Join(t.TempDir(), "compose.yaml")
	if err := writeFile(compose, "name: mana\nservices:\n  postgres:\n    image: postgres:16\n  mana-auth:\n    image: ghcr.io/acme/mana-auth:latest\n    environment:\n      DATABASE_URL: postgres://mana:${POSTGRES_PASSWORD}@postgres:5432/mana\n"); err != nil {
		t.Fatal(err)
	}
	ctx := initProject(t, compose)
	if r := upshiftIn(t, ctx, nil, "init", "--image", image); r.code != 0 || !strings.Contains(r.stdout, "wrote     db-setup.Dockerfile") {
		t.Fatalf("init: %v", r)
	}
	dockertest.Run(t, ctx, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "-f", "db-setup.Dockerfile", "-t", image+"-setup", ".")

	network := name + "-net"
	dockertest.Run(t, "", nil, "docker", "network", "create", network)
	t.Cleanup(func() {
		_, _ = dockertest.RunErr("", nil, "docker", "rm", "-f", name+"-db")
		_, _ = dockertest.RunErr("", nil, "docker", "network", "rm", network)
	})
	// The database container starts; the setup container is started at the
	// same moment and must wait for it, then create appdb.
	dockertest.Run(t, "", nil, "docker", "run", "-d", "--name", name+"-db", "--network", network, "--network-alias", "db", "--user", "postgres",
		dockertest.PostgresImage, "bash", "-c",
		"sleep 2 && initdb -D /tmp/pgdata --encoding=UTF8 --locale=C.UTF-8 --auth=trust -U postgres >/dev/null && echo 'host all all all trust' >> /tmp/pgdata/pg_hba.conf && exec postgres -D /tmp/pgdata -c listen_addresses='*' -c unix_socket_directories=/tmp")
	setup := func() (string, int) {
		cmd := exec.Command("docker", "run", "--rm", "--network", network, "-e", "DATABASE_URL=postgres://postgres@db:5432/appdb?sslmode=disable", image+"-setup")
		out, err := cmd.CombinedOutput()
		return string(out), mustExitCode(t, err)
	}
	out, code := setup()
	if code != 0 || !strings.Contains(out, `created database "appdb"`) || !strings.Contains(out, "done: 4 migrations applied") || !strings.Contains(out, "advisory lock 987654321") {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	// Every later deploy: the database exists and is up to date.
	out, code = setup()
	if code != 0 || !strings.Contains(out, `database "appdb" already exists`) || !strings.Contains(out, "nothing to migrate") {
		t.Errorf("second run: exit %d\n%s", code, out)
	}
	// init on a real deployment's compose file (hatchet's) writes a
	// Dockerfile that builds, and the image migrates a database of its own.
	if _, err := os.Stat(filepath.Join(realworld.Root(), "compose", "hatchet")); err == nil {
		hatchet := initProject(t, realworld.Path(t, "compose", "hatchet"))
		if r := upshiftIn(t, hatchet, nil, "init", "-f", filepath.Join(hatchet, "docker-compose.yml"), "--image", image); r.code != 0 {
			t.Fatalf("init on hatchet: %v", r)
		}
		dockertest.Run(t, hatchet, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "-f", "db-setup.Dockerfile", "-t", image+"-hatchet", ".")
		t.Cleanup(func() { _, _ = dockertest.RunErr("", nil, "docker", "rmi", "-f", "--no-prune", image+"-hatchet") })
		out, err := exec.Command("docker", "run", "--rm", "--network", network, "-e", "DATABASE_URL=postgres://postgres@db:5432/hatchet?sslmode=disable", image+"-hatchet").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "done: 4 migrations applied") {
			t.Errorf("hatchet's db-setup image: %v\n%s", err, out)
		}
	}
	// A broken folder keeps upshift's exit codes inside the container.
	cmd := exec.Command("docker", "run", "--rm", "--network", network, "-e", "DATABASE_URL=postgres://postgres@db:5432/appdb?sslmode=disable",
		image+"-setup", "status", "--dir", "/nope", "--exit-code")
	if out, err := cmd.CombinedOutput(); exitCodeOf(err) != 2 || !strings.Contains(string(out), "/nope") {
		t.Errorf("missing folder in the container: %v\n%s", err, out)
	}
}

// TestBackupWithHostPgDump: `upshift backup --backup-via host` dumps through
// the URL with the host's pg_dump; the dump restores into a new database
// with the same rows.
func TestBackupWithHostPgDump(t *testing.T) {
	dockertest.Require(t)
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("no pg_dump on this host")
	}
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 120) g;")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("name: notes\nservices:\n  api:\n    image: registry.example.com/notes/api:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "backups")
	// The compose plugin lives under the real HOME.
	r := upshift(t, []string{"UPSHIFT_STATE_DIR=" + filepath.Join(dir, "state"), "HOME=" + os.Getenv("HOME")},
		"backup", "-f", filepath.Join(dir, "compose.yaml"), "--backup-via", "host", "--backup-url", db.SecretURL(), "--backup-dir", out)
	if r.code != 0 || !strings.Contains(r.stdout, "the host's pg_dump") || strings.Contains(r.stdout+r.stderr, pgtest.Password) {
		t.Fatalf("%s", r)
	}
	dumps, _ := filepath.Glob(filepath.Join(out, "notes-"+db.Name+"-*.dump"))
	if len(dumps) != 1 {
		t.Fatalf("dumps: %v", dumps)
	}
	restored := pgtest.Shared(t).NewDB(t)
	if b, err := exec.Command("pg_restore", "--no-owner", "-d", restored.URL, dumps[0]).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, b)
	}
	if n := count(t, restored, "SELECT count(*) FROM notes"); n != 120 {
		t.Errorf("%d rows restored, want 120", n)
	}
}
