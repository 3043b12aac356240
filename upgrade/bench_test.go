package upgrade_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/dockertest"
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
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
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

// finish waits until the new version answered (at most a minute), then
// stops probing.
func (p *prober) finish() (time.Duration, int, int) {
	select {
	case <-p.seen:
	case <-time.After(time.Minute):
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

// BenchmarkUpgradeDowntime reports the longest window without a 200 from the
// health endpoint while v1 is upgraded to v2 (one migration), for `upshift
// upgrade` and for the manual procedure, on identical deployments,
// interleaved. Run with -benchtime 1x; UPGRADE_ROUNDS sets the rounds
// (default 3) whose median is reported.
func BenchmarkUpgradeDowntime(b *testing.B) {
	rounds := 3
	if n, err := fmt.Sscan(os.Getenv("UPGRADE_ROUNDS"), &rounds); n != 1 || err != nil {
		rounds = 3
	}
	windows := map[string][]time.Duration{}
	failed := map[string][]int{}
	for range b.N {
		for r := 0; r < rounds; r++ {
			for _, how := range []string{"upshift", "manual"} {
				b.StopTimer()
				p := dockertest.NewProject(b)
				p.Release(v1, []dockertest.Migration{mUsers})
				if res := p.Upshift("upgrade", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1"); res.Code != 0 {
					b.Fatalf("deploy v1: %s", res)
				}
				p.Release(v2, []dockertest.Migration{mUsers, mNickname})
				b.StartTimer()
				pr := startProber(p.HealthURL(), "v2")
				time.Sleep(200 * time.Millisecond)
				if how == "upshift" {
					if res := p.Upshift("upgrade", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v2"); res.Code != 0 {
						b.Fatalf("upshift upgrade: %s", res)
					}
				} else {
					manualUpgrade(b, p)
				}
				w, f, _ := pr.finish()
				if code, v := p.Health(); code != 200 || v != "v2" {
					b.Fatalf("%s: v2 does not serve (%d %q)", how, code, v)
				}
				windows[how] = append(windows[how], w)
				failed[how] = append(failed[how], f)
				b.Logf("round %d %-8s longest window without a 200: %s, failed probes: %d", r+1, how, w.Round(time.Millisecond), f)
			}
		}
	}
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	up, man := med(windows["upshift"]), med(windows["manual"])
	b.ReportMetric(float64(up.Milliseconds()), "upshift-window-ms")
	b.ReportMetric(float64(man.Milliseconds()), "manual-window-ms")
	b.Logf("median longest window without a 200: upshift %s, manual procedure %s (%d rounds)", up.Round(time.Millisecond), man.Round(time.Millisecond), rounds)
}
