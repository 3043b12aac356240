// Package watchtext renders what the migration watcher (pgwatch, through
// drizzle.Activity) reports for a person or a log: a live line on a
// terminal, plain lines elsewhere, JSON events, the lock holder when a wait
// timed out, and the GitHub job summary's table of slow statements.
package watchtext

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/internal/ghactions"
)

// Printer renders what the watcher says of a long statement: on a
// terminal, one line redrawn in place; elsewhere (a CI log, docker logs, a
// pipe) a plain line whenever what it says changes, else every 5 s; with
// --format json one event a look, on stderr (stdout stays one document).
type Printer struct {
	out      io.Writer // where text goes (stdout)
	events   io.Writer // JSON events (stderr); nil for text
	terminal bool
	width    int

	drawn   bool // a live line is on the terminal
	lastKey string
	lastAt  time.Time
	warned  bool // the watcher's failure was said
	slow    map[string]*slowStatement
	// lastLock is the last look at a statement waiting for a lock.
	lastLock *drizzle.Activity
}

const plainEvery = 5 * time.Second

type slowStatement struct {
	where   string
	longest time.Duration
	phases  []phaseTime
}

type phaseTime struct {
	name        string
	first, last time.Time
}

// New renders text to out; with events set, JSON events go there instead
// (stderr, when stdout holds one document). width is the terminal's.
func New(out, events io.Writer, terminal bool, width int) *Printer {
	if width <= 20 {
		width = 100
	}
	return &Printer{out: out, events: events, terminal: terminal, width: width, slow: map[string]*slowStatement{}}
}

// Show renders one look.
func (p *Printer) Show(a drizzle.Activity) {
	if a.Err != nil {
		if !p.warned {
			p.warned = true
			p.Clear()
			fmt.Fprintf(p.text(), "upshift: %v; the migration carries on, unwatched\n", a.Err)
		}
		return
	}
	p.record(a)
	if p.events != nil {
		b, _ := json.Marshal(a.Event())
		fmt.Fprintf(p.events, "%s\n", b)
		return
	}
	if p.terminal {
		line := a.Short()
		// One line, redrawn: cut to the terminal's width by characters.
		if r := []rune(line); len(r) > p.width-1 {
			line = string(r[:p.width-2]) + "…"
		}
		fmt.Fprintf(p.out, "\r\033[K%s", line)
		flush(p.out)
		p.drawn = true
		return
	}
	line := a.String()
	if a.Key() == p.lastKey && a.At.Sub(p.lastAt) < plainEvery {
		return
	}
	p.lastKey, p.lastAt = a.Key(), a.At
	fmt.Fprintf(p.out, "upshift: %s\n", line)
}

// text is where a line for a person goes.
func (p *Printer) text() io.Writer {
	if p.events != nil {
		return p.events
	}
	return p.out
}

// Clear removes the live line before anything else is printed.
func (p *Printer) Clear() {
	if p.drawn {
		fmt.Fprint(p.out, "\r\033[K")
		flush(p.out)
		p.drawn = false
	}
}

func flush(w io.Writer) {
	if f, ok := w.(interface{ Flush() }); ok {
		f.Flush()
	}
}

// HeldBy says who held the lock when lock_timeout ended a migration's
// wait, as the watcher last saw it ("" when it is not that failure).
func (p *Printer) HeldBy(err error) string {
	if p.lastLock == nil || !drizzle.IsLockTimeout(err) || len(p.lastLock.Lock.Blockers) == 0 {
		return ""
	}
	l := p.lastLock.Lock
	var b strings.Builder
	fmt.Fprintf(&b, "the lock it waited for (%s on %s) was held, %s into the wait, by:", orDefault(l.Mode, "a lock"), orDefault(l.Relation, "an object"), p.lastLock.Running.Round(100*time.Millisecond))
	for _, s := range l.Blockers {
		fmt.Fprintf(&b, "\n  %s\n    end it (its transaction rolls back): %s", s.Describe(), s.Terminate())
	}
	return b.String()
}

func (p *Printer) record(a drizzle.Activity) {
	if a.Lock != nil {
		p.lastLock = &a
	}
	key := a.Where()
	s := p.slow[key]
	if s == nil {
		s = &slowStatement{where: key}
		p.slow[key] = s
	}
	s.longest = max(s.longest, a.Running)
	phase := a.Kind()
	if a.Progress != nil {
		phase = a.Progress.Command + ": " + a.Progress.Phase
	} else if a.Lock != nil {
		phase = "waiting for " + orDefault(a.Lock.Mode, "a lock")
	}
	if n := len(s.phases); n > 0 && s.phases[n-1].name == phase {
		s.phases[n-1].last = a.At
	} else {
		s.phases = append(s.phases, phaseTime{name: phase, first: a.At, last: a.At})
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Summary is the slowest statements with the time seen in each phase, for
// the GitHub Actions job summary ("" when none ran long).
func (p *Printer) Summary() string {
	if len(p.slow) == 0 {
		return ""
	}
	var all []*slowStatement
	for _, s := range p.slow {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].longest > all[j].longest })
	var b strings.Builder
	b.WriteString("Statements that ran over 2 s, slowest first (phases as PostgreSQL names them, time seen in each):\n\n| statement | ran for at least | phases |\n|---|---|---|\n")
	for i, s := range all {
		if i == 10 {
			break
		}
		var ph []string
		for _, x := range s.phases {
			ph = append(ph, fmt.Sprintf("%s %s", x.name, x.last.Sub(x.first).Round(time.Second)))
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", ghactions.Cell(s.where), s.longest.Round(time.Second), ghactions.Cell(strings.Join(ph, "; ")))
	}
	return b.String() + "\n"
}
