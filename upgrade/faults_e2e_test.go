package upgrade_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// A health URL that cannot work is refused before the lock, the pin, the
// pull or the stop: exit 2, v1 serves on the same container.
func TestBadHealthURLsRefusedBeforeAnyChange(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	before := p.Running("app")
	for _, url := range []string{"not a url", strings.TrimPrefix(p.HealthURL(), "http://"), "ftp://127.0.0.1/health"} {
		r := p.Upshift("upgrade", "--service", "app", "--health-url", url, "--expect-version", "v2", "--format", "json")
		if r.Code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", url, r.Code, r)
			continue
		}
		if msg := decode(t, r)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "nothing was changed") {
			t.Errorf("%q: %s", url, msg)
		}
	}
	expectServing(t, p, "v1")
	if after := p.Running("app"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("containers changed: %v → %v", before, after)
	}
	if h := history(t, p); len(h) != 1 {
		t.Errorf("refused runs are in the history: %d runs", len(h))
	}
	if appliedMigrations(p) != "1" {
		t.Errorf("migrations ran: %s", appliedMigrations(p))
	}
}

// A release whose health answers 200 and then 500, in turn, is not kept.
func TestFlappingReleaseIsRolledBack(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(dockertest.App{Version: "v2", Mode: "flap", RequireColumn: "users.name"}, []dockertest.Migration{mUsers})
	r := p.Upshift(upgradeArgs(p, "v2", "--format", "json")...)
	if r.Code != 5 {
		t.Fatalf("exit %d, want 5\n%s", r.Code, r)
	}
	if msg := decode(t, r)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "not stable") && !strings.Contains(msg, "HTTP 500") {
		t.Errorf("error %q", msg)
	}
	expectServing(t, p, "v1")
}

// Progress reaches a pipe as it happens: the first step's line is read
// while upshift still runs.
func TestProgressArrivesThroughAPipe(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	p.Release(v2, []dockertest.Migration{mUsers, mSlow})
	c := p.Command(upgradeArgs(p, "v2")...)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sawSetup, watched, applied := false, false, false
	var lines []string
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if strings.HasPrefix(line, "→ setup") && !sawSetup {
			sawSetup = true
			// The setup migrates for 6 s: the run cannot have ended.
			if _, err := os.Stat(filepath.Join(p.StateDir, p.Name, "run.json")); err != nil {
				t.Errorf("read the setup line after the run ended")
			}
		}
		// The migrator in the setup container says what its long
		// statement is doing, and it streams through before it ends.
		if strings.Contains(line, "db-setup | upshift: 0001_nickname statement 1 (") && strings.Contains(line, "running for") && !applied {
			watched = true
		}
		if strings.Contains(line, "db-setup | applied   0001_nickname") {
			applied = true
		}
	}
	_, _ = io.Copy(io.Discard, out)
	if err := c.Wait(); err != nil || !sawSetup || !watched || !applied {
		t.Fatalf("%v, saw setup: %v, the long statement reported before it was applied: %v, applied: %v\n%s", err, sawSetup, watched, applied, strings.Join(lines, "\n"))
	}
}

// The fault-injection suite: kill -9 and SIGTERM at points chosen from the
// journal's steps, of upgrade (the default strategy, and stop-start's own
// steps) and of rollback, each followed by history and
// a plain rerun; then a version answers, the app's image is the one the
// history says, the migrations table holds what the history says was
// applied, no lock, journal or one-off container is left, and the rerun
// ends 0 on the expected version. Seeded (UPSHIFT_FAULT_SEED) and
// repeatable; UPSHIFT_FAULT_RUNS=all runs every point (make faults), the
// default a sample of a few.
func TestFaultInjection(t *testing.T) {
	// A dead run's lock is taken over after its lease: 5 s here instead
	// of 30, so that a hundred kills take minutes, not an hour.
	t.Setenv("UPSHIFT_LEASE", "5s")
	// The default upgrade (migrate-first on this deployment), the
	// stop-start one's own steps, and rollback.
	seed, points, runs := faultPoints(t, 1, "UPSHIFT_FAULT_RUNS", 6,
		[2]string{"upgrade", "pin pull gate setup start verify"}, [2]string{"stop-start", "stop setup"}, [2]string{"rollback", "pin rollback verify"})
	p := deployed(t)
	var migrations = []dockertest.Migration{mUsers}
	runPoints(t, "fault injection", seed, points[:runs], func(t *testing.T, i int, pt faultPoint) {
		migrations = append(migrations, faultMigration(len(migrations), i))
		p.Release(v2, migrations)
		args := defaultArgs(p, "v2")
		if pt.kind == "stop-start" {
			args = upgradeArgs(p, "v2")
		}
		want := "v2"
		if pt.kind == "rollback" {
			if r := p.Upshift(args...); r.Code != 0 {
				t.Fatalf("the upgrade before the rollback: %s", r)
			}
			args = []string{"rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1", "--health-timeout", "20s"}
			want = "v1"
		}
		rows0, recorded0 := tally(t, p)
		hit := interrupt(t, p.Command(args...), filepath.Join(p.StateDir, p.Name, "run.json"), pt.step, pt.sig, pt.offset)
		t.Logf("signal landed during %q", hit)
		if r := p.Upshift("history", "--format", "json"); r.Code != 0 {
			t.Fatalf("history after the fault: %s", r)
		}
		// A rollback that a SIGTERM reached finishes first (nothing
		// would serve half way): then it is done, and a rerun would
		// roll back one more upgrade.
		if h := fullHistory(t, p); pt.kind == "rollback" && h[0]["kind"] == "rollback" && h[0]["outcome"] == "succeeded" && h[0]["resumes"] == "" {
			t.Logf("the interrupted rollback finished itself: %v", h[0]["notes"])
		} else if r := rerunner(t, p, i).upshift(t, append(args, "--format", "json")...); r.Code != 0 {
			t.Fatalf("plain rerun: %s", r)
		} else {
			exitCodesAgree(t, p, r)
		}
		expectServing(t, p, want)
		checkConsistent(t, p, rows0, recorded0)
		if pt.kind != "rollback" {
			// Back to v1 for the next point (a recorded rollback).
			if r := p.Upshift("rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1"); r.Code != 0 {
				t.Fatalf("rollback to v1 for the next point: %s", r)
			}
		}
	})
}

// runPoints runs each point as a subtest and logs how many ran and how
// many of those ended consistent. Counted as they run: a -run filter skips
// some, and t.Run reports a skipped subtest as passed.
func runPoints(t *testing.T, suite string, seed uint64, points []faultPoint, each func(t *testing.T, i int, pt faultPoint)) {
	ran, consistent := 0, 0
	for i, pt := range points {
		before := ran
		ok := t.Run(pt.name(i), func(t *testing.T) {
			ran++
			each(t, i, pt)
		})
		if ok && ran > before {
			consistent++
		}
	}
	t.Logf("%s, seed %d: %d runs, %d consistent", suite, seed, ran, consistent)
}

// faultPoint is where a fault lands: a kind of run, one of its steps, a
// signal and how long after the step began.
type faultPoint struct {
	kind, step string
	sig        syscall.Signal
	offset     time.Duration
}

func (pt faultPoint) name(i int) string {
	return fmt.Sprintf("%02d-%s-%s-%s-%s", i, pt.kind, pt.step, strings.ToLower(pt.sig.String()), pt.offset)
}

// faultMigration is the new migration each point's upgrade brings: one
// that takes a while, so that a signal can land inside it.
func faultMigration(n, i int) dockertest.Migration {
	return dockertest.Migration{Tag: fmt.Sprintf("%04d_fault_%d", n, i),
		SQL: fmt.Sprintf("SELECT pg_sleep(1.5);\n--> statement-breakpoint\nALTER TABLE users ADD COLUMN IF NOT EXISTS nickname text;\n--> statement-breakpoint\nCREATE TABLE fault_%d (id int);", i)}
}

// faultPoints lays out kill -9, SIGTERM and CI's cancel sequence at the start of, and somewhere
// into, every step of each kind ({kind, its steps}, in order), seeded by
// UPSHIFT_FAULT_SEED (stream tells the suites' draws apart); all of them
// with UPSHIFT_FAULT_RUNS=all, else a shuffled sample of sample (or the
// count in sampleEnv).
func faultPoints(t *testing.T, stream uint64, sampleEnv string, sample int, kinds ...[2]string) (seed uint64, points []faultPoint, runs int) {
	// A new draw every run, printed: UPSHIFT_FAULT_SEED replays one.
	seed, _ = strconv.ParseUint(os.Getenv("UPSHIFT_FAULT_SEED"), 10, 64)
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()%1_000_000) + 1
	}
	rng := rand.New(rand.NewPCG(seed, stream))
	for _, k := range kinds {
		for _, step := range strings.Fields(k[1]) {
			// SIGINT stands for CI's cancel: SIGINT, SIGTERM 2 s later,
			// SIGKILL 2.5 s after that (interrupt).
			for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT} {
				points = append(points, faultPoint{k[0], step, sig, 0},
					faultPoint{k[0], step, sig, time.Duration(1+rng.IntN(1500)) * time.Millisecond})
			}
		}
	}
	runs = len(points)
	if os.Getenv("UPSHIFT_FAULT_RUNS") != "all" {
		runs = sample
		if n, err := strconv.Atoi(os.Getenv(sampleEnv)); err == nil {
			runs = n
		}
		rng.Shuffle(len(points), func(i, j int) { points[i], points[j] = points[j], points[i] })
	}
	t.Logf("seed %d: %d of %d points (UPSHIFT_FAULT_SEED=%d replays this draw)", seed, runs, len(points), seed)
	return seed, points, min(runs, len(points))
}

// interrupt starts upshift (c) and sends sig offset after its journal
// first shows step running (or at once when the run is past it); it
// returns the step the journal showed when the signal landed.
func interrupt(t *testing.T, c *exec.Cmd, journal string, step string, sig syscall.Signal, offset time.Duration) string {
	t.Helper()
	c.Stdout, c.Stderr = io.Discard, io.Discard
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	seen := func() (string, bool) {
		b, err := os.ReadFile(journal)
		if err != nil {
			return "", false
		}
		var r struct {
			Step  string `json:"step"`
			Steps []struct {
				Name string `json:"name"`
			} `json:"steps"`
		}
		if json.Unmarshal(b, &r) != nil {
			return "", false
		}
		for _, s := range r.Steps {
			if s.Name == step {
				return r.Step, true
			}
		}
		return r.Step, false
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, ok := seen(); ok || time.Now().After(deadline) {
			break
		}
		select {
		case <-done:
			t.Logf("the run ended before step %s began", step)
			return "(ended)"
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case <-done:
		return "(ended)"
	case <-time.After(offset):
	}
	hit, _ := seen()
	_ = c.Process.Signal(sig)
	if sig == syscall.SIGINT {
		// A cancelled GitHub Actions job: SIGINT, then SIGTERM, then
		// SIGKILL, each while upshift still runs.
		for _, next := range []struct {
			after time.Duration
			sig   syscall.Signal
		}{{2 * time.Second, syscall.SIGTERM}, {2500 * time.Millisecond, syscall.SIGKILL}} {
			select {
			case <-done:
			case <-time.After(next.after):
				_ = c.Process.Signal(next.sig)
				continue
			}
			break
		}
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = c.Process.Kill()
		<-done
		t.Errorf("upshift did not end within 3 minutes of %s", sig)
	}
	return hit
}

// tally is the migrations table's rows and the migrations the history
// says were applied.
func tally(t *testing.T, p *dockertest.Project) (rows, recorded int) {
	t.Helper()
	for _, r := range fullHistory(t, p) {
		if s, ok := r["setup"].(map[string]any); ok && s != nil {
			recorded += len(s["migrations_applied"].([]any))
		}
	}
	rows, _ = strconv.Atoi(p.SQL("SELECT count(*) FROM drizzle.__drizzle_migrations"))
	return rows, recorded
}

func fullHistory(t *testing.T, p *dockertest.Project) []map[string]any {
	t.Helper()
	return history(t, p, "--limit", "0")
}

// checkConsistent compares what runs and what the database holds with the
// history (the migrations this point added against those its runs
// recorded), and looks for leftovers.
func checkConsistent(t *testing.T, p *dockertest.Project, rows0, recorded0 int) {
	t.Helper()
	h := fullHistory(t, p)
	if len(h) == 0 {
		t.Fatal("empty history")
	}
	newest := h[0]
	if newest["outcome"] != "succeeded" {
		t.Errorf("the newest run is %v", newest["outcome"])
	}
	to := newest["services"].([]any)[0].(map[string]any)["to"].(map[string]any)
	if id := imageOf(t, p); to["id"] != id {
		t.Errorf("the app runs %s, the history says %v", id, to["id"])
	}
	for _, r := range h {
		for _, k := range []string{"exit_code", "error", "resumes", "table_before", "steps"} {
			if _, ok := r[k]; !ok {
				t.Errorf("run %v has no %q", r["id"], k)
			}
		}
	}
	if rows, recorded := tally(t, p); rows-rows0 != recorded-recorded0 {
		t.Errorf("this point added %d rows to the migrations table; its runs record %d applied", rows-rows0, recorded-recorded0)
		for _, r := range h[:min(4, len(h))] {
			t.Logf("%v %v %v setup %v", r["id"], r["kind"], r["outcome"], r["setup"])
		}
	}
	if _, err := os.Stat(filepath.Join(p.StateDir, p.Name, "run.json")); err == nil {
		t.Errorf("run.json left behind")
	}
	if out := dockertest.Run(t, "", nil, "docker", "ps", "-aq", "--filter", "name="+dockertest.KeepVolume+"-lock-"+p.Name); strings.TrimSpace(out) != "" {
		t.Errorf("the deploy lock is still held on the engine")
	}
	if out := dockertest.Run(t, "", nil, "docker", "volume", "ls", "-q", "--filter", "label=io.upshift.journal="+p.Name); strings.TrimSpace(out) != "" {
		t.Errorf("a journal is left on the engine after the run finished: %s", out)
	}
	if f, err := os.Open(filepath.Join(p.StateDir, p.Name, "deploy.lock")); err == nil {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Errorf("the deploy lock is still held")
		}
		f.Close()
	}
	if out := dockertest.Run(t, "", nil, "docker", "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+p.Name, "--filter", "label=com.docker.compose.oneoff=True"); strings.TrimSpace(out) != "" {
		t.Errorf("one-off setup containers left: %s", out)
	}
}

// A compose file of megabytes is read once: every verb of the run reads a
// resolved copy of the services it touches. The upgrade works, the
// database is not recreated by the copy, printed commands name the
// project's own file, and no copy outlives the run.
func TestLargeComposeFileIsReadOnce(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	dbBefore := p.Compose("ps", "-q", "db")
	b, err := os.ReadFile(p.File)
	if err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	big.Write(b)
	for i := 0; big.Len() < 2<<20; i++ {
		fmt.Fprintf(&big, "  extra-%d:\n    image: busybox\n    profiles: [extra]\n    environment:\n      BLOB: %q\n", i, strings.Repeat("z", 4000))
	}
	if err := os.WriteFile(p.File, []byte(big.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	r := p.Upshift(upgradeArgs(p, "v2")...)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	expectServing(t, p, "v2")
	if after := p.Compose("ps", "-q", "db"); after != dbBefore {
		t.Errorf("db was recreated: %s → %s", dbBefore, after)
	}
	if !strings.Contains(r.Stdout, "-f "+p.File+" ") || strings.Contains(r.Stdout, "resolved-") {
		t.Errorf("printed commands do not name the project's file:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "read one resolved copy of app, db-setup, db instead") {
		t.Errorf("the run does not say it read a resolved copy:\n%s", r.Stdout)
	}
	if strings.Contains(r.Stdout+r.Stderr, "orphan") {
		t.Errorf("orphan warnings:\n%s", r)
	}
	left, _ := filepath.Glob(filepath.Join(p.StateDir, p.Name, "resolved-*"))
	if len(left) != 0 {
		t.Errorf("left %v", left)
	}
	if appliedMigrations(p) != "1,2" {
		t.Errorf("migrations %s", appliedMigrations(p))
	}
}

// rerunner is the machine a point's rerun comes from: every other point
// from a second machine (its own state folder), as a CD job retried on
// another runner, or the on-call's laptop, would.
func rerunner(t *testing.T, p *dockertest.Project, i int) machine {
	if i%2 == 1 {
		return newMachine(t, p)
	}
	return machine{p: p, dir: p.StateDir}
}

// exitCodesAgree: a run's process exit code is the one its JSON document
// and its history record give.
func exitCodesAgree(t *testing.T, p *dockertest.Project, r dockertest.Result, historyArgs ...string) {
	t.Helper()
	doc := decode(t, r)
	h := history(t, p, append([]string{"--limit", "0"}, historyArgs...)...)
	if code, ok := doc["exit_code"].(float64); !ok || int(code) != r.Code {
		t.Errorf("exit %d, the JSON document says %v", r.Code, doc["exit_code"])
	}
	if len(h) == 0 || h[0]["exit_code"] == nil || int(h[0]["exit_code"].(float64)) != r.Code {
		t.Errorf("exit %d, the history's newest run says %v", r.Code, h[0]["exit_code"])
	}
}
