package upgrade_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// BenchmarkStackUpgrade compares, on identical single-node swarm stacks
// (app ×2 behind the proxy, start-first), in the same run and interleaved,
// `upshift upgrade --stack` of v1 → v2 (the gate and the migration as
// swarm jobs, the swarm's rolling update followed to completed, the version
// verified) with a plain `docker stack deploy` of the same release (no gate,
// no migration: the swarm's own rolling update, waited for until its state
// is completed and the proxy answers v2). It reports the wall time of each,
// their ratio, and the requests through the proxy that failed (goal: 0).
// Run with -benchtime 1x; UPGRADE_ROUNDS sets the rounds (default 3).
func BenchmarkStackUpgrade(b *testing.B) {
	rounds := upgradeRounds()
	// v2 needs no new column, so that the plain deploy (which migrates
	// nothing) is a whole upgrade too; upshift still migrates it.
	release := dockertest.App{Version: "v2", RequireColumn: "users.name"}
	arms := []struct {
		name    string
		upgrade func(b *testing.B, s *dockertest.Stack)
	}{
		{"upshift upgrade --stack", func(b *testing.B, s *dockertest.Stack) {
			if r := s.Upshift(stackArgs(s, "v2")...); r.Code != 0 {
				b.Fatalf("upshift: %s", r)
			}
		}},
		{"docker stack deploy", func(b *testing.B, s *dockertest.Stack) {
			s.Deploy()
			deadline := time.Now().Add(5 * time.Minute)
			for {
				state, _ := dockertest.RunErr("", nil, "docker", "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", s.Service("app"))
				if strings.TrimSpace(state) == "completed" {
					return
				}
				if time.Now().After(deadline) {
					b.Fatalf("docker stack deploy: the update of app is %q after 5 minutes", strings.TrimSpace(state))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}},
	}
	walls := map[string][]time.Duration{}
	failed := map[string][]int{}
	for range b.N {
		for r := 0; r < rounds; r++ {
			for _, a := range arms {
				b.StopTimer()
				s := dockertest.NewStack(b)
				s.Release(v1, []dockertest.Migration{mUsers})
				s.Deploy()
				if res := s.Upshift(stackArgs(s, "v1")...); res.Code != 0 {
					b.Fatalf("deploy v1: %s", res)
				}
				s.Release(release, []dockertest.Migration{mUsers, mNickname})
				b.StartTimer()
				pr := startProber(s.HealthURL(), "v2")
				time.Sleep(200 * time.Millisecond)
				start := time.Now()
				a.upgrade(b, s)
				wall := time.Since(start)
				_, f, total := pr.finish()
				if code, v := s.Health(); code != 200 || v != "v2" {
					b.Fatalf("%s: v2 does not serve (%d %q)", a.name, code, v)
				}
				walls[a.name] = append(walls[a.name], wall)
				failed[a.name] = append(failed[a.name], f)
				b.Logf("round %d %-24s wall %7s, failed requests: %d of %d", r+1, a.name, wall.Round(time.Millisecond), f, total)
				b.StopTimer()
				s.Destroy()
				b.StartTimer()
			}
		}
	}
	median := func(name string) (time.Duration, int) {
		w, f := slices.Clone(walls[name]), slices.Clone(failed[name])
		slices.Sort(w)
		slices.Sort(f)
		return w[len(w)/2], f[len(f)/2]
	}
	up, upFailed := median(arms[0].name)
	plain, plainFailed := median(arms[1].name)
	b.Logf("median of %d rounds: upshift upgrade --stack %s (%d failed requests), docker stack deploy %s (%d failed): %.2fx",
		rounds, up.Round(time.Millisecond), upFailed, plain.Round(time.Millisecond), plainFailed, float64(up)/float64(plain))
	b.ReportMetric(float64(up.Milliseconds()), "upshift-stack-ms")
	b.ReportMetric(float64(plain.Milliseconds()), "stack-deploy-ms")
	b.ReportMetric(float64(upFailed), "upshift-failed-requests")
}
