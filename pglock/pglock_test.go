package pglock_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/lockids"
	"github.com/upshift-dev/upshift/pglock"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// A waiter gets the lock within one poll of its release, names the holder
// while it waits, and gives up at its timeout with the holder in the error.
func TestAcquireWaitsAndHandsOver(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	ctx := context.Background()
	holder, waiter := db.Connect(t), db.Connect(t)
	id := lockids.Derive("pglock-test")
	if _, err := holder.Exec(ctx, "SET application_name = 'upshift test mana-auth'"); err != nil {
		t.Fatal(err)
	}
	if err := pglock.Acquire(ctx, holder, id, pglock.Wait{}); err != nil {
		t.Fatal(err)
	}
	err := pglock.Acquire(ctx, waiter, id, pglock.Wait{Timeout: 150 * time.Millisecond})
	var te *pglock.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, pglock.ErrTimeout) || len(te.Holders) != 1 || te.Holders[0].Service != "mana-auth" || !strings.Contains(err.Error(), "upshift test mana-auth") {
		t.Fatalf("%v", err)
	}
	held, err := pglock.Held(ctx, waiter, id)
	if err != nil || len(held) != 1 || !held[0].Granted {
		t.Fatalf("held %+v %v", held, err)
	}
	var waits int
	done := make(chan error, 1)
	go func() {
		done <- pglock.Acquire(ctx, waiter, id, pglock.Wait{Timeout: 10 * time.Second, Report: time.Millisecond, OnWait: func(time.Duration, []pglock.Holder) { waits++ }})
	}()
	time.Sleep(200 * time.Millisecond)
	released := time.Now()
	if err := pglock.Release(holder, id); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(released); took > time.Second || waits == 0 {
		t.Errorf("hand-over after %s, %d wait reports", took, waits)
	}
	if err := pglock.Release(holder, id); err == nil || !strings.Contains(err.Error(), "did not hold it") {
		t.Errorf("releasing a lock not held: %v", err)
	}
}

// Terminate ends the holding session, and with it its lock.
func TestTerminateReleases(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	ctx := context.Background()
	stuck, admin := db.Connect(t), db.Connect(t)
	id := lockids.Derive("pglock-stuck")
	if err := pglock.Acquire(ctx, stuck, id, pglock.Wait{}); err != nil {
		t.Fatal(err)
	}
	held, _ := pglock.Held(ctx, admin, id)
	if len(held) != 1 {
		t.Fatalf("held %+v", held)
	}
	if err := pglock.Terminate(ctx, admin, held[0].PID); err != nil {
		t.Fatal(err)
	}
	if err := pglock.Acquire(ctx, admin, id, pglock.Wait{Timeout: 2 * time.Second}); err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
	if err := pglock.Terminate(ctx, admin, 1); err == nil {
		t.Errorf("terminating a pid that is no backend should fail")
	}
}
