package upgrade_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// End-to-end on a real swarm: the test engine made a single-node swarm
// manager (and left again when the tests end), the stack of
// testdata/upgrade/stack.yaml deployed with `docker stack deploy`, its images
// in the real registry, and the upshift binary run against it.

// deployedStack deploys the stack with v1 and has upshift run its first
// migration (the deploy leaves db-setup at replicas: 0, so app waits for its
// schema until then).
func deployedStack(t *testing.T) *dockertest.Stack {
	t.Helper()
	s := dockertest.NewStack(t)
	s.Release(v1, []dockertest.Migration{mUsers})
	s.Deploy()
	doc := stackSucceeded(t, s, stackArgs(s, "v1", "--format", "json")...)
	if got := doc["setup"].(map[string]any)["migrations_applied"]; len(got.([]any)) != 1 {
		t.Fatalf("first run applied %v", got)
	}
	waitFor(t, 30*time.Second, func() bool { code, v := s.Health(); return code == 200 && v == "v1" })
	return s
}

func stackArgs(s *dockertest.Stack, version string, extra ...string) []string {
	args := []string{"upgrade", "--stack", s.Name, "-f", s.File, "--service", "app", "--health-url", s.HealthURL(), "--expect-version", version, "--health-timeout", "90s"}
	return append(args, extra...)
}

func stackSucceeded(t *testing.T, s *dockertest.Stack, args ...string) map[string]any {
	t.Helper()
	r := s.Upshift(args...)
	if r.Code != 0 {
		t.Fatalf("upshift %s: %s", strings.Join(args, " "), r)
	}
	return decode(t, r)
}

// stackTasks are the running tasks of a stack service: their creation time
// and image.
func stackTasks(t *testing.T, s *dockertest.Stack, service string) map[string]time.Time {
	t.Helper()
	ids := strings.Fields(s.Docker("service", "ps", "-q", "--filter", "desired-state=running", s.Service(service)))
	out := map[string]time.Time{}
	for _, id := range ids {
		f := strings.Fields(s.Docker("inspect", "--format", "{{.CreatedAt.Format \"2006-01-02T15:04:05.999999999Z07:00\"}} {{.Spec.ContainerSpec.Image}}", id))
		created, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			t.Fatal(err)
		}
		out[f[1]+" "+id] = created
	}
	return out
}

// specImage is the image the service's spec names now.
func specImage(t *testing.T, s *dockertest.Stack, service string) string {
	t.Helper()
	return strings.TrimSpace(s.Docker("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", s.Service(service)))
}

// v1 → v2 on Swarm: no request through the proxy fails, the migration ran
// (once, as a job) before any v2 task was created, the record keeps both
// digests; then rollback by the recorded digest, and the history.
func TestStackUpgradeRollbackHistory(t *testing.T) {
	t.Parallel()
	s := deployedStack(t)
	v1Image := specImage(t, s, "app")
	s.Release(v2, []dockertest.Migration{mUsers, mNickname})
	dry := s.Upshift(stackArgs(s, "v2", "--dry-run")...)
	for _, want := range []string{"in swarm stack " + s.Name, "→ gate", "→ setup", "engine API: POST /services/" + s.Service("app") + "/update?version=", ": image " + s.Repo + "/app:latest (pinned to the digest the registry names), update monitor 5s, failure action rollback", "→ verify"} {
		if dry.Code != 0 || !strings.Contains(dry.Stdout, want) {
			t.Errorf("dry run lacks %q: %s", want, dry)
		}
	}
	if got := specImage(t, s, "app"); got != v1Image || s.SQL("SELECT count(*) FROM drizzle.__drizzle_migrations") != "1" {
		t.Fatalf("the dry run changed the stack: app runs %s", got)
	}
	pr := startProber(s.HealthURL(), "v2")
	r := s.Upshift(stackArgs(s, "v2", "--format", "json")...)
	window, failed, total := pr.finish()
	if strings.Contains(r.Stdout+r.Stderr+dry.Stdout+dry.Stderr, "e2e-session-secret-never-printed") {
		t.Errorf("a secret of the stack file was printed")
	}
	if r.Code != 0 {
		t.Fatalf("stack upgrade: %s", r)
	}
	t.Logf("prober: %d requests, %d failed, longest window without a 200: %s", total, failed, window)
	probed(t, total)
	if failed != 0 {
		t.Errorf("%d of %d requests through the proxy failed during the swarm upgrade", failed, total)
	}
	doc := decode(t, r)
	if got := strings.Join(stepNames(doc), ","); got != "gate,setup,update,verify" {
		t.Errorf("steps %s", got)
	}
	if doc["strategy"] != "swarm-rolling" || !strings.Contains(doc["engine"].(string), "swarm manager") {
		t.Errorf("strategy %v, engine %v", doc["strategy"], doc["engine"])
	}
	svc := doc["services"].([]any)[0].(map[string]any)
	from, to := svc["from"].(map[string]any), svc["to"].(map[string]any)
	if from["ref"] != v1Image || !strings.HasPrefix(from["id"].(string), "sha256:") || !strings.HasPrefix(to["id"].(string), "sha256:") || from["id"] == to["id"] {
		t.Errorf("from %v to %v (v1 ran %s)", from, to, v1Image)
	}
	if got := s.SQL("SELECT string_agg(id::text, ',' ORDER BY id) FROM drizzle.__drizzle_migrations"); got != "1,2" {
		t.Errorf("migration rows %q", got)
	}
	setup := doc["setup"].(map[string]any)
	if ms := setup["migrations_applied"].([]any); len(ms) != 1 || ms[0] != "0001_nickname" || setup["migrations_source"] != "result" {
		t.Errorf("setup %v", setup)
	}
	// The setup job ended before any v2 task was created.
	var setupEnd time.Time
	for _, st := range doc["steps"].([]any) {
		m := st.(map[string]any)
		if m["name"] == "setup" {
			started, _ := time.Parse(time.RFC3339Nano, m["started_at"].(string))
			setupEnd = started.Add(time.Duration(m["duration_ms"].(float64)) * time.Millisecond)
		}
		// The update is an engine API request, recorded as one: no
		// command line ran for it.
		if m["name"] == "update" {
			api, _ := m["api"].([]any)
			if len(m["commands"].([]any)) != 0 || len(api) != 1 || !strings.HasPrefix(api[0].(string), "POST /services/"+s.Service("app")+"/update?version=") {
				t.Errorf("the update step records commands %v, api %v", m["commands"], m["api"])
			}
		}
	}
	tasks := stackTasks(t, s, "app")
	if len(tasks) != 2 {
		t.Errorf("app runs %d tasks, want 2: %v", len(tasks), tasks)
	}
	for task, created := range tasks {
		if !strings.HasPrefix(task, to["ref"].(string)+" ") {
			t.Errorf("task %s does not run %s", task, to["ref"])
		}
		if created.Before(setupEnd) {
			t.Errorf("task %s was created at %s, before the migration ended (%s)", task, created, setupEnd)
		}
	}
	if out, _ := exec.Command("docker", "service", "ls", "-q", "--filter", "label=io.upshift.stack="+s.Name).Output(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("the setup jobs were left behind: %s", out)
	}

	// Rollback: back to v1 by the digest the upgrade recorded, from
	// another machine — a folder without the stack file and a state
	// folder of its own (a laptop at 3 a.m.): the swarm keeps the record,
	// and has all it needs.
	elsewhere, laptop := t.TempDir(), []string{"UPSHIFT_STATE_DIR=" + t.TempDir()}
	rbText := dockertest.RunUpshift(t, s.Bins, elsewhere, append(laptop, s.Env...), "rollback", "--stack", s.Name, "--service", "app", "--health-url", s.HealthURL(), "--expect-version", "v1", "--dry-run")
	if rbText.Code != 0 || !strings.Contains(rbText.Stdout, "in swarm stack "+s.Name+" (no stack file: the services as the swarm runs them)") || !strings.Contains(rbText.Stdout, "engine API: POST /services/"+s.Service("app")+"/update: image "+v1Image) {
		t.Fatalf("stack rollback --dry-run without the stack file: %s", rbText)
	}
	rb := dockertest.RunUpshift(t, s.Bins, elsewhere, append(laptop, s.Env...), "rollback", "--stack", s.Name, "--service", "app", "--health-url", s.HealthURL(), "--expect-version", "v1", "--format", "json")
	if rb.Code != 0 {
		t.Fatalf("stack rollback without the stack file: %s", rb)
	}
	if got := specImage(t, s, "app"); got != v1Image {
		t.Errorf("after rollback app's spec names %s, want %s", got, v1Image)
	}
	if code, v := s.Health(); code != 200 || v != "v1" {
		t.Errorf("after rollback the proxy answers %d %q", code, v)
	}
	rbDoc := decode(t, rb)
	if rbDoc["rolls_back"].([]any)[0] != doc["id"] {
		t.Errorf("rollback undid %v, want %v", rbDoc["rolls_back"], doc["id"])
	}

	// history --stack needs no stack file, and shows the runs of every
	// machine: here, a third one.
	h := dockertest.RunUpshift(t, s.Bins, t.TempDir(), append([]string{"UPSHIFT_STATE_DIR=" + t.TempDir()}, s.Env...), "history", "--stack", s.Name, "--format", "json")
	if h.Code != 0 {
		t.Fatalf("history: %s", h)
	}
	runs := decode(t, h)["runs"].([]any)
	if len(runs) != 3 {
		t.Fatalf("history has %d runs, want 3 (v1, v2, rollback): %s", len(runs), h.Stdout)
	}
	if r0 := runs[0].(map[string]any); r0["kind"] != "rollback" || r0["project"] != s.Name {
		t.Errorf("newest run %v %v", r0["kind"], r0["project"])
	}
	if r1 := runs[1].(map[string]any); r1["rolled_back_by"] != rbDoc["id"] {
		t.Errorf("the v2 upgrade is not shown as rolled back: %v", r1["rolled_back_by"])
	}
	text := dockertest.RunUpshift(t, s.Bins, s.Dir, []string{"UPSHIFT_STATE_DIR=" + s.StateDir}, "history", "--stack", s.Name)
	for _, want := range []string{"rolled back by " + rbDoc["id"].(string), "strategy: swarm-rolling", "migrations applied: 0001_nickname"} {
		if !strings.Contains(text.Stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, text.Stdout)
		}
	}
}

// What fails on a stack, and where each failure leaves it: a stack that is
// not deployed (exit 2), a migration that fails (exit 1, nothing updated),
// a release the swarm's own monitor finds unhealthy (the swarm rolls back;
// exit 5), and one that answers with the wrong version (upshift rolls back
// with rollback=previous; exit 5).
func TestStackFailures(t *testing.T) {
	t.Parallel()
	s := deployedStack(t)
	v1Image := specImage(t, s, "app")
	expectV1 := func(what string) {
		t.Helper()
		if got := specImage(t, s, "app"); got != v1Image {
			t.Errorf("%s: app's spec names %s, want %s", what, got, v1Image)
		}
		waitFor(t, 30*time.Second, func() bool { code, v := s.Health(); return code == 200 && v == "v1" })
	}

	r := s.Upshift("upgrade", "--stack", s.Name+"-none", "-f", s.File, "--service", "app")
	if r.Code != 2 || !strings.Contains(r.Stderr, "no stack "+s.Name+"-none is deployed") || !strings.Contains(r.Stderr, "docker stack deploy -c "+s.File+" "+s.Name+"-none") {
		t.Errorf("a stack that is not deployed: %s", r)
	}

	// A failing migration updates nothing.
	s.Release(v2, []dockertest.Migration{mUsers, mBroken})
	r = s.Upshift(stackArgs(s, "v2", "--format", "json")...)
	doc := decode(t, r)
	if r.Code != 1 || doc["outcome"] != "failed" || doc["step"] != "setup" || !strings.Contains(r.Stdout, "no service was updated") {
		t.Errorf("failing migration: %s", r)
	}
	if setup := doc["setup"].(map[string]any); setup["exit_code"].(float64) == 0 {
		t.Errorf("setup exit code %v", setup["exit_code"])
	}
	expectV1("after a failed migration")
	if got := s.SQL("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'"); got != "0" {
		t.Errorf("the failed migration left its column (%s)", got)
	}

	// The swarm's monitor: v2's tasks never turn healthy; the swarm
	// rolls back by itself (failure_action rollback, upshift's default),
	// and upshift reports it as the failure it is.
	s.Release(dockertest.App{Version: "v2", Mode: "unhealthy"}, []dockertest.Migration{mUsers})
	r = s.Upshift(stackArgs(s, "v2", "--format", "json")...)
	doc = decode(t, r)
	if r.Code != 5 || doc["outcome"] != "rolled-back" || !strings.Contains(doc["error"].(map[string]any)["message"].(string), "rollback") {
		t.Errorf("unhealthy release: %s", r)
	}
	expectV1("after the swarm's own rollback")

	// upshift's version check: v3 runs and answers, but not the version
	// expected; upshift rolls the service back.
	s.Release(dockertest.App{Version: "v3", RequireColumn: "users.name"}, []dockertest.Migration{mUsers})
	r = s.Upshift(stackArgs(s, "v4", "--format", "json", "--health-timeout", "8s")...)
	doc = decode(t, r)
	if r.Code != 5 || doc["outcome"] != "rolled-back" || doc["step"] != "verify → rollback" || !strings.Contains(r.Stdout, `expected \"v4\"`) {
		t.Errorf("wrong version: %s", r)
	}
	if rb := doc["rollback"].(map[string]any); rb["outcome"] != "succeeded" {
		t.Errorf("rollback %v", rb)
	}
	expectV1("after upshift's rollback")
}

// startSlowUpgrade starts, in the background, an upgrade to a v2 whose
// migration takes seconds; its output goes to the builder.
func startSlowUpgrade(t *testing.T, s *dockertest.Stack) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	s.Release(v2, []dockertest.Migration{mUsers, mSlow})
	c := s.Command(stackArgs(s, "v2")...)
	out := &strings.Builder{}
	c.Stdout, c.Stderr = out, out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c, out
}

// Two runs at once from two state folders (two CD runners): the swarm
// config lock lets one through; the other exits 3 naming it, or waits for
// it. A lock a dead upshift on this machine left is taken over.
func TestStackLock(t *testing.T) {
	t.Parallel()
	s := deployedStack(t)
	first, out1 := startSlowUpgrade(t, s)
	lock := "upshift-lock-" + s.Name
	waitFor(t, 30*time.Second, func() bool { return exec.Command("docker", "config", "inspect", lock).Run() == nil })

	other := func(extra ...string) dockertest.Result {
		return dockertest.RunUpshift(t, s.Bins, s.Dir, append([]string{"UPSHIFT_STATE_DIR=" + t.TempDir()}, s.Env...), append(stackArgs(s, "v2"), extra...)...)
	}
	done := make(chan dockertest.Result, 1)
	go func() { done <- other("--lock-wait", "3m") }()
	r := other("--lock-wait", "0")
	if r.Code != 3 || !strings.Contains(r.Stderr, "another upgrade or rollback of stack "+s.Name) || !strings.Contains(r.Stderr, "its lease runs out") {
		t.Errorf("second runner: %s", r)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first runner: %v\n%s", err, out1.String())
	}
	waited := <-done
	if waited.Code != 0 || !strings.Contains(waited.Stderr, "waiting for the deploy lock of stack "+s.Name) {
		t.Errorf("the runner that waited: %s", waited)
	}
	if exec.Command("docker", "config", "inspect", lock).Run() == nil {
		t.Errorf("the lock %s was left behind", lock)
	}

	// An upshift that died on another machine left its lock, last
	// renewed two minutes ago: its lease ran out, and it is taken over.
	renewed := time.Now().Add(-2 * time.Minute).UTC().Format(time.RFC3339Nano)
	cfg := exec.Command("docker", "config", "create", "--label", `io.upshift.holder={"pid":999999,"host":"vanished-runner","user":"ci","command":"upshift upgrade"}`,
		"--label", "io.upshift.lease=30s", "--label", "io.upshift.renewed="+renewed, "--label", "io.upshift.stack="+s.Name, "--label", "io.upshift.kind=lock", lock, "-")
	cfg.Stdin = strings.NewReader("x")
	if out, err := cfg.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	doc := stackSucceeded(t, s, stackArgs(s, "v2", "--format", "json", "--lock-wait", "0")...)
	if notes, _ := json.Marshal(doc["notes"]); !strings.Contains(string(notes), "took over the deploy lock of stack "+s.Name+" from pid 999999 (ci@vanished-runner") {
		t.Errorf("notes %s", notes)
	}
}

// The same on a swarm of two engines (dockerd from Debian's docker.io in
// containers, vxlan between them): app's tasks on both nodes, the setup
// job wherever the swarm puts it, v1 → v2 through the proxy with no
// failed request, then rollback, every task back on v1.
func TestStackOnTwoNodes(t *testing.T) {
	t.Parallel()
	c := dockertest.NewCluster(t, 2)
	s := c.Stack()
	s.Release(v1, []dockertest.Migration{mUsers})
	s.Deploy()
	// The manager pulls the database's image (hundreds of MB) first.
	s.WaitDB()
	stackSucceeded(t, s, stackArgs(s, "v1", "--format", "json")...)
	v1Image := specImage(t, s, "app")
	nodes := func() map[string]string {
		out := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(s.Docker("service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.ID}} {{.Node}}", s.Service("app"))), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				out[f[1]] = strings.TrimSpace(s.Docker("inspect", "--format", "{{.Spec.ContainerSpec.Image}}", f[0]))
			}
		}
		return out
	}
	if n := nodes(); len(n) != 2 {
		t.Fatalf("app's tasks run on %v, want both nodes", n)
	}
	s.Release(v2, []dockertest.Migration{mUsers, mNickname})
	pr := startProber(s.HealthURL(), "v2")
	doc := stackSucceeded(t, s, stackArgs(s, "v2", "--format", "json")...)
	window, failed, total := pr.finish()
	t.Logf("prober: %d requests, %d failed, longest window without a 200: %s", total, failed, window)
	probed(t, total)
	if failed != 0 {
		t.Errorf("%d of %d requests through the proxy failed during the upgrade on two nodes", failed, total)
	}
	if !strings.Contains(doc["engine"].(string), "2 node(s)") {
		t.Errorf("engine %v", doc["engine"])
	}
	to := doc["services"].([]any)[0].(map[string]any)["to"].(map[string]any)["ref"].(string)
	for node, image := range nodes() {
		if image != to {
			t.Errorf("%s runs %s, want %s", node, image, to)
		}
	}
	if got := s.SQL("SELECT count(*) FROM drizzle.__drizzle_migrations"); got != "2" {
		t.Errorf("%s migration rows", got)
	}
	rb := s.Upshift("rollback", "--stack", s.Name, "-f", s.File, "--service", "app", "--health-url", s.HealthURL(), "--expect-version", "v1")
	if rb.Code != 0 {
		t.Fatalf("rollback: %s", rb)
	}
	if got := specImage(t, s, "app"); got != v1Image {
		t.Errorf("after rollback app's spec names %s, want %s", got, v1Image)
	}
	if n := nodes(); len(n) != 2 {
		t.Errorf("after rollback app's tasks run on %v", n)
	}
}

// upshift killed (kill -9) while its setup job migrates: the job goes on
// in the swarm; the rerun takes over the dead run's lock, waits for and
// removes its job, finishes the upgrade, and the history shows both runs.
func TestStackRerunAfterKill(t *testing.T) {
	t.Parallel()
	s := deployedStack(t)
	first, out := startSlowUpgrade(t, s)
	waitFor(t, 60*time.Second, func() bool {
		// This stack's job only: other tests' stacks run beside it.
		return strings.Contains(s.Docker("service", "ls", "--filter", "label=io.upshift.stack="+s.Name, "--format", "{{.Name}}"), "-upshift-setup-")
	})
	time.Sleep(time.Second)
	_ = first.Process.Kill()
	_ = first.Wait()

	// The dead run's lock is taken over once its lease runs out.
	doc := stackSucceeded(t, s, stackArgs(s, "v2", "--format", "json", "--lock-wait", "2m")...)
	notes := strings.Join(func() []string {
		var n []string
		for _, x := range doc["notes"].([]any) {
			n = append(n, x.(string))
		}
		return n
	}(), "\n")
	for _, want := range []string{"took over the deploy lock of stack " + s.Name, "-upshift-setup-", "a job a dead run left", "found an unfinished upgrade", "had applied 0001_nickname before it died"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s\n(killed run: %s)", want, notes, out.String())
		}
	}
	if got := s.SQL("SELECT count(*) FROM drizzle.__drizzle_migrations"); got != "2" {
		t.Errorf("%s migration rows, want 2 (the dead run's job finished its migration, once)", got)
	}
	waitFor(t, 30*time.Second, func() bool { code, v := s.Health(); return code == 200 && v == "v2" })
	runs := history(t, s.Project, "--stack", s.Name)
	if len(runs) < 2 || runs[1]["outcome"] != "interrupted" || runs[0]["resumes"] != runs[1]["id"] {
		t.Fatalf("history: %v / %v", runs[0], runs[1])
	}
	// The dead run's migration is its own in the history, the rerun's
	// applied none: read as what its check found pending and is no more.
	if setup := runs[1]["setup"].(map[string]any); fmt.Sprint(setup["migrations_applied"]) != "[0001_nickname]" || setup["migrations_source"] != "pending" {
		t.Errorf("the killed run's setup in the history: %v", setup)
	}
	if setup := runs[0]["setup"].(map[string]any); len(setup["migrations_applied"].([]any)) != 0 {
		t.Errorf("the rerun claims %v", setup["migrations_applied"])
	}
}

// A SIGTERM while the swarm replaces the tasks: the run stops following
// the update, and puts the service back (the swarm's update is let to
// settle first) — exit 5, v1 serving on every task.
func TestStackSIGTERMDuringUpdateRollsBack(t *testing.T) {
	t.Parallel()
	s := deployedStack(t)
	v1Image := specImage(t, s, "app")
	s.Release(v2, []dockertest.Migration{mUsers, mNickname})
	c := s.Command(stackArgs(s, "v2", "--format", "json")...)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, func() bool {
		state, _ := dockertest.RunErr("", s.Env, "docker", "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", s.Service("app"))
		return strings.TrimSpace(state) == "updating"
	})
	_ = c.Process.Signal(syscall.SIGTERM)
	err := c.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	var doc map[string]any
	if jerr := json.Unmarshal([]byte(out.String()), &doc); jerr != nil || code != 5 || doc["outcome"] != "rolled-back" || !strings.Contains(doc["error"].(map[string]any)["message"].(string), "interrupted during update") {
		t.Fatalf("SIGTERM during the update: exit %d, %v\n%s\n%s", code, jerr, out.String(), errb.String())
	}
	if got := specImage(t, s, "app"); got != v1Image {
		t.Errorf("app's spec names %s, want %s", got, v1Image)
	}
	waitFor(t, 30*time.Second, func() bool { code, v := s.Health(); return code == 200 && v == "v1" })
	for task := range stackTasks(t, s, "app") {
		if !strings.HasPrefix(task, v1Image+" ") {
			t.Errorf("task %s does not run v1", task)
		}
	}
}
