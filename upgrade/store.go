package upgrade

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Store keeps a deployment's memory: the deploy lock, the journal of the
// run under way, and the history of finished runs (which is also what a
// rollback goes back to). The run loop asks nothing else of it, so that
// where it lives — with the deployment on the engine (EngineStore), in the
// swarm (SwarmStore), or in a local folder (State) — changes nothing else.
type Store interface {
	// Where names the store for people and errors.
	Where() string
	// Check makes sure the store can record a run before anything changes.
	Check(ctx context.Context) error
	// Skew is the store's clock (the engine's) minus this machine's: a
	// lease is judged on the store's clock, so that two machines whose
	// clocks differ agree on when it ran out.
	Skew() time.Duration
	// TryLock takes the deploy lock for me, filling me.Token. When
	// another run holds it, it returns ErrLockHeld and that run's lease.
	TryLock(ctx context.Context, me *Lease) (held *Lease, err error)
	// Renew extends me's lease to me.Renewed; ErrLockLost when the lock
	// is no longer me's (its lease ran out and another run took it).
	Renew(ctx context.Context, me *Lease) error
	// Release removes the lock if it is still me's, and only then.
	Release(ctx context.Context, me *Lease) error
	// Held is the lock's lease while some run holds it, else nil.
	Held(ctx context.Context) (*Lease, error)
	// Break removes the lock that held names — that take of it, never a
	// later one — after its lease ran out.
	Break(ctx context.Context, held *Lease) error
	SaveRun(ctx context.Context, r *Record) error
	// Unfinished is the run a dead upshift left in the journal, or nil.
	Unfinished(ctx context.Context) (*Record, error)
	// Finish moves a finished run from the journal to the history.
	Finish(ctx context.Context, r *Record) error
	// History is the finished runs, oldest first.
	History(ctx context.Context) ([]*Record, error)
}

// Lease is one holding of a deploy lock: who holds it, which take of the
// lock it is, and when it was last renewed, on the store's clock. A lease
// not renewed for TTL belongs to a run that died (or lost the engine), and
// the next run takes the lock over. TTL 0: the lock ends with its holder's
// process (a local file lock), never by time.
type Lease struct {
	Holder  Holder        `json:"holder"`
	Token   string        `json:"token"`
	Renewed time.Time     `json:"renewed"`
	TTL     time.Duration `json:"ttl"`
}

// Expired says whether the lease ran out by now (the store's clock).
func (l *Lease) Expired(now time.Time) bool {
	return l.TTL > 0 && !l.Renewed.IsZero() && now.Sub(l.Renewed) > l.TTL
}

// Errors a store's lock reports.
var (
	ErrLockHeld = errors.New("the deploy lock is held")
	ErrLockLost = errors.New("the deploy lock is no longer this run's")
)

// errLockTakenOver ends a run whose lock another run took over.
var errLockTakenOver = fmt.Errorf("%w: this run did not renew its lease in time (a frozen runner, an engine out of reach) and another run took the lock over; that run finishes or undoes what this one began, from its journal", ErrLockLost)

// DefaultLease is how long a run's hold on the deploy lock lasts without
// renewal; the run renews it every third of that. A runner that vanished
// (a cancelled CD job, a lost machine) blocks later deploys at most this
// long plus one poll.
const DefaultLease = 30 * time.Second

func (x *Runner) lease() time.Duration {
	if x.Lease > 0 {
		return x.Lease
	}
	return DefaultLease
}

// storeNow is now on the store's clock.
func (x *Runner) storeNow() time.Time { return x.now().Add(x.Store.Skew()) }

// takeLock is the one lock-wait loop of both engines, on the run's clock:
// it takes the deploy lock of what (a project, a stack), waiting up to
// LockWait while a live run holds it, and takes over a lock whose lease
// ran out, with a note naming the dead holder. It returns the release,
// which stops the lease's renewal and removes the lock if it is still
// this run's.
func (x *Runner) takeLock(ctx context.Context, rec *Record, what string) (func(), error) {
	x.lockLost.Store(false)
	x.Me.RunID = rec.ID
	me := &Lease{Holder: x.Me, TTL: x.lease()}
	start := x.now()
	var reported time.Time
	breaks := 0
	for {
		me.Renewed = x.storeNow()
		held, err := x.Store.TryLock(ctx, me)
		if err == nil {
			return x.hold(ctx, me), nil
		}
		if !errors.Is(err, ErrLockHeld) || held == nil {
			return nil, err
		}
		// A few takeovers at most: each one is of a different dead run.
		if held.Expired(x.storeNow()) && breaks < 3 {
			breaks++
			note := fmt.Sprintf("took over the deploy lock of %s from %s: its lease ran out %s ago (that upshift died, was cancelled, or lost the engine)",
				what, held.Holder, x.storeNow().Sub(held.Renewed.Add(held.TTL)).Round(time.Second))
			if err := x.Store.Break(ctx, held); err != nil {
				return nil, err
			}
			rec.Notes = append(rec.Notes, note)
			x.emit(Event{Kind: EventNote, Text: note})
			continue
		}
		waited := x.now().Sub(start)
		if waited >= x.LockWait {
			return nil, &LockedError{Project: what, Holder: held.Holder, Waited: waited, Where: x.Store.Where(), Lease: held.TTL}
		}
		if x.now().Sub(reported) >= 5*time.Second {
			reported = x.now()
			x.emit(Event{Kind: EventWaiting, Text: fmt.Sprintf("waiting for the deploy lock of %s (%s so far), held by %s", what, waited.Round(time.Second), held.Holder)})
		}
		if err := x.wait(ctx, min(time.Second, x.LockWait-waited)); err != nil {
			return nil, err
		}
	}
}

// hold renews me's lease every third of its life until the release, which
// removes the lock if it is still this run's. A renewal that finds the
// lock taken over says so: that run stopped counting on it.
func (x *Runner) hold(ctx context.Context, me *Lease) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex // me is renewed here and read by the release
	if me.TTL > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(me.TTL / 3)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				mu.Lock()
				me.Renewed = x.storeNow()
				err := x.Store.Renew(context.WithoutCancel(ctx), me)
				mu.Unlock()
				if errors.Is(err, ErrLockLost) {
					x.lockLost.Store(true)
					x.emit(Event{Kind: EventNote, Text: "lost the deploy lock: this run did not renew its lease in time and another run took it over; this run starts no further step"})
					return
				}
			}
		}()
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(stop)
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = x.Store.Release(rctx, me)
		})
	}
	x.abandon.Lock()
	x.releases = append(x.releases, release)
	x.abandon.Unlock()
	return release
}

// Abandon is what a process that must end now (a second signal) does
// first: it releases the deploy lock and removes the run's files that
// hold interpolated secrets. The journal stays: the next run, from any
// machine, finishes or undoes what this one began.
func (x *Runner) Abandon() {
	x.abandon.Lock()
	rel, cleanups := x.releases, x.cleanups
	x.releases, x.cleanups = nil, nil
	x.abandon.Unlock()
	for _, f := range cleanups {
		f()
	}
	// Compose commands first: the lock is released only when nothing
	// of this run still changes the deployment.
	if x.children != nil {
		x.children.StopAll(time.Second)
	}
	for _, f := range rel {
		f()
	}
}

// onAbandon registers cleanup for Abandon (and returns it, to run as
// usual too).
func (x *Runner) onAbandon(f func()) func() {
	var once sync.Once
	g := func() { once.Do(f) }
	x.abandon.Lock()
	x.cleanups = append(x.cleanups, g)
	x.abandon.Unlock()
	return g
}
