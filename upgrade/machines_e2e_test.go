package upgrade_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// machine is upshift as run from another machine that reaches the same
// engine: a state folder of its own (a hosted CD runner, an on-call
// laptop), nothing shared with the others but the engine.
type machine struct {
	p   *dockertest.Project
	dir string
}

func newMachine(t *testing.T, p *dockertest.Project) machine {
	return machine{p: p, dir: t.TempDir()}
}

func (m machine) env() []string { return []string{"UPSHIFT_STATE_DIR=" + m.dir} }

func (m machine) upshift(t *testing.T, args ...string) dockertest.Result {
	t.Helper()
	return dockertest.RunUpshift(t, m.p.Bins, m.p.Dir, m.env(), args...)
}

func (m machine) command(args ...string) *exec.Cmd {
	c := m.p.Command(args...)
	c.Env = append(c.Env, m.env()...)
	return c
}

func (m machine) history(t *testing.T) []map[string]any {
	t.Helper()
	r := m.upshift(t, "history", "--format", "json", "--limit", "0")
	if r.Code != 0 {
		t.Fatalf("history: %s", r)
	}
	var doc struct {
		Runs []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	return doc.Runs
}

// The deployment remembers, not the runner: an upgrade from one machine is
// rolled back from a second and listed from a third; while one machine's
// upgrade runs, another's with --lock-wait 0 exits 3 naming it; one killed
// (kill -9) during its setup is finished by the next upgrade from another
// machine once its lease runs out, and the history shows the dead run; a
// password in a flag is in no state, engine object or output.
func TestTheDeploymentRemembersNotTheRunner(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	runner, laptop, third := newMachine(t, p), newMachine(t, p), newMachine(t, p)
	// A secret in every secret-bearing flag and environment variable:
	// the health URL's password, the backup URL's (the flag, and the
	// environment's spelling, percent-encoded), the health token.
	const secret, dbSecret, envSecret, token = "Pr0beS3cretXq7", "Db5ecretPw0rdQ", "Env5ecret/Pw9", "T0kenS3cretZz4"
	withPassword := strings.Replace(p.HealthURL(), "http://", "http://probe:"+secret+"@", 1)

	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	up := dockertest.RunUpshift(t, p.Bins, p.Dir, append(runner.env(), "UPSHIFT_HEALTH_TOKEN="+token, "UPSHIFT_BACKUP_URL=postgres://postgres:Env5ecret%2FPw9@db:5432/postgres"),
		"upgrade", "--service", "app", "--health-url", withPassword, "--expect-version", "v2", "--health-timeout", "20s", "--format", "json",
		"--backup", "--backup-url", "postgres://postgres:"+dbSecret+"@db:5432/postgres")
	if up.Code != 0 {
		t.Fatalf("upgrade from the runner: %s", up)
	}
	expectServing(t, p, "v2")
	rb := laptop.upshift(t, "rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1", "--health-timeout", "20s")
	if rb.Code != 0 {
		t.Fatalf("rollback from the laptop: %s", rb)
	}
	expectServing(t, p, "v1")
	h := third.history(t)
	if len(h) < 3 || h[0]["kind"] != "rollback" || h[1]["kind"] != "upgrade" || h[1]["outcome"] != "succeeded" {
		t.Fatalf("history from a third machine: %v", h)
	}
	if by := h[1]["by"].(map[string]any); by["run_id"] != h[1]["id"] {
		t.Errorf("by.run_id %v, the run is %v", by["run_id"], h[1]["id"])
	}
	if id, ok := h[1]["engine_id"].(string); !ok || id == "" {
		t.Errorf("the record does not name the engine: %v", h[1]["engine_id"])
	}

	// The password: nowhere in the output, the local folders, the
	// engine's volume, or the history.
	leaks := []string{up.Stdout + up.Stderr, rb.Stdout + rb.Stderr}
	for _, dir := range []string{runner.dir, laptop.dir, third.dir} {
		_ = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				b, _ := os.ReadFile(path)
				leaks = append(leaks, path+": "+string(b))
			}
			if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s is %v, want 0600", path, fi.Mode().Perm())
			}
			return nil
		})
	}
	onEngine := dockertest.Run(t, "", nil, "docker", "run", "--rm", "-v", dockertest.KeepVolume+":/state:ro", dockertest.PostgresImage, "sh", "-c", "cat /state/"+p.Name+"/history/*.json")
	leaks = append(leaks, onEngine)
	for _, l := range leaks {
		for _, sec := range []string{secret, dbSecret, envSecret, "Env5ecret%2FPw9", token} {
			if i := strings.Index(l, sec); i >= 0 {
				t.Errorf("a secret leaked: %.300s", l[i-min(200, i):])
			}
		}
	}
	if !strings.Contains(onEngine, "upgrade --service app --health-url") {
		t.Errorf("the history does not keep the (redacted) command line")
	}

	// One upgrade runs (its setup migrates for 6 s); another machine's
	// with --lock-wait 0 exits 3 naming it.
	p.Release(v2, []dockertest.Migration{mUsers, mNickname, {Tag: "0002_slow", SQL: "SELECT pg_sleep(6);\n--> statement-breakpoint\nCREATE TABLE slow (id int);"}})
	c := runner.command(append(upgradeArgs(p, "v2"), "--health-url", withPassword)...)
	c.Stdout, c.Stderr = nil, nil
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(runner.dir, p.Name, "run.json")
	waitFor(t, 60*time.Second, func() bool {
		b, _ := os.ReadFile(journal)
		return strings.Contains(string(b), `"step": "setup"`)
	})
	// The lock, an engine object anyone with the engine's API reads,
	// names its holder by a redacted command line.
	lock := dockertest.Run(t, "", nil, "docker", "inspect", "-f", "{{json .Config.Labels}}", dockertest.KeepVolume+"-lock-"+p.Name)
	if strings.Contains(lock, secret) || !strings.Contains(lock, "--health-url") {
		t.Errorf("the lock's labels: %s", lock)
	}
	// So does the journal, the record in a volume's labels.
	entries := strings.Fields(dockertest.Run(t, "", nil, "docker", "volume", "ls", "-q", "--filter", "label=io.upshift.journal="+p.Name))
	if len(entries) != 1 {
		t.Errorf("the run under way is journaled in %d volumes, want 1: %v", len(entries), entries)
	}
	for _, e := range entries {
		labels := dockertest.Run(t, "", nil, "docker", "volume", "inspect", "-f", "{{json .Labels}}", e)
		if strings.Contains(labels, secret) || !strings.Contains(labels, `\"step\":\"setup\"`) {
			t.Errorf("the journal's labels: %s", labels)
		}
	}
	busy := laptop.upshift(t, upgradeArgs(p, "v2", "--lock-wait", "0")...)
	if busy.Code != 3 || !strings.Contains(busy.Stdout+busy.Stderr, "pid ") || !strings.Contains(busy.Stdout+busy.Stderr, "another upgrade or rollback of project "+p.Name) {
		t.Errorf("a second machine during the first's setup: exit %d, want 3 naming the holder\n%s", busy.Code, busy)
	}
	// The runner vanishes mid-setup.
	_ = c.Process.Signal(syscall.SIGKILL)
	_ = c.Wait()
	start := time.Now()
	fin := laptop.upshift(t, upgradeArgs(p, "v2", "--format", "json")...)
	if fin.Code != 0 {
		t.Fatalf("the laptop's upgrade after the runner died: %s", fin)
	}
	t.Logf("the laptop took the lock over %s after the kill", time.Since(start).Round(time.Second))
	expectServing(t, p, "v2")
	doc := decode(t, fin)
	notes, _ := json.Marshal(doc["notes"])
	if doc["resumes"] == "" || !strings.Contains(string(notes), "took over the deploy lock") {
		t.Errorf("the laptop's run neither resumed the dead run nor said it took the lock over: resumes %v, notes %s", doc["resumes"], notes)
	}
	h = third.history(t)
	if h[1]["outcome"] != "interrupted" || h[1]["id"] != doc["resumes"] {
		t.Errorf("the history does not show the dead run: %v %v", h[1]["id"], h[1]["outcome"])
	}
	if out := dockertest.Run(t, "", nil, "docker", "ps", "-aq", "--filter", "name="+dockertest.KeepVolume+"-lock-"+p.Name); strings.TrimSpace(out) != "" {
		t.Errorf("a lock is left on the engine: %s", out)
	}
}

// GitHub's cancel of a CD job: SIGINT, SIGTERM two seconds later, then
// SIGKILL. The deploy lock is released before upshift ends, so a deploy
// from another machine is not blocked (it waits less than a lease here)
// and ends on the new version.
func TestCICancelSequenceDoesNotBlockTheNextDeploy(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	runner, laptop := newMachine(t, p), newMachine(t, p)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname, {Tag: "0002_slow", SQL: "SELECT pg_sleep(8);\n--> statement-breakpoint\nCREATE TABLE slow (id int);"}})
	c := runner.command(upgradeArgs(p, "v2")...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	journal := filepath.Join(runner.dir, p.Name, "run.json")
	waitFor(t, 60*time.Second, func() bool {
		b, _ := os.ReadFile(journal)
		return strings.Contains(string(b), `"step": "setup"`)
	})
	_ = c.Process.Signal(syscall.SIGINT)
	time.Sleep(2 * time.Second)
	_ = c.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = c.Process.Kill()
		<-done
		t.Logf("upshift was still running 3 s after SIGTERM: killed")
	}
	r := laptop.upshift(t, upgradeArgs(p, "v2", "--lock-wait", "20s", "--format", "json")...)
	if r.Code != 0 {
		t.Fatalf("the next deploy, from another machine: %s", r)
	}
	expectServing(t, p, "v2")
	if notes, _ := json.Marshal(decode(t, r)["notes"]); strings.Contains(string(notes), "took over the deploy lock") {
		t.Errorf("the cancelled run left its lock (it was taken over when its lease ran out): %s", notes)
	}
}
