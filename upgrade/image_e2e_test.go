package upgrade_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

var (
	composeImageOnce sync.Once
	composeImage     string
)

// buildComposeImage builds upshift:…-compose with `make image-compose`, as
// a release does, once for the package's tests — on a machine whose docker
// CLI and compose plugin are dynamically linked, as a distribution's are
// (stand-ins here), so that the build must make static ones from their
// modules for FROM scratch.
func buildComposeImage(t *testing.T) string {
	t.Helper()
	composeImageOnce.Do(func() {
		tag := "upshift-e2e/upshift:" + dockertest.RandomName("img") + "-compose"
		root, _ := filepath.Abs("..")
		dynamic := t.TempDir()
		for _, name := range []string{"docker", "docker-compose"} {
			if err := os.Symlink("/bin/true", filepath.Join(dynamic, name)); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := dockertest.RunErr(root, nil, "make", "--no-print-directory", "image-compose", "COMPOSE_IMAGE="+tag,
			"DOCKER_CLI="+filepath.Join(dynamic, "docker"), "COMPOSE_PLUGIN="+filepath.Join(dynamic, "docker-compose")); err != nil {
			t.Fatalf("make image-compose: %v\n%s", err, out)
		}
		composeImage = tag
	})
	if composeImage == "" {
		t.Fatal("make image-compose failed in an earlier test")
	}
	t.Cleanup(func() { _, _ = dockertest.RunErr("", nil, "docker", "rmi", "-f", "--no-prune", composeImage) })
	return composeImage
}

// TestUpgradeAndRollbackFromTheComposeImage: a host with nothing but the
// engine upgrades and rolls back with `docker run … upshift:X-compose`, the
// documented command line: the socket, the project's folder at the same
// path, the host's network for the health check — and no volume for
// upshift's state: each `docker run` starts with an empty state folder,
// and the rollback still finds the upgrade, since the engine keeps it.
func TestUpgradeAndRollbackFromTheComposeImage(t *testing.T) {
	p := deployed(t)
	image := buildComposeImage(t)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	inImage := func(args ...string) dockertest.Result {
		t.Helper()
		run := append([]string{"run", "--rm", "--network", "host", "-v", "/var/run/docker.sock:/var/run/docker.sock",
			"-v", p.Dir + ":" + p.Dir, "-w", p.Dir, "-e", "UPSHIFT_STATE_VOLUME=" + dockertest.KeepVolume, image}, args...)
		return dockertest.Capture(t, exec.Command("docker", run...))
	}

	if r := inImage(upgradeArgs(p, "v2")...); r.Code != 0 {
		t.Fatalf("upgrade from the image: %s", r)
	}
	expectServing(t, p, "v2")
	if got := appliedMigrations(p); got != "1,2" {
		t.Errorf("migrations after the upgrade: %q, want 1,2", got)
	}
	if r := inImage("rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1", "--health-timeout", "20s"); r.Code != 0 {
		t.Fatalf("rollback from the image: %s", r)
	}
	expectServing(t, p, "v1")

	// The runs the image made are in the project's history, read by the
	// host's upshift (a state folder of its own): the engine keeps it.
	runs := history(t, p)
	if len(runs) < 3 || runs[0]["kind"] != "rollback" || runs[1]["outcome"] != "succeeded" {
		t.Fatalf("history after upgrade and rollback from the image: %v", runs)
	}
}
