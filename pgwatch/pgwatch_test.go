package pgwatch

import (
	"strings"
	"testing"
	"time"
)

func TestPhaseRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var r phaseRate
	for _, tc := range []struct {
		at          time.Duration
		phase       string
		done, total int64
		wantFor     time.Duration
		wantLeft    time.Duration
	}{
		{0, "building index: scanning table", 100, 1000, 0, 0},                                           // first look: nothing to go by
		{500 * time.Millisecond, "building index: scanning table", 150, 1000, 500 * time.Millisecond, 0}, // under a second: too early
		{2 * time.Second, "building index: scanning table", 300, 1000, 2 * time.Second, 7 * time.Second}, // 200 in 2s, 700 left
		{3 * time.Second, "building index: sorting live tuples", 0, 0, 0, 0},                             // a new phase starts over
		{5 * time.Second, "building index: sorting live tuples", 0, 0, 2 * time.Second, 0},               // counts nothing: no estimate
		{6 * time.Second, "building index: loading tuples in tree", 10, 100, 0, 0},
		{8 * time.Second, "building index: loading tuples in tree", 10, 100, 2 * time.Second, 0}, // did not move
	} {
		gotFor, gotLeft := r.observe(t0.Add(tc.at), tc.phase, tc.done, tc.total)
		if gotFor != tc.wantFor || gotLeft != tc.wantLeft {
			t.Errorf("at %s %s %d/%d: phase for %s, left %s; want %s, %s", tc.at, tc.phase, tc.done, tc.total, gotFor, gotLeft, tc.wantFor, tc.wantLeft)
		}
	}
}

func TestSessionDescribe(t *testing.T) {
	for _, tc := range []struct {
		s    Session
		want string
	}{
		{Session{PID: 4242, ApplicationName: "blocker", ClientAddr: "10.0.0.5", State: "idle in transaction", StateFor: 252 * time.Second, Query: "SELECT count(*) FROM orders;"},
			"pid 4242 (blocker, 10.0.0.5), idle in transaction for 4m12s: SELECT count(*) FROM orders"},
		{Session{PID: 7, ClientAddr: "local", State: "active", InTransaction: 3 * time.Second, Query: "UPDATE orders SET x = 1"},
			"pid 7 (local), active, in a transaction for 3s: UPDATE orders SET x = 1"},
		{Session{PID: 9, State: "idle"}, "pid 9, idle"},
	} {
		if got := tc.s.Describe(); got != tc.want {
			t.Errorf("Describe() = %q\n want %q", got, tc.want)
		}
	}
	if got := (Session{PID: 12}).Terminate(); got != "SELECT pg_terminate_backend(12)" {
		t.Errorf("Terminate() = %q", got)
	}
}

func TestPercent(t *testing.T) {
	if p := (Progress{Done: 1, Total: 4}).Percent(); p != 25 {
		t.Errorf("Percent = %v", p)
	}
	if p := (Progress{Phase: "waiting for old snapshots"}).Percent(); p != -1 {
		t.Errorf("a phase that counts nothing: Percent = %v, want -1", p)
	}
	if !strings.Contains(progressSQL, "pg_stat_progress_create_index") || !strings.Contains(progressSQL, "pg_stat_progress_analyze") {
		t.Error("progressSQL lost a view")
	}
}
