package upgrade_test

// Remote engines: the engine upshift's client talks to and the one every
// `docker compose` it runs talks to are the same, chosen as the docker CLI
// chooses — a docker context, or DOCKER_HOST=ssh://… through the CLI's ssh
// helper (here: this machine's own engine, reached through an sshd of the
// test's own on a loopback port) — and an engine that does not answer is
// refused before anything changes.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// dockerConfig is a docker config folder of the test's own (contexts are
// created there, not in the user's), with the user's CLI plugins.
func dockerConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	home, _ := os.UserHomeDir()
	if plugins := filepath.Join(home, ".docker", "cli-plugins"); fileExists(plugins) {
		if err := os.Symlink(plugins, filepath.Join(dir, "cli-plugins")); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUpgradeThroughADockerContext(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	cfg := dockerConfig(t)
	env := []string{"DOCKER_CONFIG=" + cfg}
	dockertest.Run(t, "", env, "docker", "context", "create", "e2e-local", "--docker", "host=unix:///var/run/docker.sock")
	dockertest.Run(t, "", env, "docker", "context", "create", "e2e-dead", "--docker", "host=tcp://127.0.0.1:1")
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})

	// A context whose engine does not answer: refused, nothing changed.
	before := p.Running("app")
	r := dockertest.RunUpshift(t, p.Bins, p.Dir, append(env, "UPSHIFT_STATE_DIR="+p.StateDir), upgradeArgs(p, "v2", "--context", "e2e-dead", "--format", "json")...)
	if r.Code != 2 {
		t.Fatalf("dead engine: exit %d, want 2\n%s", r.Code, r)
	}
	if msg := decode(t, r)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "tcp://127.0.0.1:1") || !strings.Contains(msg, `"e2e-dead"`) {
		t.Errorf("the error does not name the engine: %s", msg)
	}
	if after := p.Running("app"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("containers changed: %v → %v", before, after)
	}
	expectServing(t, p, "v1")

	r = dockertest.RunUpshift(t, p.Bins, p.Dir, append(env, "UPSHIFT_STATE_DIR="+p.StateDir), upgradeArgs(p, "v2", "--context", "e2e-local", "--format", "json")...)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	expectServing(t, p, "v2")
	doc := decode(t, r)
	if e, _ := doc["engine"].(string); !strings.Contains(e, `docker context "e2e-local"`) {
		t.Errorf("engine %q", e)
	}
	for _, s := range doc["steps"].([]any) {
		for _, c := range s.(map[string]any)["commands"].([]any) {
			if !strings.HasPrefix(c.(string), "docker --context e2e-local compose ") {
				t.Errorf("a compose verb not on the context: %s", c)
			}
		}
	}
}

// sshd starts an sshd of the test's own on a loopback port that lets root
// in with a key made here, and returns DOCKER_HOST and the environment
// (an ssh on PATH that uses that key) to reach this engine through it.
func sshd(t *testing.T) (string, []string) {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sshd is missing (.ci/run installs Debian's openssh-server)")
		}
		t.Skip("no /usr/sbin/sshd (apt-get install openssh-server)")
	}
	dir := t.TempDir()
	for _, k := range []string{"id", "host"} {
		dockertest.Run(t, "", nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k))
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "id.pub"))
	port := dockertest.FreePort(t)
	files := map[string]string{
		"authorized_keys": string(pub),
		"sshd_config": fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host\nAuthorizedKeysFile %s/authorized_keys\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nStrictModes no\nUsePAM no\nPidFile %s/sshd.pid\n",
			port, dir, dir, dir),
		"ssh_config": fmt.Sprintf("Host 127.0.0.1\n  IdentityFile %s/id\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n", dir),
		"bin/ssh":    fmt.Sprintf("#!/bin/sh\nexec /usr/bin/ssh -F %s/ssh_config \"$@\"\n", dir),
	}
	for name, content := range files {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.MkdirAll("/run/sshd", 0o755) // its privilege separation folder
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	env := []string{"PATH=" + filepath.Join(dir, "bin") + ":" + os.Getenv("PATH")}
	host := fmt.Sprintf("ssh://root@127.0.0.1:%d", port)
	waitFor(t, 20*time.Second, func() bool {
		// The wrapper itself: exec.Command looks "ssh" up on this
		// process's PATH, not on env's.
		return exec.Command(filepath.Join(dir, "bin", "ssh"), "-p", fmt.Sprint(port), "root@127.0.0.1", "true").Run() == nil
	})
	return host, env
}

func TestUpgradeOverSSH(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	host, env := sshd(t)
	env = append(env, "DOCKER_HOST="+host, "UPSHIFT_STATE_DIR="+p.StateDir)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	r := dockertest.RunUpshift(t, p.Bins, p.Dir, env, upgradeArgs(p, "v2", "--backup", "--format", "json")...)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	expectServing(t, p, "v2")
	doc := decode(t, r)
	if e, _ := doc["engine"].(string); e != host+" (from DOCKER_HOST)" {
		t.Errorf("engine %q", e)
	}
	if got := appliedMigrations(p); got != "1,2" {
		t.Errorf("migrations %s", got)
	}
	// The backup outlives the runner: it is on the engine, not in the
	// runner's folder, and its restore command reads it from there.
	b, _ := doc["backup"].(map[string]any)
	restore, _ := b["restore"].(string)
	if file, _ := b["file"].(string); !strings.HasPrefix(file, dockertest.KeepVolume+":/state/backups/") || !strings.HasPrefix(restore, "docker cp "+dockertest.KeepVolume+":/state/backups/") {
		t.Fatalf("the backup is not kept on the engine: %v", b)
	}
	if left, _ := filepath.Glob(filepath.Join(p.StateDir, "*", "backups", "*")); len(left) != 0 {
		t.Errorf("dumps left on the runner: %v", left)
	}
	// The printed restore command, run as printed from the runner, puts
	// the database back as it was before the upgrade.
	sh := exec.Command("sh", "-c", restore)
	sh.Dir, sh.Env = p.Dir, append(os.Environ(), env...)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the restore command %q: %v\n%s", restore, err, out)
	}
	if got := appliedMigrations(p); got != "1" {
		t.Errorf("after the restore the migrations are %s, want 1 (as before the upgrade)", got)
	}
	r = dockertest.RunUpshift(t, p.Bins, p.Dir, env, "rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1")
	if r.Code != 0 {
		t.Fatalf("rollback over ssh: %s", r)
	}
	expectServing(t, p, "v1")
}
