package upgrade

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// A run that died holding the stack's lock blocks the next one only until
// its lease runs out (on the run's clock, here virtual): then the lock is
// taken over with a note naming the dead holder, and the dead run's late
// release or renewal cannot touch the new holder's lock.
func TestLeaseRunsOutAndIsTakenOver(t *testing.T) {
	x, f := fakeStack(t)
	x.LockWait = 5 * time.Minute
	dead := f.holdLock(`{"pid":4242,"user":"deploy","host":"ci-runner-7","command":"upshift upgrade --stack shop"}`, DefaultLease)
	start := x.now()
	rec, err := x.Upgrade(context.Background(), stackRequest())
	wantOutcome(t, x, rec, err, Succeeded, 0)
	waited := x.now().Sub(start)
	if waited < DefaultLease || waited > DefaultLease+2*time.Second+5*time.Minute/100 {
		// Past the lease, and not the whole --lock-wait.
		t.Errorf("took the lock over after %s of virtual time, want just past the %s lease", waited, DefaultLease)
	}
	note := strings.Join(rec.Notes, "\n")
	if !strings.Contains(note, "took over the deploy lock of stack shop from pid 4242 (deploy@ci-runner-7") || !strings.Contains(note, "lease ran out") {
		t.Errorf("notes do not name the dead holder:\n%s", note)
	}
	// The dead run comes back to life (a frozen VM): its lock is gone.
	s := x.Store.(*SwarmStore)
	ghost := &Lease{Token: dead, TTL: DefaultLease, Renewed: x.storeNow()}
	if err := s.Renew(context.Background(), ghost); !errors.Is(err, ErrLockLost) {
		t.Errorf("the dead run renewed a lock it lost: %v", err)
	}
}

// A run releases only its own lock: after its lease ran out and another
// run took the lock, its release leaves the new holder's lock in place.
func TestReleaseLeavesAnotherRunsLock(t *testing.T) {
	x, f := fakeStack(t)
	s := x.Store.(*SwarmStore)
	ctx := context.Background()
	a := &Lease{Holder: Holder{PID: 1, Host: "runner-a"}, TTL: DefaultLease, Renewed: x.storeNow()}
	if _, err := s.TryLock(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := &Lease{Holder: Holder{PID: 2, Host: "laptop-b"}, TTL: DefaultLease}
	_ = x.Sleep(ctx, DefaultLease+time.Second)
	b.Renewed = x.storeNow()
	held, err := s.TryLock(ctx, b)
	if !errors.Is(err, ErrLockHeld) || held.Holder.Host != "runner-a" || !held.Expired(x.storeNow()) {
		t.Fatalf("second take: %v, held %+v", err, held)
	}
	if err := s.Break(ctx, held); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TryLock(ctx, b); err != nil {
		t.Fatalf("take over: %v", err)
	}
	if err := s.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	now, err := s.Held(ctx)
	if err != nil || now == nil || now.Holder.Host != "laptop-b" {
		t.Fatalf("after the old holder's release the lock is %+v (%v), want laptop-b's", now, err)
	}
	// A live lease is never taken over.
	c := &Lease{Holder: Holder{PID: 3}, TTL: DefaultLease, Renewed: x.storeNow()}
	if held, err := s.TryLock(ctx, c); !errors.Is(err, ErrLockHeld) || held.Expired(x.storeNow()) {
		t.Errorf("a fresh lease: %v %+v", err, held)
	}
	wantCalls(t, f, "lock upshift-lock-shop", "unlock upshift-lock-shop", "lock upshift-lock-shop")
}

// Two swarms (staging, prod) with a stack of the same name share nothing:
// what one upgraded the other neither lists nor rolls back.
func TestTwoEnginesShareNothing(t *testing.T) {
	staging, _ := fakeStack(t)
	prod, _ := fakeStack(t)
	ctx := context.Background()
	rec, err := staging.Upgrade(ctx, stackRequest())
	wantOutcome(t, staging, rec, err, Succeeded, 0)
	if h, _ := prod.Store.History(ctx); len(h) != 0 {
		t.Errorf("prod's history shows staging's run: %v", h)
	}
	_, err = prod.Rollback(ctx, StackRollbackRequest{Services: []string{"app"}, Health: stackRequest().Health})
	var none *NothingToRollBackError
	if !errors.As(err, &none) {
		t.Errorf("prod rolled back staging's upgrade: %v", err)
	}

	// One local folder used against two engines: each run names its
	// engine; the other neither rolls it back nor resumes it.
	dir := t.TempDir()
	a, _ := OpenState(dir, "shop")
	up := &Record{ID: "1", Kind: KindUpgrade, Outcome: Succeeded, EngineID: "engine-a", Services: []ServiceRecord{{Name: "api", From: &Image{Ref: "api:1", ID: "sha256:1"}}}}
	if err := a.Finish(ctx, up); err != nil {
		t.Fatal(err)
	}
	h, _ := a.History(ctx)
	if LatestUpgrade(onEngine(h, "engine-b"), "api") != nil {
		t.Errorf("engine-b would roll back engine-a's upgrade")
	}
	if LatestUpgrade(onEngine(h, "engine-a"), "api") == nil {
		t.Errorf("engine-a cannot roll back its own upgrade")
	}
}

// What `rollback` goes back to after each outcome that can come before it.
func TestRollbackTargetAfterEachOutcome(t *testing.T) {
	img := func(v string) *Image { return &Image{Ref: "api:" + v, ID: "sha256:" + v} }
	up := func(id string, o Outcome, from string) *Record {
		return &Record{ID: id, Kind: KindUpgrade, Outcome: o, Services: []ServiceRecord{{Name: "api", From: img(from)}}}
	}
	for _, tc := range []struct {
		name   string
		last   *Record // the run before `rollback`, after v0 → v1 succeeded
		undoes string
		to     string
	}{
		// v1 → v2 succeeded: back to v1.
		{"exit 0", up("2", Succeeded, "v1"), "2", "v1"},
		// v1 → v2 changed nothing (v1 serves): undo v0 → v1.
		{"exit 1", up("2", Failed, "v1"), "1", "v0"},
		// v1 → v2 put v1 back itself (v1 serves): undo v0 → v1.
		{"exit 5", up("2", RolledBack, "v1"), "1", "v0"},
		// v1 → v2 could not put v1 back: finish its putting back, to v1,
		// not two versions back.
		{"exit 6", up("2", RollbackFailed, "v1"), "2", "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := []*Record{up("1", Succeeded, "v0"), tc.last}
			got := LatestUpgrade(h, "api")
			if got == nil || got.ID != tc.undoes || got.service("api").From.Ref != "api:"+tc.to {
				t.Fatalf("rollback undoes %v, want %s (back to %s)", got, tc.undoes, tc.to)
			}
		})
	}
	// Interrupted: the dead run is in the journal, and the rollback goes
	// back to what ran before it (TestStackUnitRollbackAfterADeadUpgrade).
}

// A lease is as old as its holder's last renewal, not as its lock object:
// a lock made a moment ago by a holder that says it last renewed two
// minutes ago (its clock is the engine's) has run out.
func TestLeaseIsAsOldAsItsRenewal(t *testing.T) {
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	l := leaseOf("id", map[string]string{labelTTL: "30s", labelHolder: `{"pid":7}`}, now, []byte(now.Add(-2*time.Minute).Format(time.RFC3339Nano)))
	if !l.Expired(now) || l.Holder.PID != 7 {
		t.Errorf("%+v: not expired at %s", l, now)
	}
	if fresh := leaseOf("id", map[string]string{labelTTL: "30s"}, now, nil); fresh.Expired(now.Add(29 * time.Second)) {
		t.Errorf("a lock without a renewal yet expired before its lease from creation")
	}
}

// A run frozen past its lease (a suspended VM, an engine out of reach)
// whose lock another run took over starts no further step once a renewal
// finds that out: it updates no service, puts nothing back, journals and
// records nothing (the run that took over finishes or undoes it from the
// journal), leaves the new holder's lock alone, and exits 3.
func TestLostLeaseStopsBeforeTheNextStep(t *testing.T) {
	x, f := fakeStack(t)
	ctx := context.Background()
	x.Lease = 300 * time.Millisecond // renewed every 100 ms of real time
	var journaled []string
	configs := func(prefix string) []string {
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []string
		for name := range f.configs {
			if strings.HasPrefix(name, prefix) {
				out = append(out, name)
			}
		}
		return out
	}
	f.job = func(o compose.JobOptions) ([]string, int) {
		dry := len(o.Args) > 0 && o.Args[len(o.Args)-1] == "--dry-run"
		if !dry && journaled == nil {
			// Frozen past the lease: another run breaks the lock and
			// takes it; then this one wakes and its renewal finds out.
			mine, err := f.Config(ctx, "upshift-lock-shop")
			if err != nil {
				t.Fatal(err)
			}
			_ = f.RemoveConfig(ctx, mine.ID)
			f.holdLock(`{"pid":77,"user":"oncall","host":"laptop-b"}`, DefaultLease)
			journaled = configs("upshift-run-")
			time.Sleep(500 * time.Millisecond)
		}
		return []string{resultLine(t, dry, "0001_nickname")}, 0
	}
	rec, err := x.Upgrade(ctx, stackRequest())
	if !errors.Is(err, ErrLockLost) || rec.Outcome != Interrupted || rec.ExitCode == nil || *rec.ExitCode != 3 {
		t.Fatalf("outcome %s, exit %v, error %v; want interrupted, exit 3, the lock lost", rec.Outcome, rec.ExitCode, err)
	}
	f.mu.Lock()
	calls := strings.Join(f.calls, "\n")
	f.mu.Unlock()
	if strings.Contains(calls, "update") || strings.Contains(calls, "unlock") {
		t.Errorf("after the lock was taken over the run went on:\n%s", calls)
	}
	if now := configs("upshift-run-"); strings.Join(now, ",") != strings.Join(journaled, ",") {
		t.Errorf("the journal changed after the lock was taken over: %v, was %v", now, journaled)
	}
	if h := configs("upshift-history-"); len(h) != 0 {
		t.Errorf("the run recorded itself in the history: %v", h)
	}
	if held, herr := x.Store.Held(ctx); herr != nil || held == nil || held.Holder.Host != "laptop-b" {
		t.Errorf("the new holder's lock: %+v, %v", held, herr)
	}
	if !strings.Contains(err.Error()+strings.Join(rec.Notes, "\n"), "another run took the lock over") {
		t.Errorf("the run does not say why it stopped: %v %v", err, rec.Notes)
	}
}
