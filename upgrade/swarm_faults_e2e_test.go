package upgrade_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
	"github.com/upshift-dev/upshift/upgrade"
)

// The seeded fault-injection suite on a real swarm: kill -9 and SIGTERM
// at the start of, and somewhere into, every step of a stack upgrade and
// of a stack rollback. After each interruption, and a plain rerun of the
// same command: a version serves, the history is truthful (the newest run
// succeeded and names what the service's spec runs; the migrations the
// point added are the ones its runs record, a dead run's included), and
// nothing is left behind (journal, the swarm lock, upshift's jobs).
// UPSHIFT_FAULT_RUNS=all runs every point (make faults); the test suite
// runs a sample of 2 (UPSHIFT_STACK_FAULT_RUNS), seeded as the compose
// suite is (UPSHIFT_FAULT_SEED).
func TestStackFaultInjection(t *testing.T) {
	t.Parallel()
	seed, points, runs := faultPoints(t, 2, "UPSHIFT_STACK_FAULT_RUNS", 2,
		[2]string{"upgrade", "gate setup update verify"}, [2]string{"rollback", "rollback verify"})
	if runs == 0 {
		return
	}
	s := deployedStack(t)
	s.Env = append(s.Env, "UPSHIFT_LEASE=5s") // as TestFaultInjection's
	migrations := []dockertest.Migration{mUsers}
	journal := filepath.Join(s.StateDir, upgrade.StackState(s.Name), "run.json")
	rollbackArgs := func(version string) []string {
		return []string{"rollback", "--stack", s.Name, "--service", "app", "--health-url", s.HealthURL(), "--expect-version", version, "--health-timeout", "90s"}
	}
	runPoints(t, "stack fault injection", seed, points[:runs], func(t *testing.T, i int, pt faultPoint) {
		migrations = append(migrations, faultMigration(len(migrations), i))
		s.Release(v2, migrations)
		args, want := stackArgs(s, "v2"), "v2"
		if pt.kind == "rollback" {
			stackSucceeded(t, s, append(args, "--format", "json")...)
			args, want = rollbackArgs("v1"), "v1"
		}
		rows0, recorded0 := stackTally(t, s)
		hit := interrupt(t, s.Command(args...), journal, pt.step, pt.sig, pt.offset)
		t.Logf("signal landed during %q", hit)
		// A rollback a SIGTERM reached finishes first; a rerun would
		// roll back one more upgrade.
		if h := history(t, s.Project, "--stack", s.Name, "--limit", "0"); pt.kind == "rollback" && h[0]["kind"] == "rollback" && h[0]["outcome"] == "succeeded" && h[0]["resumes"] == "" {
			t.Logf("the interrupted rollback finished itself: %v", h[0]["notes"])
		} else if r := stackRerun(t, s, i, append(args, "--format", "json")...); r.Code != 0 {
			t.Fatalf("plain rerun: %s", r)
		} else {
			exitCodesAgree(t, s.Project, r, "--stack", s.Name)
		}
		waitFor(t, 60*time.Second, func() bool { code, v := s.Health(); return code == 200 && v == want })
		stackConsistent(t, s, rows0, recorded0, journal)
		if pt.kind != "rollback" {
			if r := s.Upshift(rollbackArgs("v1")...); r.Code != 0 {
				logRuns(t, history(t, s.Project, "--stack", s.Name, "--limit", "4"))
				t.Fatalf("rollback to v1 for the next point: %s", r)
			}
		}
	})
}

// logRuns says what a failure's history held: each run's kind, outcome,
// what it resumed, and its services' images.
func logRuns(t *testing.T, runs []map[string]any) {
	t.Helper()
	for _, r := range runs {
		var moves []string
		for _, sv := range r["services"].([]any) {
			sv := sv.(map[string]any)
			ref := func(k string) any {
				if m, ok := sv[k].(map[string]any); ok {
					return m["ref"]
				}
				return nil
			}
			moves = append(moves, fmt.Sprintf("%v %v → %v", sv["name"], ref("from"), ref("to")))
		}
		t.Logf("run %v: %v %v (step %v, resumes %q): %s; notes %v", r["id"], r["kind"], r["outcome"], r["step"], r["resumes"], strings.Join(moves, ", "), r["notes"])
	}
}

// stackTally is the migrations table's rows and the migrations the stack's
// history says were applied.
func stackTally(t *testing.T, s *dockertest.Stack) (rows, recorded int) {
	t.Helper()
	for _, r := range history(t, s.Project, "--stack", s.Name, "--limit", "0") {
		if setup, ok := r["setup"].(map[string]any); ok && setup != nil {
			recorded += len(setup["migrations_applied"].([]any))
		}
	}
	rows, _ = strconv.Atoi(s.SQL("SELECT count(*) FROM drizzle.__drizzle_migrations"))
	return rows, recorded
}

func stackConsistent(t *testing.T, s *dockertest.Stack, rows0, recorded0 int, journal string) {
	t.Helper()
	h := history(t, s.Project, "--stack", s.Name, "--limit", "0")
	newest := h[0]
	if newest["outcome"] != "succeeded" {
		t.Errorf("the newest run is %v", newest["outcome"])
	}
	to := newest["services"].([]any)[0].(map[string]any)["to"].(map[string]any)
	if spec := specImage(t, s, "app"); to["ref"] != spec {
		t.Errorf("app's spec names %s, the history says %v", spec, to["ref"])
	}
	if rows, recorded := stackTally(t, s); rows-rows0 != recorded-recorded0 {
		t.Errorf("this point added %d rows to the migrations table; its runs record %d applied", rows-rows0, recorded-recorded0)
		for _, r := range h[:min(4, len(h))] {
			t.Logf("%v %v %v setup %v", r["id"], r["kind"], r["outcome"], r["setup"])
		}
	}
	if _, err := os.Stat(journal); err == nil {
		t.Errorf("run.json left behind")
	}
	if out := s.Docker("config", "ls", "-q", "--filter", "name=upshift-lock-"+s.Name); strings.TrimSpace(out) != "" {
		t.Errorf("the stack's lock is still held: config %s", out)
	}
	if out := s.Docker("config", "ls", "-q", "--filter", "label=io.upshift.stack="+s.Name, "--filter", "label=io.upshift.kind=journal"); strings.TrimSpace(out) != "" {
		t.Errorf("a journal is left in the swarm: config %s", out)
	}
	if out := s.Docker("service", "ls", "-q", "--filter", "label=io.upshift.stack="+s.Name); strings.TrimSpace(out) != "" {
		t.Errorf("upshift's jobs left: %s", out)
	}
}

// stackRerun runs a point's rerun: every other point from a second
// machine (a state folder of its own), which finds the dead run in the
// swarm.
func stackRerun(t *testing.T, s *dockertest.Stack, i int, args ...string) dockertest.Result {
	if i%2 == 1 {
		return dockertest.RunUpshift(t, s.Bins, s.Dir, append([]string{"UPSHIFT_STATE_DIR=" + t.TempDir()}, s.Env...), args...)
	}
	return s.Upshift(args...)
}
