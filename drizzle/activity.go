package drizzle

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/pglock"
	"github.com/upshift-dev/upshift/pgwatch"
)

// Activity is a look at the running statement of a migration.
type Activity struct {
	pgwatch.Report
	// Tag, File and Statement (1-based) and Line say which statement it
	// is, when the server's text of the running query is one of the run's.
	Tag, File       string
	Statement, Line int
}

// Kind is what the look found: "lock-wait", "progress" or "running".
func (a Activity) Kind() string {
	switch {
	case a.Lock != nil:
		return "lock-wait"
	case a.Progress != nil:
		return "progress"
	}
	return "running"
}

// Key changes when what a person should be told changes: another
// statement, phase, or blocker.
func (a Activity) Key() string {
	k := fmt.Sprintf("%s|%d|%s", a.Tag, a.Statement, a.Kind())
	if a.Progress != nil {
		k += "|" + a.Progress.Command + "|" + a.Progress.Phase
	}
	if a.Lock != nil {
		for _, b := range a.Lock.Blockers {
			k += fmt.Sprintf("|%d", b.PID)
		}
		// Sessions starting to queue behind the migration is news.
		k += fmt.Sprintf("|queued:%v", a.Lock.Queued > 0)
	}
	return k
}

// Where names the statement: "0042_jobs_idx statement 1 (drizzle/0042_jobs_idx.sql:3)".
func (a Activity) Where() string {
	if a.Tag == "" {
		return "the running statement (" + firstLine(a.Query, 60) + ")"
	}
	return fmt.Sprintf("%s statement %d (%s:%d)", a.Tag, a.Statement, a.File, a.Line)
}

// String is the look as one line, for logs.
func (a Activity) String() string {
	var b strings.Builder
	b.WriteString(a.Where())
	switch {
	case a.Lock != nil:
		l := a.Lock
		fmt.Fprintf(&b, " has waited %s for %s", dur(a.Running), orWord(l.Mode, "a lock"))
		if l.Relation != "" {
			b.WriteString(" on " + l.Relation)
		}
		for i, s := range l.Blockers {
			if i == 0 {
				b.WriteString(", held by ")
			} else {
				b.WriteString("; and by ")
			}
			b.WriteString(s.Describe())
		}
		if l.Queued > 0 {
			fmt.Fprintf(&b, "; %d %s queued behind it (the oldest for %s)", l.Queued, plural(l.Queued, "session is", "sessions are"), dur(l.QueuedFor))
		}
		if len(l.Blockers) > 0 {
			var ends []string
			for _, s := range l.Blockers {
				ends = append(ends, s.Terminate())
			}
			b.WriteString("; to end the holder (its transaction rolls back): " + strings.Join(ends, "; "))
		}
		if l.LockTimeout > 0 {
			warn := ""
			if l.Left <= max(l.LockTimeout/4, 2*time.Second) {
				warn = "warning: "
			}
			if l.Left > 0 {
				fmt.Fprintf(&b, "; %slock_timeout (%s) ends the wait in %s", warn, dur(l.LockTimeout), dur(l.Left))
			} else {
				fmt.Fprintf(&b, "; %slock_timeout (%s) is ending the wait", warn, dur(l.LockTimeout))
			}
		}
	case a.Progress != nil:
		p := a.Progress
		fmt.Fprintf(&b, ": %s, %s", p.Command, p.Phase)
		if pc := p.Percent(); pc >= 0 {
			fmt.Fprintf(&b, " %.1f%% (%s of %s %s)", pc, thousands(p.Done), thousands(p.Total), p.Unit)
		}
		if p.WaitingFor != 0 {
			fmt.Fprintf(&b, ", waiting for pid %d", p.WaitingFor)
		}
		fmt.Fprintf(&b, ", running %s", dur(a.Running))
		if p.Left > 0 {
			fmt.Fprintf(&b, ", about %s left in this phase", dur(p.Left))
		}
	default:
		fmt.Fprintf(&b, " running for %s", dur(a.Running))
	}
	return b.String()
}

// Short is the look for a line redrawn in place on a terminal: what moves
// first (a bar, the percentage and the phase, or the wait and its holder),
// then which statement.
func (a Activity) Short() string {
	which := fmt.Sprintf("%s #%d", a.Tag, a.Statement)
	if a.Tag == "" {
		which = firstLine(a.Query, 40)
	}
	switch {
	case a.Lock != nil:
		l := a.Lock
		s := fmt.Sprintf("waiting %s for %s", dur(a.Running), orWord(l.Mode, "a lock"))
		if l.Relation != "" {
			s += " on " + l.Relation
		}
		if len(l.Blockers) > 0 {
			b := l.Blockers[0]
			s += fmt.Sprintf(" · held by pid %d", b.PID)
			if b.ApplicationName != "" {
				s += " (" + b.ApplicationName + ")"
			}
			s += " " + b.State
			if strings.HasPrefix(b.State, "idle in transaction") {
				s += " " + dur(b.StateFor)
			}
		}
		if l.Queued > 0 {
			s += fmt.Sprintf(" · %d queued behind", l.Queued)
		}
		if l.LockTimeout > 0 && l.Left > 0 {
			s += " · lock_timeout in " + dur(l.Left)
		}
		return s + " · " + which
	case a.Progress != nil:
		p := a.Progress
		s := ""
		if pc := p.Percent(); pc >= 0 {
			const width = 20
			n := min(width, int(pc/100*width+0.5))
			s = "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + fmt.Sprintf("] %3.0f%% ", pc)
		}
		s += p.Phase + " · " + which + " · " + dur(a.Running)
		if p.Left > 0 {
			s += " · ~" + dur(p.Left) + " left"
		}
		return s + " · " + p.Command
	}
	return "running " + dur(a.Running) + " · " + which
}

func dur(d time.Duration) string { return pgwatch.Human(d) }

func orWord(s, or string) string {
	if s == "" {
		return or
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// firstLine is s's first line, cut to max characters (never inside one).
func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// ActivityEvent is an Activity as a JSON event (--format json).
type ActivityEvent struct {
	Event             string         `json:"event"` // progress, lock-wait or running
	Migration         string         `json:"migration,omitempty"`
	File              string         `json:"file,omitempty"`
	Statement         int            `json:"statement,omitempty"`
	Line              int            `json:"line,omitempty"`
	PID               uint32         `json:"pid"` // the migrating backend
	Query             string         `json:"query"`
	RunningMS         int64          `json:"running_ms"`
	Command           string         `json:"command,omitempty"`
	Phase             string         `json:"phase,omitempty"`
	Done              int64          `json:"done,omitempty"`
	Total             int64          `json:"total,omitempty"`
	Unit              string         `json:"unit,omitempty"`
	Percent           *float64       `json:"percent,omitempty"`
	LeftMS            int64          `json:"phase_left_ms,omitempty"`
	WaitingFor        int            `json:"waiting_for_pid,omitempty"`
	Relation          string         `json:"relation,omitempty"`
	Mode              string         `json:"mode,omitempty"`
	Blockers          []BlockerEvent `json:"blockers,omitempty"`
	Queued            int            `json:"queued,omitempty"`
	QueuedMS          int64          `json:"queued_oldest_ms,omitempty"`
	LockTimeoutMS     int64          `json:"lock_timeout_ms,omitempty"`
	LockTimeoutLeftMS *int64         `json:"lock_timeout_left_ms,omitempty"`
	Message           string         `json:"message"` // String(), the line a person reads
}

// BlockerEvent is a session holding the lock a migration waits for.
type BlockerEvent struct {
	PID             int    `json:"pid"`
	ApplicationName string `json:"application_name"`
	ClientAddr      string `json:"client_addr"`
	State           string `json:"state"`
	InTransactionMS int64  `json:"in_transaction_ms"`
	StateMS         int64  `json:"state_ms"`
	Query           string `json:"query"`
	Terminate       string `json:"terminate"` // the SQL that ends it
}

// Event is the look as a JSON event.
func (a Activity) Event() ActivityEvent {
	e := ActivityEvent{Event: a.Kind(), Migration: a.Tag, File: a.File, Statement: a.Statement, Line: a.Line, PID: a.PID,
		Query: a.Query, RunningMS: a.Running.Milliseconds(), Message: a.String()}
	if p := a.Progress; p != nil {
		e.Command, e.Phase, e.Done, e.Total, e.Unit, e.LeftMS, e.WaitingFor = p.Command, p.Phase, p.Done, p.Total, p.Unit, p.Left.Milliseconds(), p.WaitingFor
		if pc := p.Percent(); pc >= 0 {
			e.Percent = &pc
		}
	}
	if l := a.Lock; l != nil {
		e.Relation, e.Mode, e.Queued, e.QueuedMS = l.Relation, l.Mode, l.Queued, l.QueuedFor.Milliseconds()
		for _, s := range l.Blockers {
			e.Blockers = append(e.Blockers, BlockerEvent{PID: s.PID, ApplicationName: s.ApplicationName, ClientAddr: s.ClientAddr, State: s.State,
				InTransactionMS: s.InTransaction.Milliseconds(), StateMS: s.StateFor.Milliseconds(), Query: s.Query, Terminate: s.Terminate()})
		}
		if l.LockTimeout > 0 {
			left := l.Left.Milliseconds()
			e.LockTimeoutMS, e.LockTimeoutLeftMS = l.LockTimeout.Milliseconds(), &left
		}
	}
	return e
}

// thousands writes n with a comma between each group of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// LockHolder is a session in the advisory lock table with what it runs
// now, as a migration's watcher would see it (Running nil: idle, waiting
// for the lock, or already gone).
type LockHolder struct {
	pglock.Holder
	Running  *ActivityEvent `json:"running,omitempty"`
	Activity *Activity      `json:"-"`
}

// LockHolders lists the advisory locks' sessions (`upshift locks`), with
// the statement each lock holder runs, its progress and whom it waits for.
func LockHolders(ctx context.Context, conn *pgx.Conn) ([]LockHolder, error) {
	hs, err := pglock.Holders(ctx, conn, nil)
	if err != nil {
		return nil, err
	}
	out := make([]LockHolder, 0, len(hs))
	for _, h := range hs {
		r := LockHolder{Holder: h}
		if h.Granted && h.State == "active" {
			if rep, err := pgwatch.Look(ctx, conn, uint32(h.PID)); err == nil && rep != nil {
				a := Activity{Report: *rep}
				ev := a.Event()
				r.Running, r.Activity = &ev, &a
			}
		}
		out = append(out, r)
	}
	return out, nil
}
