package upgrade_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/upgrade"
)

// BenchmarkStateStoreCalls times, without the upgrade around them, the
// store calls one default upgrade makes — open, take the lock, read the
// journal, journal six steps, move the run to the history, release —
// with the store on the engine (and this machine's copy of the journal,
// as a run keeps it) and in the local folder. Their difference is what
// keeping state on the engine adds to an upgrade, which
// BenchmarkStateStore measures whole, where the upgrade's own
// variation from run to run is larger than it.
func BenchmarkStateStoreCalls(b *testing.B) {
	ctx := context.Background()
	keep := newKeep(b)
	steps := []string{"pin", "pull", "gate", "setup", "start", "verify"}
	upgradeOnce := func(b *testing.B, open func(cache *upgrade.State) upgrade.Store) {
		cache, err := upgrade.OpenState(b.TempDir(), "shop")
		if err != nil {
			b.Fatal(err)
		}
		s := open(cache)
		me := &upgrade.Lease{Holder: upgrade.Me("upshift upgrade --service app"), TTL: upgrade.DefaultLease, Renewed: time.Now()}
		if _, err := s.TryLock(ctx, me); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Unfinished(ctx); err != nil {
			b.Fatal(err)
		}
		rec := &upgrade.Record{ID: upgrade.NewID(time.Now()), Kind: upgrade.KindUpgrade, Project: "shop", Outcome: upgrade.Running}
		for _, st := range steps {
			rec.Step = st
			rec.Steps = append(rec.Steps, upgrade.StepRecord{Name: st, Status: upgrade.StepRunning, StartedAt: time.Now(),
				What:     "what step " + st + " does, for people, about a line of text",
				Commands: []string{"docker compose --project-directory /home/ci/work/shop -f compose.yaml " + st + " " + strings.Repeat("app ", 8)}})
			if err := s.SaveRun(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
		rec.Outcome = upgrade.Succeeded
		if err := s.Finish(ctx, rec); err != nil {
			b.Fatal(err)
		}
		if err := s.Release(ctx, me); err != nil {
			b.Fatal(err)
		}
	}
	stores := map[string]func(*upgrade.State) upgrade.Store{
		"engine": func(cache *upgrade.State) upgrade.Store {
			s, _, err := upgrade.OpenEngineStore(ctx, keep, "shop", "unix:///var/run/docker.sock", cache, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"local": func(cache *upgrade.State) upgrade.Store { return cache },
	}
	took := map[string]time.Duration{}
	for _, name := range []string{"engine", "local"} {
		b.Run(name, func(b *testing.B) {
			upgradeOnce(b, stores[name]) // the keep made, as after a first upgrade
			b.ResetTimer()
			for range b.N {
				// Ten a round: make bench runs this once (-benchtime 1x).
				for range 10 {
					upgradeOnce(b, stores[name])
				}
			}
			took[name] = b.Elapsed() / time.Duration(10*b.N)
			b.ReportMetric(float64(took[name].Microseconds())/1000, "ms/upgrade")
		})
	}
	b.Logf("the store's calls of one upgrade: engine %s, local folder %s: the engine adds %s", took["engine"].Round(100*time.Microsecond), took["local"].Round(100*time.Microsecond), (took["engine"] - took["local"]).Round(100*time.Microsecond))
}
