package upgrade

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Runner is the run loop's own state, the same for both engines (a compose
// project's Executor, a Swarm Stack): where its memory is kept, its clock,
// its events and their redaction, and who it is as the deploy lock's
// holder. The loop itself (run.go) drives an engine through the small
// engine interface; nothing in it knows compose or Swarm.
type Runner struct {
	// Endpoint says which engine, for the record ("unix:///var/run/docker.sock").
	Endpoint string
	// EngineID is the engine's own id (a swarm's cluster id), which
	// every record names.
	EngineID string
	// Remote: the engine is on another machine (ssh://, a TCP address
	// not this machine's), so what upshift writes locally does not
	// outlive the runner.
	Remote bool
	// Store keeps the lock, the journal and the history: with the
	// deployment (the engine's, the swarm's), or a local folder.
	Store Store
	// Local is this machine's folder for the run's own files (overrides,
	// resolved copies, default backups) and a copy of its journal.
	Local   *State
	OnEvent func(Event)
	// Redact scrubs secrets from every line and error it reports.
	Redact func(string) string
	// Secrets are the values Redact hides (for a CI runner's masks).
	Secrets []string
	HTTP    *http.Client
	Now     func() time.Time
	// Sleep waits d or until ctx ends (nil: a real timer); with Now it is
	// the clock a test can drive, so polling loops run in virtual time.
	Sleep func(ctx context.Context, d time.Duration) error
	// LockWait bounds the wait for the deploy lock (0: do not wait).
	LockWait time.Duration
	// Me is this process as the lock holder and the history records it.
	Me Holder
	// Lease is how long the deploy lock outlives its last renewal
	// (0: DefaultLease).
	Lease time.Duration

	// lockLost: a renewal found the deploy lock taken over (this run's
	// lease ran out: a frozen runner, an engine out of reach). The run
	// that took it finishes or undoes this one from its journal, so this
	// one starts no further step and writes no journal or history.
	lockLost atomic.Bool

	abandon  sync.Mutex
	releases []func() // the deploy lock's release, for Abandon
	cleanups []func() // files holding secrets, for Abandon
	// children are the commands Abandon stops before it releases the
	// lock (the compose CLI's; nil for a stack, whose engine runs none).
	children interface{ StopAll(time.Duration) bool }
}

func (x *Runner) now() time.Time {
	if x.Now != nil {
		return x.Now()
	}
	return time.Now()
}

// wait is one pause of a polling loop: d, or until ctx ends.
func (x *Runner) wait(ctx context.Context, d time.Duration) error {
	if x.Sleep != nil {
		return x.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (x *Runner) emit(e Event) {
	if x.OnEvent == nil {
		return
	}
	e.Text = x.redact(e.Text)
	x.OnEvent(e)
}

// save journals rec, redacted, whether or not the run was cancelled:
// what a run journals is what a rerun from any machine goes by.
func (x *Runner) save(ctx context.Context, rec *Record) error {
	if x.lockLost.Load() {
		return errLockTakenOver
	}
	return x.Store.SaveRun(context.WithoutCancel(ctx), rec.Redacted(x.Redact))
}

// saveLocal journals rec in this machine's copy only (in the store when
// the store is the local folder).
func (x *Runner) saveLocal(ctx context.Context, rec *Record) {
	if x.Local == nil || Store(x.Local) == x.Store {
		_ = x.save(ctx, rec)
		return
	}
	_ = x.Local.SaveRun(ctx, rec.Redacted(x.Redact))
}

// keep moves a finished rec, redacted, from the journal to the history.
func (x *Runner) keep(ctx context.Context, rec *Record) error {
	return x.Store.Finish(context.WithoutCancel(ctx), rec.Redacted(x.Redact))
}

func (x *Runner) redact(s string) string {
	if x.Redact == nil {
		return s
	}
	return x.Redact(s)
}
