package watchtext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/pgwatch"
)

func look(at time.Duration, phase string, done, total int64) drizzle.Activity {
	return drizzle.Activity{Tag: "0042_jobs_idx", File: "drizzle/0042_jobs_idx.sql", Statement: 1, Line: 1,
		Report: pgwatch.Report{At: time.Unix(1000, 0).Add(at), PID: 77, Running: 2*time.Second + at,
			Progress: &pgwatch.Progress{Command: "CREATE INDEX CONCURRENTLY", Phase: phase, Done: done, Total: total, Unit: "blocks"}}}
}

// TestActivityPlainLines: through a pipe, a line when the phase changes,
// else one every 5 s; never a control character.
func TestActivityPlainLines(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, nil, false, 0)
	for _, a := range []drizzle.Activity{
		look(0, "building index: scanning table", 10, 100), // printed: first
		look(time.Second, "building index: scanning table", 20, 100),
		look(4*time.Second, "building index: scanning table", 50, 100),
		look(5*time.Second, "building index: scanning table", 60, 100),   // printed: 5 s since
		look(6*time.Second, "building index: sorting live tuples", 0, 0), // printed: new phase
		look(7*time.Second, "building index: sorting live tuples", 0, 0),
	} {
		p.Show(a)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "10.0% (10 of 100 blocks)") || !strings.Contains(lines[1], "60.0%") || !strings.Contains(lines[2], "sorting live tuples") {
		t.Fatalf("lines:\n%s", out.String())
	}
	for _, c := range out.String() {
		if c < 0x20 && c != '\n' {
			t.Fatalf("control character %q", c)
		}
	}
	sum := p.Summary()
	if !strings.Contains(sum, "0042_jobs_idx statement 1") || !strings.Contains(sum, "CREATE INDEX CONCURRENTLY: building index: scanning table 5s") {
		t.Errorf("summary:\n%s", sum)
	}
}

func TestActivityTerminalAndJSON(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, nil, true, 60)
	p.Show(look(0, "building index: scanning table", 45, 100))
	p.Clear()
	s := out.String()
	if !strings.HasPrefix(s, "\r\x1b[K[#########...........]  45% building index") || !strings.HasSuffix(s, "\r\x1b[K") {
		t.Fatalf("terminal: %q", s)
	}
	if line := strings.TrimSuffix(strings.TrimPrefix(s, "\r\x1b[K"), "\r\x1b[K"); len([]rune(line)) > 59 {
		t.Errorf("the live line is wider than the terminal: %d characters", len([]rune(line)))
	}

	var events bytes.Buffer
	p = New(&out, &events, false, 0)
	p.Show(look(0, "building index: scanning table", 45, 100))
	var e drizzle.ActivityEvent
	if err := json.Unmarshal(events.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if e.Event != "progress" || e.PID != 77 || e.Percent == nil || *e.Percent != 45 || e.Phase != "building index: scanning table" || e.Migration != "0042_jobs_idx" {
		t.Errorf("event %+v", e)
	}
}

// TestLockWaitLine: the holder, the queue, the SQL that ends it, and a
// warning once little of lock_timeout is left.
func TestLockWaitLine(t *testing.T) {
	a := drizzle.Activity{Tag: "0008_orders_note", File: "drizzle/0008_orders_note.sql", Statement: 1, Line: 1,
		Report: pgwatch.Report{Running: 8 * time.Second, Lock: &pgwatch.LockWait{Relation: "orders", Mode: "AccessExclusiveLock",
			Blockers: []pgwatch.Session{{PID: 4242, ApplicationName: "billing-worker", ClientAddr: "10.0.0.5", State: "idle in transaction", StateFor: 252 * time.Second}},
			Queued:   3, QueuedFor: 5 * time.Second, LockTimeout: 10 * time.Second, Left: 2 * time.Second}}}
	want := "0008_orders_note statement 1 (drizzle/0008_orders_note.sql:1) has waited 8s for AccessExclusiveLock on orders, held by pid 4242 (billing-worker, 10.0.0.5), idle in transaction for 4m12s; 3 sessions are queued behind it (the oldest for 5s); to end the holder (its transaction rolls back): SELECT pg_terminate_backend(4242); warning: lock_timeout (10s) ends the wait in 2s"
	if got := a.String(); got != want {
		t.Errorf("line:\n%s\nwant:\n%s", got, want)
	}
	a.Lock.Left = 8 * time.Second
	if got := a.String(); strings.Contains(got, "warning") {
		t.Errorf("a warning with most of lock_timeout left: %s", got)
	}
}
