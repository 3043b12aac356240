// Package pglock takes, waits for, inspects and releases PostgreSQL session
// advisory locks.
//
// A waiter is an idle session that tries pg_try_advisory_lock every 20–60 ms
// (jittered, so that replicas do not march in step). It never blocks in
// pg_advisory_lock: a blocked statement holds a snapshot, and CREATE INDEX
// CONCURRENTLY, run by the holder, waits for every older snapshot — the
// deadlock detector then kills one of them. Each try is instant, so neither
// a role's statement_timeout nor its lock_timeout can end the wait: only the
// caller's timeout does. The hand-over after a release takes at most one
// interval, against up to 5 s for the documented polling script.
package pglock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/lockids"
)

// ErrTimeout is returned when the lock was not acquired in time.
var ErrTimeout = errors.New("advisory lock not acquired within the timeout")

// Holder is a session holding (or waiting for) an advisory lock.
type Holder struct {
	PID             int        `json:"pid"`
	ApplicationName string     `json:"application_name"`
	ClientAddr      string     `json:"client_addr"`
	User            string     `json:"user"`
	Database        string     `json:"database"`
	BackendStart    *time.Time `json:"backend_start,omitempty"`
	State           string     `json:"state"`
	StateChange     *time.Time `json:"state_change,omitempty"`
	Query           string     `json:"query"`
	LockID          lockids.ID `json:"lock_id"`
	Granted         bool       `json:"granted"`
	// Service is the service it migrates for ("" when nothing says):
	// the registry's name of its lock, else upshift's application_name.
	Service string `json:"service,omitempty"`
}

func (h Holder) String() string {
	since := "?"
	if h.BackendStart != nil {
		since = h.BackendStart.Local().Format(time.RFC3339)
	}
	app := h.ApplicationName
	if app == "" {
		app = "(no application_name)"
	}
	return fmt.Sprintf("pid %d, %s, from %s, user %s, connected since %s, %s", h.PID, app, h.ClientAddr, h.User, since, h.State)
}

// Wait configures Acquire.
type Wait struct {
	// Timeout is how long to wait in all; 0 means try once.
	Timeout time.Duration
	// Report is how often OnWait is called while waiting (default 5s).
	Report time.Duration
	// OnWait is told who holds the lock while this session waits.
	OnWait func(waited time.Duration, holders []Holder)
}

// TimeoutError is ErrTimeout with the sessions that held the lock.
type TimeoutError struct {
	ID      lockids.ID
	Waited  time.Duration
	Holders []Holder
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("advisory lock %d not acquired within %s", e.ID, e.Waited.Round(time.Millisecond))
	for _, h := range e.Holders {
		msg += "\n  held by " + h.String()
	}
	return msg
}

func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// Poll bounds the interval between two tries while waiting.
var Poll = struct{ Min, Max time.Duration }{20 * time.Millisecond, 60 * time.Millisecond}

// Acquire takes the session lock id on conn, waiting as configured.
func Acquire(ctx context.Context, conn *pgx.Conn, id lockids.ID, w Wait) error {
	try := func() (bool, error) {
		var ok bool
		err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(id)).Scan(&ok)
		return ok, err
	}
	ok, err := try()
	if err != nil {
		return fmt.Errorf("try advisory lock %d: %w", id, err)
	}
	if ok {
		return nil
	}
	report := w.Report
	if report <= 0 {
		report = 5 * time.Second
	}
	start := time.Now()
	deadline := start.Add(w.Timeout)
	var lastReport time.Time
	for {
		if time.Now().After(deadline) {
			holders, _ := Holders(ctx, conn, &id)
			return &TimeoutError{ID: id, Waited: time.Since(start), Holders: holders}
		}
		if w.OnWait != nil && time.Since(lastReport) >= report {
			lastReport = time.Now()
			if holders, err := Holders(ctx, conn, &id); err == nil {
				w.OnWait(time.Since(start), holders)
			}
		}
		pause := Poll.Min + rand.N(Poll.Max-Poll.Min+1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for advisory lock %d: %w", id, ctx.Err())
		case <-time.After(min(pause, max(time.Until(deadline), time.Millisecond))):
		}
		if ok, err = try(); err != nil {
			return fmt.Errorf("wait for advisory lock %d: %w", id, err)
		}
		if ok {
			return nil
		}
	}
}

// Release gives the lock back. It uses its own short context so that it
// also works after the caller's context was cancelled.
func Release(conn *pgx.Conn, id lockids.ID) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", int64(id)).Scan(&ok); err != nil {
		return fmt.Errorf("release advisory lock %d: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("release advisory lock %d: this session did not hold it", id)
	}
	return nil
}

// Holders lists the sessions of the current database holding advisory
// locks: all of them, or only lock id when id is set. Single-bigint keys are
// stored as classid (high 32 bits), objid (low 32 bits), objsubid 1.
func Holders(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, id *lockids.ID) ([]Holder, error) {
	sql := `SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'),
       coalesce(a.usename::text, ''), coalesce(a.datname::text, ''), a.backend_start, coalesce(a.state, ''), a.state_change,
       coalesce(a.query, ''), ((l.classid::bigint << 32) | l.objid::bigint), l.granted
FROM pg_catalog.pg_locks l
JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
  AND ($1::bigint IS NULL OR ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint)
ORDER BY l.granted DESC, a.backend_start`
	var arg *int64
	if id != nil {
		v := int64(*id)
		arg = &v
	}
	rows, err := q.Query(ctx, sql, arg)
	if err != nil {
		return nil, fmt.Errorf("list advisory locks: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Holder, error) {
		var h Holder
		var lid int64
		err := r.Scan(&h.PID, &h.ApplicationName, &h.ClientAddr, &h.User, &h.Database, &h.BackendStart, &h.State, &h.StateChange, &h.Query, &lid, &h.Granted)
		h.LockID = lockids.ID(lid)
		h.Service = serviceOf(h)
		return h, err
	})
}

// Held lists the sessions that hold lock id (not those waiting for it).
func Held(ctx context.Context, conn *pgx.Conn, id lockids.ID) ([]Holder, error) {
	hs, err := Holders(ctx, conn, &id)
	if err != nil {
		return nil, err
	}
	held := []Holder{}
	for _, h := range hs {
		if h.Granted {
			held = append(held, h)
		}
	}
	return held, nil
}

// Terminate ends a session (pg_terminate_backend): its open transaction
// rolls back and its advisory locks are released.
func Terminate(ctx context.Context, conn *pgx.Conn, pid int) error {
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil {
		return fmt.Errorf("terminate pid %d: %w", pid, err)
	}
	if !ok {
		return fmt.Errorf("pid %d could not be terminated (already gone, or not permitted)", pid)
	}
	return nil
}

// serviceOf is the service a holder migrates for: the registry's name of
// its lock, else what upshift put in its application_name ("upshift
// <version> <service>"); "" when neither says.
func serviceOf(h Holder) string {
	if svc, ok := lockids.Lookup(h.LockID); ok && svc != "" {
		return svc
	}
	f := strings.Fields(h.ApplicationName)
	if len(f) == 3 && f[0] == "upshift" {
		return f[2]
	}
	return ""
}

// LastQuery is the holder's last query on one line, shortened.
func (h Holder) LastQuery() string {
	s := strings.Join(strings.Fields(h.Query), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
