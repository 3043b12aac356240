package upgrade_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// prober asks a URL every 20 ms and measures the longest time without a 200
// (from the last 200 before a failure to the first 200 after it).
type prober struct {
	url    string
	want   string // the version whose first 200 ends the measurement
	seen   chan struct{}
	stop   chan struct{}
	done   sync.WaitGroup
	mu     sync.Mutex
	window time.Duration
	failed int
	total  int
}

func startProber(url, want string) *prober {
	p := &prober{url: url, want: want, stop: make(chan struct{}), seen: make(chan struct{})}
	// A new connection per request, as independent clients make: a kept-alive
	// connection would outlive the container it was made to.
	// A request that takes 3 s has failed its user.
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := false
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		lastOK := time.Now()
		down := false
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		// Bounded: an upgrade that hangs ends the probe after 10 minutes.
		deadline := time.After(10 * time.Minute)
		for {
			select {
			case <-p.stop:
				return
			case <-deadline:
				return
			case <-tick.C:
			}
			resp, err := c.Get(url)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				var body struct {
					Version string `json:"version"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if ok && body.Version == p.want && !seen {
					seen = true
					close(p.seen)
				}
			}
			now := time.Now()
			p.mu.Lock()
			p.total++
			if ok {
				if down && now.Sub(lastOK) > p.window {
					p.window = now.Sub(lastOK)
				}
				lastOK, down = now, false
			} else {
				p.failed++
				down = true
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// finish waits until the new version answered (at most a minute; not at
// all when the prober waits for no version), then stops probing.
func (p *prober) finish() (time.Duration, int, int) {
	if p.want != "" {
		select {
		case <-p.seen:
		case <-time.After(time.Minute):
		}
	}
	close(p.stop)
	p.done.Wait()
	return p.window, p.failed, p.total
}

// manualUpgrade is the documented procedure, step by step, as an operator
// (or a CD script) runs it — with the setup container removed by `rm -sf`
// (the guide's `--profile setup down` would remove the database too).
func manualUpgrade(b *testing.B, p *dockertest.Project) {
	b.Helper()
	p.Compose("pull", "app")
	p.Compose("stop", "app")
	p.Compose("--profile", "setup", "up", "db-setup")
	p.Compose("--profile", "setup", "rm", "-sf", "db-setup")
	p.Compose("up", "-d", "app")
}

// manaUpgrade is Mana's own CD sequence for a service built on the host:
// build, apply the schema, `up -d --no-deps`.
func manaUpgrade(b *testing.B, p *dockertest.Project) {
	b.Helper()
	p.Compose("build", "app")
	p.Compose("--profile", "setup", "run", "--rm", "db-setup")
	p.Compose("up", "-d", "--no-deps", "app")
}

// arm is one way of upgrading v1 to v2 that the benchmark measures.
type arm struct {
	name    string
	file    string // testdata/upgrade compose file
	upgrade func(b *testing.B, p *dockertest.Project)
}

func upshiftArm(name, file string, args ...string) arm {
	return arm{name: name, file: file, upgrade: func(b *testing.B, p *dockertest.Project) {
		b.Helper()
		all := append([]string{"upgrade", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v2"}, args...)
		if res := p.Upshift(all...); res.Code != 0 {
			b.Fatalf("upshift %s: %s", strings.Join(args, " "), res)
		}
	}}
}

var arms = []arm{
	upshiftArm("upshift", "compose.yaml"),
	{name: "manual", file: "compose.yaml", upgrade: manualUpgrade},
	upshiftArm("upshift --strategy stop-start", "compose.yaml", "--strategy", "stop-start"),
	{name: "upshift --strategy rolling", file: "rolling.yaml", upgrade: func(b *testing.B, p *dockertest.Project) {
		b.Helper()
		if res := p.Upshift("upgrade", "--strategy", "rolling", "--service", "app", "--health-url", "http://app:8080/health", "--expect-version", "v2"); res.Code != 0 {
			b.Fatalf("rolling upgrade: %s", res)
		}
	}},
	upshiftArm("upshift (build)", "build.yaml"),
	{name: "mana (build)", file: "build.yaml", upgrade: manaUpgrade},
}

// BenchmarkUpgradeDowntime reports, for each way of upgrading v1 to v2 (one
// migration) on identical deployments, interleaved, the longest window in
// which the health endpoint answered no 200 and the requests that failed,
// probed every 20 ms: `upshift upgrade` (the default strategy: migrate-first
// on this fixed-port deployment), the manual procedure, `--strategy
// stop-start`, `--strategy rolling` behind a proxy (the prober goes through
// the proxy there), and on a service built on the host (build.yaml) the
// default upgrade against Mana's own sequence. Run with -benchtime 1x;
// UPGRADE_ROUNDS sets the rounds (default 3) whose median is reported.
func BenchmarkUpgradeDowntime(b *testing.B) {
	rounds := upgradeRounds()
	windows := map[string][]time.Duration{}
	failed := map[string][]int{}
	for range b.N {
		for r := 0; r < rounds; r++ {
			for _, a := range arms {
				b.StopTimer()
				var p *dockertest.Project
				if a.file == "build.yaml" {
					p = buildProject(b)
					setVersion(b, p, "v1", "users.name")
				} else {
					p = dockertest.NewProjectFrom(b, a.file)
				}
				p.Release(v1, []dockertest.Migration{mUsers})
				health := p.HealthURL()
				if a.file == "rolling.yaml" {
					health = "http://app:8080/health"
				}
				if res := p.Upshift("upgrade", "--service", "app", "--health-url", health, "--expect-version", "v1"); res.Code != 0 {
					b.Fatalf("deploy v1: %s", res)
				}
				if a.file == "rolling.yaml" {
					p.Compose("up", "-d", "--no-deps", "proxy")
				}
				p.Release(v2, []dockertest.Migration{mUsers, mNickname})
				if a.file == "build.yaml" {
					setVersion(b, p, "v2", "users.nickname")
				}
				deadline := time.Now().Add(30 * time.Second)
				for code, _ := p.Health(); code != 200; code, _ = p.Health() {
					if time.Now().After(deadline) {
						b.Fatalf("%s: v1 does not serve", a.name)
					}
					time.Sleep(50 * time.Millisecond)
				}
				b.StartTimer()
				pr := startProber(p.HealthURL(), "v2")
				time.Sleep(200 * time.Millisecond)
				a.upgrade(b, p)
				w, f, _ := pr.finish()
				if code, v := p.Health(); code != 200 || v != "v2" {
					b.Fatalf("%s: v2 does not serve (%d %q)", a.name, code, v)
				}
				b.StopTimer()
				p.Down()
				windows[a.name] = append(windows[a.name], w)
				failed[a.name] = append(failed[a.name], f)
				b.Logf("round %d %-27s longest window without a 200: %7s, failed requests: %d", r+1, a.name, w.Round(time.Millisecond), f)
			}
		}
	}
	for _, a := range arms {
		w := slices.Clone(windows[a.name])
		slices.Sort(w)
		f := slices.Clone(failed[a.name])
		slices.Sort(f)
		b.Logf("median of %d rounds: %-27s longest window without a 200 %7s, failed requests %d", rounds, a.name, w[len(w)/2].Round(time.Millisecond), f[len(f)/2])
		metric := strings.NewReplacer("upshift --strategy ", "", "upshift --", "", " (", "-", ")", "", " ", "-").Replace(a.name)
		b.ReportMetric(float64(w[len(w)/2].Milliseconds()), metric+"-window-ms")
	}
}

// upgradeRounds is UPGRADE_ROUNDS, the rounds a downtime benchmark
// reports the median of (default 3).
func upgradeRounds() int {
	rounds := 3
	if n, err := fmt.Sscan(os.Getenv("UPGRADE_ROUNDS"), &rounds); n != 1 || err != nil || rounds < 1 {
		rounds = 3
	}
	return rounds
}

// BenchmarkStateStore compares the default upgrade of v1 to v2 with its
// lock, journal and history on the engine (the default) against the same
// upgrade with them in the local folder (--state local), on identical
// deployments, interleaved (each first in every other round), each round's
// project taken down before the next: the upgrade's wall time and its
// window without a 200, median of UPGRADE_ROUNDS rounds (default 3), the
// ratio of the median wall times (the target: at most 1.05) and
// the median of the rounds' own ratios. An upgrade's steps vary by a few
// per cent from run to run on a small machine, more than the store adds;
// BenchmarkStateStoreCalls times the store's calls alone.
func BenchmarkStateStore(b *testing.B) {
	rounds := upgradeRounds()
	wall := map[string][]time.Duration{}
	windows := map[string][]time.Duration{}
	stores := []string{"engine", "local"}
	for range b.N {
		for r := 0; r < rounds; r++ {
			// Each goes first in every other round: the first of a round
			// starts right after the last round's project went down.
			order := stores
			if r%2 == 1 {
				order = []string{stores[1], stores[0]}
			}
			for _, store := range order {
				b.StopTimer()
				p := dockertest.NewProjectFrom(b, "compose.yaml")
				p.Release(v1, []dockertest.Migration{mUsers})
				if res := p.Upshift("upgrade", "--state", store, "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1"); res.Code != 0 {
					b.Fatalf("deploy v1: %s", res)
				}
				p.Release(v2, []dockertest.Migration{mUsers, mNickname})
				b.StartTimer()
				pr := startProber(p.HealthURL(), "v2")
				time.Sleep(200 * time.Millisecond)
				start := time.Now()
				res := p.Upshift("upgrade", "--state", store, "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v2", "--format", "json")
				if res.Code != 0 {
					b.Fatalf("upgrade with --state %s: %s", store, res)
				}
				took := time.Since(start)
				w, _, _ := pr.finish()
				b.StopTimer()
				p.Down()
				wall[store] = append(wall[store], took)
				windows[store] = append(windows[store], w)
				b.Logf("round %d --state %-6s upgrade %7s, longest window without a 200 %7s; steps %s", r+1, store, took.Round(time.Millisecond), w.Round(time.Millisecond), stepTimes(res.Stdout))
			}
		}
	}
	median := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	for _, store := range stores {
		b.Logf("median of %d rounds: --state %-6s upgrade %7s, window %7s", rounds, store, median(wall[store]).Round(time.Millisecond), median(windows[store]).Round(time.Millisecond))
		b.ReportMetric(float64(median(wall[store]).Milliseconds()), store+"-upgrade-ms")
		b.ReportMetric(float64(median(windows[store]).Milliseconds()), store+"-window-ms")
	}
	ratio := float64(median(wall["engine"])) / float64(median(wall["local"]))
	// Each round's two upgrades ran back to back: their ratio leaves out
	// what changed between rounds (the machine's other load).
	var paired []float64
	for i := range wall["engine"] {
		paired = append(paired, float64(wall["engine"][i])/float64(wall["local"][i]))
	}
	slices.Sort(paired)
	b.Logf("state on the engine: %.3fx the wall time of the local folder (ratio of the medians; target ≤ 1.05); rounds' own ratios %.3f, median %.3f", ratio, paired, paired[len(paired)/2])
	b.ReportMetric(ratio, "engine/local")
}

// stepTimes is how long each step of a --format json result took, in ms:
// where an upgrade's time goes, and how much of it varies between runs.
func stepTimes(doc string) string {
	var d struct {
		Steps []struct {
			Name string `json:"name"`
			MS   int64  `json:"duration_ms"`
		} `json:"steps"`
		MS int64 `json:"duration_ms"`
	}
	_ = json.Unmarshal([]byte(doc), &d)
	var out []string
	for _, s := range d.Steps {
		out = append(out, fmt.Sprintf("%s %d", s.Name, s.MS))
	}
	return fmt.Sprintf("%v total %d", out, d.MS)
}
