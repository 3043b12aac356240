// Package pgwatch watches one PostgreSQL backend from a second connection
// while it runs a long statement, and says what PostgreSQL knows about it:
// the phase and progress of an index build, a CLUSTER / VACUUM FULL
// rewrite, a VACUUM or an ANALYZE (the pg_stat_progress_* views), and, when
// it waits for a lock, who holds it (pg_blocking_pids with
// pg_stat_activity) and who queues behind it.
//
// The watcher connects only once the statement has run for Config.After,
// reads views only (it takes no lock and changes no setting of the watched
// session), and ends with its context. A watcher that cannot connect or
// read says so once (Report.Err) and stops: the watched work carries on.
package pgwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config is what to watch and how.
type Config struct {
	// Conn is how to connect: the watched session's own settings (the same
	// credentials; application_name is replaced).
	Conn *pgx.ConnConfig
	// PID is the watched backend.
	PID uint32
	// After is how long a statement runs before it is watched (2s).
	After time.Duration
	// Every is how often the views are read once watching (1s).
	Every time.Duration
	// LockTimeout is the watched statements' lock_timeout, for the warning
	// that it is about to end the wait (0: none set).
	LockTimeout time.Duration
}

// Report is one look at the watched backend while it runs a statement
// that has run for over Config.After.
type Report struct {
	At  time.Time
	PID uint32 // the watched backend
	// Query is the running statement as the server has it.
	Query string
	// Running is how long it has run (since its query_start).
	Running time.Duration
	// Progress is set when a progress view follows the statement.
	Progress *Progress
	// Lock is set while the statement waits for a lock.
	Lock *LockWait
	// Err is set once, when the watcher cannot connect or read; no report
	// follows it.
	Err error
}

// Progress is a pg_stat_progress_* view's row, summed up.
type Progress struct {
	Command string // CREATE INDEX CONCURRENTLY, VACUUM FULL, ANALYZE, …
	Phase   string // PostgreSQL's own phase name
	// Done and Total count Unit ("blocks", "tuples", "lockers",
	// "partitions") in this phase; Total is 0 where the phase counts
	// nothing.
	Done, Total int64
	Unit        string
	// PhaseFor is how long the phase has been seen so far.
	PhaseFor time.Duration
	// Left estimates what remains of the phase from its rate so far; 0
	// when it cannot be told.
	Left time.Duration
	// Waiting names the session the phase waits for (an index build
	// waiting for old snapshots or writers), 0 when none.
	WaitingFor int
}

// Percent is Done of Total, or -1 when the phase counts nothing.
func (p Progress) Percent() float64 {
	if p.Total <= 0 {
		return -1
	}
	return 100 * float64(p.Done) / float64(p.Total)
}

// LockWait is a statement waiting for a lock.
type LockWait struct {
	Relation string // the relation, when the lock is on one
	Mode     string // the mode asked for: AccessExclusiveLock, …
	Blockers []Session
	// Queued are the sessions waiting behind the watched one: with an
	// ACCESS EXCLUSIVE request pending, every query of the table queues
	// there, which is the outage.
	Queued int
	// QueuedFor is how long the oldest of them has waited.
	QueuedFor time.Duration
	// LockTimeout is Config.LockTimeout; Left is what remains of it
	// (negative: past it).
	LockTimeout, Left time.Duration
}

// Session is another backend, as pg_stat_activity has it.
type Session struct {
	PID             int
	ApplicationName string
	ClientAddr      string // "local" for a Unix socket
	State           string // active, idle in transaction, …
	// InTransaction is how long its transaction has been open; StateFor how
	// long it has been in State.
	InTransaction, StateFor time.Duration
	Query                   string // its last statement, cut to 200 characters
}

// Describe is the session in a person's words: "pid 4242 (blocker,
// 10.0.0.5), idle in transaction for 4m12s: SELECT …".
func (s Session) Describe() string {
	var who []string
	if s.ApplicationName != "" {
		who = append(who, s.ApplicationName)
	}
	if s.ClientAddr != "" {
		who = append(who, s.ClientAddr)
	}
	d := fmt.Sprintf("pid %d", s.PID)
	if len(who) > 0 {
		d += " (" + strings.Join(who, ", ") + ")"
	}
	d += ", " + s.State
	if s.State == "idle in transaction" || s.State == "idle in transaction (aborted)" {
		d += " for " + Human(s.StateFor)
	} else if s.InTransaction > 0 {
		d += ", in a transaction for " + Human(s.InTransaction)
	}
	if q := strings.TrimRight(strings.TrimSpace(s.Query), "; "); q != "" {
		d += ": " + q
	}
	return d
}

// Terminate is the SQL that ends the session (its transaction rolls back).
func (s Session) Terminate() string { return fmt.Sprintf("SELECT pg_terminate_backend(%d)", s.PID) }

// Human is a duration as the reports print it: tenths of a second below
// 10 s, whole seconds above.
func Human(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// Watch watches cfg.PID until ctx ends, calling report with each look
// (every cfg.Every) while the backend runs a statement that has run for
// over cfg.After. It connects only then. It returns nil when ctx ends, or
// the error it reported.
func Watch(ctx context.Context, cfg Config, report func(Report)) error {
	after, every := cfg.After, cfg.Every
	if after <= 0 {
		after = 2 * time.Second
	}
	if every <= 0 {
		every = time.Second
	}
	// Nothing before the mark: a run of short statements never connects.
	if !sleep(ctx, after) {
		return nil
	}
	w := &watcher{cfg: cfg, every: every}
	defer w.close()
	for {
		r, err := w.look(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			report(Report{At: time.Now(), Err: err})
			return err
		}
		if r != nil && r.Running >= after {
			r.PID = cfg.PID
			report(*r)
		}
		if !sleep(ctx, every) {
			return nil
		}
	}
}

// Look is one look at backend pid through conn, an open connection of the
// caller's (upshift locks, about a migration another process runs): nil
// when it runs no statement now.
func Look(ctx context.Context, conn *pgx.Conn, pid uint32) (*Report, error) {
	w := &watcher{cfg: Config{PID: pid}, conn: conn}
	r, err := w.look(ctx)
	if r != nil {
		r.PID = pid
	}
	return r, err
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type watcher struct {
	cfg   Config
	every time.Duration
	conn  *pgx.Conn
	// noProgress: the server has no progress views of this shape (before
	// PostgreSQL 13); locks are still watched.
	noProgress bool
	phase      phaseRate
}

func (w *watcher) close() {
	if w.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = w.conn.Close(ctx)
	}
}

// ErrCannotWatch wraps why the watcher could not connect or read.
var ErrCannotWatch = errors.New("cannot watch the migration")

func (w *watcher) look(ctx context.Context) (*Report, error) {
	if w.conn == nil {
		cc := w.cfg.Conn.Copy()
		if cc.RuntimeParams == nil {
			cc.RuntimeParams = map[string]string{}
		}
		cc.RuntimeParams["application_name"] = "upshift watcher"
		// Its own reads only: a slow catalog must not keep it.
		cc.RuntimeParams["statement_timeout"] = "5000"
		cc.RuntimeParams["lock_timeout"] = "1000"
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := pgx.ConnectConfig(cctx, cc)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: a second connection was refused: %v", ErrCannotWatch, err)
		}
		w.conn = conn
	}
	r := &Report{At: time.Now()}
	var state, waitType string
	var running float64
	err := w.conn.QueryRow(ctx, activitySQL, int(w.cfg.PID)).Scan(&state, &waitType, &r.Query, &running)
	r.Running = seconds(running)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // between statements, or gone
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading pg_stat_activity: %v", ErrCannotWatch, err)
	}
	if state != "active" {
		w.phase = phaseRate{}
		return nil, nil
	}
	if !w.noProgress {
		p, err := w.progress(ctx)
		if err != nil {
			w.noProgress = true // an older server: no such views
		} else {
			r.Progress = p
		}
	}
	if waitType == "Lock" {
		lw, err := w.lockWait(ctx, r.Running)
		if err != nil {
			return nil, fmt.Errorf("%w: reading pg_locks: %v", ErrCannotWatch, err)
		}
		r.Lock = lw
	}
	return r, nil
}

const activitySQL = `SELECT state, coalesce(wait_event_type, ''), left(query, 500), extract(epoch FROM now() - query_start)::float8
FROM pg_stat_activity WHERE pid = $1 AND query_start IS NOT NULL`

// progressSQL reads the progress views in one shape: command, phase, the
// counter of the phase where the phase counts something (PostgreSQL's
// documentation of each view says which), and the session an index build
// waits for. A counter left over from an earlier phase (the blocks of the
// scan while the tuples are sorted) is not reported as this one's.
const progressSQL = `
SELECT command, phase, coalesce(counter[1], 0), coalesce(counter[2], 0), coalesce(unit, ''), coalesce(current_locker_pid, 0)
FROM (
  SELECT command, phase, current_locker_pid,
    CASE WHEN phase LIKE 'waiting for%' AND lockers_total > 0 THEN ARRAY[lockers_done, lockers_total]
         WHEN phase = 'building index: loading tuples in tree' AND tuples_total > 0 THEN ARRAY[tuples_done, tuples_total]
         WHEN (phase LIKE 'building index%' OR phase LIKE 'index validation: scanning%') AND blocks_total > 0 AND blocks_done < blocks_total THEN ARRAY[blocks_done, blocks_total]
         WHEN partitions_total > 0 THEN ARRAY[partitions_done, partitions_total] END AS counter,
    CASE WHEN phase LIKE 'waiting for%' AND lockers_total > 0 THEN 'lockers'
         WHEN phase = 'building index: loading tuples in tree' AND tuples_total > 0 THEN 'tuples'
         WHEN (phase LIKE 'building index%' OR phase LIKE 'index validation: scanning%') AND blocks_total > 0 AND blocks_done < blocks_total THEN 'blocks'
         WHEN partitions_total > 0 THEN 'partitions' END AS unit
  FROM pg_stat_progress_create_index WHERE pid = $1
  UNION ALL
  SELECT command, phase, 0, CASE WHEN phase = 'seq scanning heap' AND heap_blks_total > 0 THEN ARRAY[heap_blks_scanned, heap_blks_total] END,
    CASE WHEN phase = 'seq scanning heap' AND heap_blks_total > 0 THEN 'blocks' END
  FROM pg_stat_progress_cluster WHERE pid = $1
  UNION ALL
  SELECT 'VACUUM', phase, 0,
    CASE WHEN phase = 'scanning heap' AND heap_blks_total > 0 THEN ARRAY[heap_blks_scanned, heap_blks_total]
         WHEN phase = 'vacuuming heap' AND heap_blks_total > 0 THEN ARRAY[heap_blks_vacuumed, heap_blks_total] END,
    CASE WHEN phase IN ('scanning heap', 'vacuuming heap') AND heap_blks_total > 0 THEN 'blocks' END
  FROM pg_stat_progress_vacuum WHERE pid = $1
  UNION ALL
  SELECT 'ANALYZE', phase, 0, CASE WHEN phase = 'acquiring sample rows' AND sample_blks_total > 0 THEN ARRAY[sample_blks_scanned, sample_blks_total] END,
    CASE WHEN phase = 'acquiring sample rows' AND sample_blks_total > 0 THEN 'blocks' END
  FROM pg_stat_progress_analyze WHERE pid = $1
) AS p LIMIT 1`

func (w *watcher) progress(ctx context.Context) (*Progress, error) {
	var p Progress
	err := w.conn.QueryRow(ctx, progressSQL, int(w.cfg.PID)).Scan(&p.Command, &p.Phase, &p.Done, &p.Total, &p.Unit, &p.WaitingFor)
	if errors.Is(err, pgx.ErrNoRows) {
		w.phase = phaseRate{}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.PhaseFor, p.Left = w.phase.observe(time.Now(), p.Phase, p.Done, p.Total)
	return &p, nil
}

// phaseRate estimates what is left of a phase from how fast its counter
// moved since the phase was first seen.
type phaseRate struct {
	phase      string
	start      time.Time
	startCount int64
}

func (r *phaseRate) observe(now time.Time, phase string, done, total int64) (phaseFor, left time.Duration) {
	if phase != r.phase {
		*r = phaseRate{phase: phase, start: now, startCount: done}
		return 0, 0
	}
	phaseFor = now.Sub(r.start)
	moved := done - r.startCount
	if total <= 0 || moved <= 0 || phaseFor < time.Second || done >= total {
		return phaseFor, 0
	}
	perUnit := float64(phaseFor) / float64(moved)
	return phaseFor, time.Duration(perUnit * float64(total-done)).Round(time.Second)
}

// lockWaitSQL: the lock the backend waits for, and the sessions that block it.
const lockWaitSQL = `
SELECT coalesce(l.relation::regclass::text, ''), l.mode
FROM pg_locks l WHERE l.pid = $1 AND NOT l.granted LIMIT 1`

const blockersSQL = `
SELECT b.pid, coalesce(b.application_name, ''), coalesce(host(b.client_addr), CASE WHEN b.backend_type = 'client backend' THEN 'local' ELSE '' END),
  coalesce(b.state, ''), coalesce(extract(epoch FROM now() - b.xact_start), 0)::float8, coalesce(extract(epoch FROM now() - b.state_change), 0)::float8,
  left(regexp_replace(coalesce(b.query, ''), '\s+', ' ', 'g'), 200)
FROM unnest(pg_blocking_pids($1)) AS bp(pid) JOIN pg_stat_activity b ON b.pid = bp.pid
ORDER BY b.xact_start NULLS LAST`

const queuedSQL = `
SELECT count(*)::int, coalesce(extract(epoch FROM max(now() - query_start)), 0)::float8 FROM pg_stat_activity
WHERE pid <> $1 AND $1 = ANY (pg_blocking_pids(pid))`

func (w *watcher) lockWait(ctx context.Context, running time.Duration) (*LockWait, error) {
	lw := &LockWait{LockTimeout: w.cfg.LockTimeout}
	err := w.conn.QueryRow(ctx, lockWaitSQL, int(w.cfg.PID)).Scan(&lw.Relation, &lw.Mode)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	rows, err := w.conn.Query(ctx, blockersSQL, int(w.cfg.PID))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s Session
		var inTx, stateFor float64
		if err := rows.Scan(&s.PID, &s.ApplicationName, &s.ClientAddr, &s.State, &inTx, &stateFor, &s.Query); err != nil {
			rows.Close()
			return nil, err
		}
		s.InTransaction, s.StateFor = seconds(inTx), seconds(stateFor)
		lw.Blockers = append(lw.Blockers, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var queuedFor float64
	if err := w.conn.QueryRow(ctx, queuedSQL, int(w.cfg.PID)).Scan(&lw.Queued, &queuedFor); err != nil {
		return nil, err
	}
	lw.QueuedFor = seconds(queuedFor)
	if lw.LockTimeout > 0 {
		// The wait began about when the statement did: a migration's DDL
		// asks for its lock first.
		lw.Left = lw.LockTimeout - running
	}
	return lw, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
