package upgrade_test

// End-to-end: the real upshift binary drives the real `docker compose` CLI
// against the real engine, with images pulled from a real registry on
// 127.0.0.1:5000 and a real PostgreSQL container migrated by a db-setup image
// that runs `upshift migrate`. See internal/harness/dockertest.

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/upgrade"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m) // stops the PostgreSQL server the backup tests started
	dockertest.Cleanup()
	os.Exit(code)
}

var (
	mUsers    = dockertest.Migration{Tag: "0000_users", SQL: "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);"}
	mNickname = dockertest.Migration{Tag: "0001_nickname", SQL: "ALTER TABLE users ADD COLUMN nickname text;"}
	// Fails at its second statement; --tx all rolls the whole batch back.
	mBroken = dockertest.Migration{Tag: "0001_nickname", SQL: "ALTER TABLE users ADD COLUMN nickname text;\n--> statement-breakpoint\nSELECT 1/0;"}
	// Slow enough to kill upshift while it runs.
	mSlow = dockertest.Migration{Tag: "0001_nickname", SQL: "SELECT pg_sleep(6);\n--> statement-breakpoint\nALTER TABLE users ADD COLUMN nickname text;"}

	v1 = dockertest.App{Version: "v1", RequireColumn: "users.name"}
	v2 = dockertest.App{Version: "v2", RequireColumn: "users.nickname"}
)

// deployed returns a project running v1 (deployed by upshift itself: the
// first upgrade of a project with nothing running).
func deployed(t *testing.T) *dockertest.Project {
	t.Helper()
	p := dockertest.NewProject(t)
	p.Release(v1, []dockertest.Migration{mUsers})
	r := p.Upshift("upgrade", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1")
	if r.Code != 0 {
		t.Fatalf("first deploy of v1: %s", r)
	}
	expectServing(t, p, "v1")
	return p
}

// upgradeArgs upgrade with the stop-start strategy, whose every path the
// tests below take; defaultArgs leave the strategy to upshift.
func upgradeArgs(p *dockertest.Project, version string, extra ...string) []string {
	return append(defaultArgs(p, version, "--strategy", "stop-start"), extra...)
}

func defaultArgs(p *dockertest.Project, version string, extra ...string) []string {
	args := []string{"upgrade", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", version, "--health-timeout", "20s"}
	return append(args, extra...)
}

// The default strategy on the test deployment (a fixed host port): the
// migration runs while v1 serves, behind the gate, then the swap; the run
// records which strategy and why. A contracting release falls back to
// stop-start instead of failing.
func TestDefaultStrategyIsTheLeastDowntime(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	doc := succeeded(t, p, defaultArgs(p, "v2", "--format", "json")...)
	expectServing(t, p, "v2")
	steps := stepNames(doc)
	if got := strings.Join(steps, ","); got != "pin,pull,gate,setup,start,verify" {
		t.Errorf("steps %s", got)
	}
	if doc["strategy"] != "migrate-first" || !strings.Contains(doc["strategy_reason"].(string), "publishes host port") {
		t.Errorf("strategy %v: %v", doc["strategy"], doc["strategy_reason"])
	}
	// v3 drops what v2 reads: stop-start, and it says why.
	drop := dockertest.Migration{Tag: "0002_drop_name", SQL: "ALTER TABLE users DROP COLUMN name;"}
	p.Release(dockertest.App{Version: "v3", RequireColumn: "users.nickname"}, []dockertest.Migration{mUsers, mNickname, drop})
	doc = succeeded(t, p, defaultArgs(p, "v3", "--format", "json")...)
	steps = stepNames(doc)
	if got := strings.Join(steps, ","); got != "pin,pull,gate,stop,setup,start,verify" || doc["strategy"] != "stop-start" || !strings.Contains(doc["strategy_reason"].(string), "contract the schema") {
		t.Errorf("steps %s, strategy %v: %v", got, doc["strategy"], doc["strategy_reason"])
	}
	if h := history(t, p); h[0]["strategy"] != "stop-start" || h[1]["strategy"] != "migrate-first" {
		t.Errorf("history strategies %v %v", h[0]["strategy"], h[1]["strategy"])
	}
}

// succeeded runs upshift with args (a --format json run), fails the test
// unless it exits 0, and returns its document.
func succeeded(t *testing.T, p *dockertest.Project, args ...string) map[string]any {
	t.Helper()
	r := p.Upshift(args...)
	if r.Code != 0 {
		t.Fatalf("upshift %s: %s", strings.Join(args, " "), r)
	}
	return decode(t, r)
}

// stepNames are the names of a run document's steps, in order.
func stepNames(doc map[string]any) []string {
	var names []string
	for _, s := range doc["steps"].([]any) {
		names = append(names, s.(map[string]any)["name"].(string))
	}
	return names
}

func decode(t *testing.T, r dockertest.Result) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r)
	}
	return doc
}

func appliedMigrations(p *dockertest.Project) string {
	return p.SQL("SELECT string_agg(id::text, ',' ORDER BY id) FROM drizzle.__drizzle_migrations")
}

// history is the newest runs (20, upshift's default; extra flags such as
// --limit 0 for all).
func history(t *testing.T, p *dockertest.Project, extra ...string) []map[string]any {
	t.Helper()
	r := p.Upshift(append([]string{"history", "--format", "json"}, extra...)...)
	if r.Code != 0 {
		t.Fatalf("history: %s", r)
	}
	var doc struct {
		Runs []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("history JSON: %v\n%s", err, r)
	}
	return doc.Runs
}

func TestUpgradeHappyPath(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})

	doc := succeeded(t, p, upgradeArgs(p, "v2", "--format", "json")...)
	expectServing(t, p, "v2")
	if doc["outcome"] != "succeeded" || doc["exit_code"].(float64) != 0 {
		t.Errorf("outcome %v exit_code %v", doc["outcome"], doc["exit_code"])
	}
	setup := doc["setup"].(map[string]any)
	if ms := setup["migrations_applied"].([]any); len(ms) != 1 || ms[0] != "0001_nickname" {
		t.Errorf("migrations_applied = %v, want [0001_nickname]", ms)
	}
	svc := doc["services"].([]any)[0].(map[string]any)
	from, to := svc["from"].(map[string]any), svc["to"].(map[string]any)
	if from["id"] == to["id"] {
		t.Errorf("from and to are the same image %v", from["id"])
	}
	if pin, _ := from["pin"].(string); !strings.HasPrefix(pin, "upshift.local/"+p.Name+"/app:") {
		t.Errorf("previous image not pinned: %v", from)
	}
	steps := stepNames(doc)
	if got := strings.Join(steps, ","); got != "pin,pull,stop,setup,start,verify" {
		t.Errorf("steps %s", got)
	}
	if got := appliedMigrations(p); got != "1,2" {
		t.Errorf("migration rows %q, want 1,2", got)
	}
	// The one-shot container is gone; the database was not touched.
	if out := p.Compose("ps", "-a", "--format", "{{.Service}}"); strings.Contains(out, "db-setup") {
		t.Errorf("the setup container was left behind:\n%s", out)
	}
	if len(p.Running("db")) != 1 {
		t.Errorf("the database is not running")
	}
	h := history(t, p)
	if len(h) != 2 || h[0]["outcome"] != "succeeded" || h[0]["kind"] != "upgrade" {
		t.Errorf("history: %v", h)
	}
}

func TestUpgradeTextOutput(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	// As a GitHub Actions step: groups, summary and outputs as well.
	gh := t.TempDir()
	c := p.Command(upgradeArgs(p, "v2")...)
	c.Env = append(c.Env, "GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY="+gh+"/summary.md", "GITHUB_OUTPUT="+gh+"/output")
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("upgrade: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"✓ pin", "✓ pull", "✓ stop", "✓ setup", "✓ start", "✓ verify",
		"db-setup | applied   0001_nickname",
		"migrations applied: 0001_nickname",
		p.Repo + "/app:latest",
		"version v2",
		"undo with: upshift rollback -p " + p.Name + " --service app",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, want := range []string{"::add-mask::e2e-session-secret-never-printed", "::group::pull: pull the new images", "::group::setup: run db-setup once", "::endgroup::"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	summary, _ := os.ReadFile(gh + "/summary.md")
	for _, want := range []string{"### upshift upgrade of " + p.Name + ": succeeded", "| app | " + p.Repo + "/app:latest", "Migrations applied by db-setup: `0001_nickname`"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	outputs, _ := os.ReadFile(gh + "/output")
	for _, want := range []string{"outcome=succeeded", "exit-code=0", "migrations-applied=0001_nickname", "run-id=20"} {
		if !strings.Contains(string(outputs), want) {
			t.Errorf("outputs lack %q:\n%s", want, outputs)
		}
	}
}

func TestUpgradePullFailureChangesNothing(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	before := p.Running("app")
	// A tag that was never pushed.
	cmd := upgradeArgs(p, "v9", "--format", "json")
	c := p.Command(cmd...)
	c.Env = append(c.Env, "APP_TAG=v9-never-pushed")
	out, _ := c.Output()
	code := c.ProcessState.ExitCode()
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err, string(out))
	}
	if doc["outcome"] != "failed" || doc["step"] != "pull" {
		t.Errorf("outcome %v at step %v, want failed at pull", doc["outcome"], doc["step"])
	}
	if after := p.Running("app"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("containers changed: %v → %v", before, after)
	}
	expectServing(t, p, "v1")
}

func TestUpgradeFailingMigrationRollsBack(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mBroken})
	r := p.Upshift(upgradeArgs(p, "v2")...)
	if r.Code != 5 {
		t.Fatalf("exit %d, want 5 (rolled back)\n%s", r.Code, r)
	}
	expectServing(t, p, "v1")
	if got := appliedMigrations(p); got != "1" {
		t.Errorf("migration rows %q, want only 1: the failed batch must leave the database as it was", got)
	}
	if got := p.SQL("SELECT count(*) FROM information_schema.columns WHERE table_name='users' AND column_name='nickname'"); got != "0" {
		t.Errorf("users.nickname exists after a rolled-back migration")
	}
	for _, want := range []string{"db-setup | ", "division by zero", "✗ setup", "rollback: succeeded", "FAILED during setup"} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	// In a workflow the failure is an annotation and the summary says it was rolled back.
	gh := t.TempDir()
	c := p.Command(upgradeArgs(p, "v2")...)
	c.Env = append(c.Env, "GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY="+gh+"/summary.md", "GITHUB_OUTPUT="+gh+"/output")
	out, _ := c.CombinedOutput()
	if !strings.Contains(string(out), "::error title=upshift upgrade failed (exit 5)::setup service db-setup exited with code 1") {
		t.Errorf("no annotation:\n%s", out)
	}
	if summary, _ := os.ReadFile(gh + "/summary.md"); !strings.Contains(string(summary), "FAILED during setup → rollback; the previous images run again and answer") {
		t.Errorf("summary:\n%s", summary)
	}
}

func TestUpgradeUnhealthyRollsBack(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(dockertest.App{Version: "v2", Mode: "unhealthy"}, []dockertest.Migration{mUsers, mNickname})
	r := p.Upshift(upgradeArgs(p, "v2", "--health-timeout", "8s", "--format", "json")...)
	if r.Code != 5 {
		t.Fatalf("exit %d, want 5\n%s", r.Code, r)
	}
	doc := decode(t, r)
	if doc["outcome"] != "rolled-back" {
		t.Errorf("outcome %v", doc["outcome"])
	}
	if !strings.Contains(doc["error"].(map[string]any)["message"].(string), "HTTP 500") {
		t.Errorf("error does not say what the health URL answered: %v", doc["error"])
	}
	expectServing(t, p, "v1")
	// The migration is not reverted, and the report says so.
	if got := appliedMigrations(p); got != "1,2" {
		t.Errorf("migration rows %q, want 1,2", got)
	}
	if notes := doc["notes"].([]any); len(notes) == 0 || !strings.Contains(notes[0].(string), "0001_nickname stay applied") {
		t.Errorf("notes %v should say the migration stays applied", notes)
	}
}

func TestUpgradeWrongVersionRollsBack(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	r := p.Upshift(upgradeArgs(p, "v3", "--health-timeout", "6s")...)
	if r.Code != 5 {
		t.Fatalf("exit %d, want 5\n%s", r.Code, r)
	}
	if !strings.Contains(r.Stderr, `answered version "v2", expected "v3"`) {
		t.Errorf("the error does not name both versions:\n%s", r)
	}
	expectServing(t, p, "v1")
}

func TestUpgradeCrashingContainerFailsFast(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(dockertest.App{Version: "v2", Mode: "crash"}, []dockertest.Migration{mUsers, mNickname})
	start := time.Now()
	r := p.Upshift(upgradeArgs(p, "v2", "--health-timeout", "60s")...)
	if r.Code != 5 {
		t.Fatalf("exit %d, want 5\n%s", r.Code, r)
	}
	if !strings.Contains(r.Stderr, "exited with code 1") || !strings.Contains(r.Stderr, "APP_MODE=crash") {
		t.Errorf("the error does not say the container exited and what it printed:\n%s", r)
	}
	// The service printed SESSION_SECRET from the compose file; upshift
	// repeats its last lines but never the secret.
	if strings.Contains(r.Stdout+r.Stderr, "e2e-session-secret-never-printed") || !strings.Contains(r.Stderr, "SESSION_SECRET=xxxxx") {
		t.Errorf("the compose file's secret leaked (or the line was dropped):\n%s", r)
	}
	if time.Since(start) > 50*time.Second {
		t.Errorf("a crashed container waited out the health timeout instead of failing fast")
	}
	expectServing(t, p, "v1")
}

func TestRollbackAfterSuccess(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	composeBefore, _ := os.ReadFile(p.File)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	if r := p.Upshift(upgradeArgs(p, "v2")...); r.Code != 0 {
		t.Fatalf("upgrade: %s", r)
	}
	r := p.Upshift("rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1", "--health-timeout", "20s")
	if r.Code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	expectServing(t, p, "v1")
	if after, _ := os.ReadFile(p.File); string(after) != string(composeBefore) {
		t.Errorf("the compose file changed")
	}
	h := history(t, p)
	if len(h) != 3 || h[0]["kind"] != "rollback" || h[0]["outcome"] != "succeeded" {
		t.Fatalf("history: %v", h)
	}
	if h[1]["rolled_back_by"] != h[0]["id"] {
		t.Errorf("the upgrade is not marked as rolled back: %v", h[1]["rolled_back_by"])
	}
	// A rollback with nothing left to undo says so.
	r = p.Upshift("rollback", "--service", "app", "--health-url", p.HealthURL())
	if r.Code != 1 || !strings.Contains(r.Stderr, "no upgrade of app is recorded") {
		t.Errorf("second rollback: %s", r)
	}
}

func TestRollbackSurvivesImagePrune(t *testing.T) {
	t.Parallel()
	p := dockertest.NewProject(t)
	mine := dockertest.App{Version: "v1", RequireColumn: "users.name", Build: p.Name}
	p.Release(mine, []dockertest.Migration{mUsers})
	if r := p.Upshift(upgradeArgs(p, "v1")...); r.Code != 0 {
		t.Fatalf("deploy v1: %s", r)
	}
	v1ID := imageOf(t, p)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	if r := p.Upshift(upgradeArgs(p, "v2")...); r.Code != 0 {
		t.Fatalf("upgrade: %s", r)
	}
	// Remove every tag of v1's image but upshift's pin, as `docker image
	// prune -a` or a cleanup job would: without the pin the image is gone.
	for _, tag := range []string{p.Repo + "/app:v1", dockertest.AppTag(mine)} {
		dockertest.Run(t, "", nil, "docker", "rmi", "--no-prune", tag)
	}
	tags := dockertest.Run(t, "", nil, "docker", "image", "inspect", "--format", "{{join .RepoTags \" \"}}", v1ID)
	if !strings.HasPrefix(strings.TrimSpace(tags), "upshift.local/"+p.Name+"/app:") {
		t.Fatalf("v1's image should be held by the pin alone, has tags %q", tags)
	}
	r := p.Upshift("rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1")
	if r.Code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	expectServing(t, p, "v1")
}

func TestConcurrentUpgradesTakeTurns(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(dockertest.App{Version: "v2", RequireColumn: "users.nickname"}, []dockertest.Migration{mUsers, mSlow})
	first := p.Command(upgradeArgs(p, "v2")...)
	var out1 strings.Builder
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return fileExists(p.StateDir + "/" + p.Name + "/run.json") })
	r := p.Upshift(upgradeArgs(p, "v2", "--lock-wait", "0", "--format", "json")...)
	if r.Code != 3 {
		t.Errorf("second upgrade: exit %d, want 3\n%s", r.Code, r)
	}
	if msg := decode(t, r)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "pid ") || !strings.Contains(msg, "upshift upgrade") {
		t.Errorf("the lock error does not name the holder: %s", msg)
	}
	// A third waits, says who it waits for, and goes on when the first ends.
	r3 := p.Upshift(upgradeArgs(p, "v2", "--lock-wait", "2m")...)
	if err := first.Wait(); err != nil {
		t.Fatalf("first upgrade: %v\n%s", err, out1.String())
	}
	if r3.Code != 0 {
		t.Errorf("third upgrade: %s", r3)
	}
	if !strings.Contains(r3.Stderr, "waiting for the deploy lock") {
		t.Errorf("the waiting upgrade did not say so:\n%s", r3.Stderr)
	}
}

func TestKilledUpgradeIsFinishedByTheNextRun(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	v1ID := imageOf(t, p)
	p.Release(v2, []dockertest.Migration{mUsers, mSlow})
	c := p.Command(upgradeArgs(p, "v2")...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it while the setup service migrates: app is stopped by then.
	waitFor(t, 60*time.Second, func() bool {
		b, _ := os.ReadFile(p.StateDir + "/" + p.Name + "/run.json")
		return strings.Contains(string(b), `"step": "setup"`)
	})
	time.Sleep(500 * time.Millisecond)
	_ = c.Process.Signal(syscall.SIGKILL)
	_ = c.Wait()
	if len(p.Running("app")) != 0 {
		t.Log("app still running after the kill (stop had not finished)")
	}
	// history sees the unfinished run: under way as far as anyone can
	// tell until its lease runs out, and says so.
	h := history(t, p)
	if h[0]["outcome"] != "running" || h[0]["step"] != "setup" || !strings.Contains(h[0]["error"].(string), "if that upshift died, its lease runs out within 30s") {
		t.Errorf("history does not show the unfinished run: %v", h[0])
	}
	r := p.Upshift(upgradeArgs(p, "v2", "--format", "json")...)
	if r.Code != 0 {
		t.Fatalf("rerun: %s", r)
	}
	if !strings.Contains(r.Stdout, "found an unfinished upgrade") {
		t.Errorf("the rerun did not say it found the unfinished run")
	}
	doc := decode(t, r)
	from := doc["services"].([]any)[0].(map[string]any)["from"].(map[string]any)
	if from["id"] != v1ID {
		t.Errorf("the rollback target is %v, want v1's image %s (what ran before the killed run)", from["id"], v1ID)
	}
	expectServing(t, p, "v2")
	h = history(t, p)
	if len(h) != 3 || h[1]["outcome"] != "interrupted" || h[0]["resumes"] != h[1]["id"] {
		t.Errorf("history: %v", h)
	}
	// And a rollback now goes back to v1, not to the half-done state.
	if r := p.Upshift("rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1"); r.Code != 0 {
		t.Errorf("rollback: %s", r)
	}
}

func TestSIGTERMMidUpgradeRollsBack(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mSlow})
	c := p.Command(upgradeArgs(p, "v2")...)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool {
		b, _ := os.ReadFile(p.StateDir + "/" + p.Name + "/run.json")
		return strings.Contains(string(b), `"step": "setup"`)
	})
	time.Sleep(time.Second)
	_ = c.Process.Signal(syscall.SIGTERM)
	_ = c.Wait()
	if code := c.ProcessState.ExitCode(); code != 5 {
		t.Fatalf("exit %d, want 5 (rolled back)\n%s", code, out.String())
	}
	expectServing(t, p, "v1")
	h := history(t, p)
	if h[0]["outcome"] != "rolled-back" {
		t.Errorf("history: %v", h[0])
	}
}

func TestBadProjectIsRefusedBeforeAnything(t *testing.T) {
	t.Parallel()
	p := dockertest.NewProject(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"upgrade", "--service", "nope"}, `service "nope" is not defined`},
		{[]string{"upgrade", "--service", "app", "--setup-service", "db"}, "never finishes"},
		{[]string{"upgrade", "--service", "app", "-f", "missing.yaml"}, "missing.yaml"},
	} {
		if tc.want == "never finishes" {
			// db has no restart policy: give it one to make it a non-one-shot.
			override := p.Dir + "/restart.yaml"
			_ = os.WriteFile(override, []byte("services:\n  db:\n    restart: always\n"), 0o644)
			tc.args = append(tc.args, "-f", "compose.yaml", "-f", override)
		}
		r := p.Upshift(append(tc.args, "--format", "json")...)
		if r.Code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", tc.args, r.Code, r)
			continue
		}
		doc := decode(t, r)
		if msg := doc["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tc.want) {
			t.Errorf("%v: error %q lacks %q", tc.args, msg, tc.want)
		}
	}
	if out := p.Compose("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("a refused upgrade created containers:\n%s", out)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	r := p.Upshift(upgradeArgs(p, "v2", "--dry-run")...)
	if r.Code != 0 {
		t.Fatalf("dry run: %s", r)
	}
	for _, want := range []string{"docker compose -f " + p.File, " pull app db-setup", " stop app", "--profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup", "up -d --no-deps --pull never app"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.Stdout)
		}
	}
	expectServing(t, p, "v1")
	if got := appliedMigrations(p); got != "1" {
		t.Errorf("a dry run migrated: %s", got)
	}
	if len(history(t, p)) != 1 {
		t.Errorf("a dry run was recorded in the history")
	}
}

// expectServing fails the test unless the app answers 200 with version.
func expectServing(t *testing.T, p *dockertest.Project, version string) {
	t.Helper()
	if code, v := p.Health(); code != 200 || v != version {
		t.Errorf("the app answers %d with version %q; want 200 with %q", code, v, version)
	}
}

func imageOf(t *testing.T, p *dockertest.Project) string {
	t.Helper()
	names := p.Running("app")
	if len(names) == 0 {
		t.Fatal("app is not running")
	}
	return strings.TrimSpace(dockertest.Run(t, "", nil, "docker", "inspect", "--format", "{{.Image}}", names[0]))
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

var _ = upgrade.PinRef

func TestRollbackFromAnotherCheckout(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	if r := p.Upshift(upgradeArgs(p, "v2")...); r.Code != 0 {
		t.Fatalf("upgrade: %s", r)
	}
	// A second checkout of the same project elsewhere on the host (say, the
	// on-call engineer's): same project name, its own copy of the files.
	other := t.TempDir()
	for _, f := range []string{"compose.yaml", ".env"} {
		b, err := os.ReadFile(p.Dir + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(other+"/"+f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := p.Command("rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1")
	c.Dir = other
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("rollback from %s: %v\n%s", other, err, out)
	}
	expectServing(t, p, "v1")
}

// TestFailedFirstDeployExits6: nothing ran before, so there is nothing to
// put back: the failure is reported as a failed rollback (exit 6), saying why.
func TestFailedFirstDeployExits6(t *testing.T) {
	t.Parallel()
	p := dockertest.NewProject(t)
	p.Release(dockertest.App{Version: "v1", Mode: "crash"}, []dockertest.Migration{mUsers})
	r := p.Upshift("upgrade", "--service", "app", "--health-url", p.HealthURL(), "--health-timeout", "20s", "--format", "json")
	if r.Code != 6 {
		t.Fatalf("exit %d, want 6\n%s", r.Code, r)
	}
	doc := decode(t, r)
	rb, _ := doc["rollback"].(map[string]any)
	if doc["outcome"] != "rollback-failed" || rb == nil || !strings.Contains(rb["error"].(string), "nothing ran before this upgrade") {
		t.Errorf("outcome %v, rollback %v", doc["outcome"], doc["rollback"])
	}
}
