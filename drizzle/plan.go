package drizzle

import (
	"fmt"
	"slices"
	"strconv"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// State classifies a migration against the migrations table.
type State string

const (
	StateApplied State = "applied"
	StatePending State = "pending"
	// StateModified: applied, but the file's hash differs from the row's.
	StateModified State = "modified"
	// StateMissing: a row that no local migration matches.
	StateMissing State = "missing"
	// StateOutOfOrder: pending (journal layouts) but older than the newest
	// applied row, which drizzle-orm 0.x skips silently forever.
	StateOutOfOrder State = "out-of-order"
)

// Entry is one line of a plan: a local migration, a row, or both.
type Entry struct {
	Migration *Migration // nil for StateMissing
	Row       *Row       // nil for pending and out-of-order
	State     State
	// NameBackfill is set when the row has no name yet and was matched the
	// way drizzle-orm 1.0 upgrades a table; migrating records the name.
	NameBackfill bool
	Note         string
}

// Tag is the migration's tag, or the row's name or id for a missing row.
func (e *Entry) Tag() string {
	switch {
	case e.Migration != nil:
		return e.Migration.Tag
	case e.Row.Name != nil:
		return *e.Row.Name
	default:
		return "#" + strconv.FormatInt(e.Row.ID, 10)
	}
}

// CreatedAt is the migration's created_at, falling back to the row's.
func (e *Entry) CreatedAt() (int64, bool) {
	if e.Migration != nil {
		return e.Migration.CreatedAt, true
	}
	if e.Row.CreatedAt != nil {
		return *e.Row.CreatedAt, true
	}
	return 0, false
}

// Plan compares local migrations with the migrations table.
type Plan struct {
	Source  *Source
	Table   Table
	Shape   Shape
	Entries []*Entry // local migrations in apply order, then missing rows
	// Warnings about the table (the folder's own are in Source.Warnings).
	Warnings []Warning
}

// NewPlan classifies every local migration and every row.
func NewPlan(src *Source, t Table, shape Shape, rows []Row) *Plan {
	p := &Plan{Source: src, Table: t, Shape: shape}
	if src.Layout.ByName() {
		p.matchByName(rows)
	} else {
		p.matchByCreatedAt(rows)
	}
	return p
}

// matchByCreatedAt is drizzle-orm 0.x: a migration is applied when a row
// has its created_at; anything with a newer "when" than the newest row is
// pending, anything older is what 0.x would skip.
func (p *Plan) matchByCreatedAt(rows []Row) {
	byCreated := make(map[int64][]int, len(rows))
	var newest int64
	haveNewest, nullCreated := false, false
	for i, r := range rows {
		if r.CreatedAt == nil {
			nullCreated = true
			continue
		}
		byCreated[*r.CreatedAt] = append(byCreated[*r.CreatedAt], i)
		if !haveNewest || *r.CreatedAt > newest {
			newest, haveNewest = *r.CreatedAt, true
		}
	}
	if nullCreated {
		p.Warnings = append(p.Warnings, Warning{Msg: fmt.Sprintf("%s has rows with a NULL created_at; drizzle-orm 0.x would re-apply every migration on this database", p.Table)})
	}
	claimed := make([]bool, len(rows))
	p.Entries = make([]*Entry, 0, len(p.Source.Migrations))
	entries := make([]Entry, len(p.Source.Migrations))
	for k, m := range p.Source.Migrations {
		e := &entries[k]
		e.Migration = m
		if i, ok := pick(byCreated[m.CreatedAt], claimed, rows, m.Hash); ok {
			claimed[i] = true
			e.Row = &rows[i]
			e.State = StateApplied
			if rows[i].Hash != m.Hash {
				e.State = StateModified
			}
		} else if !haveNewest || m.CreatedAt > newest {
			e.State = StatePending
		} else {
			e.State = StateOutOfOrder
			e.Note = fmt.Sprintf("created %d is older than the newest applied row (%d)", m.CreatedAt, newest)
		}
		p.Entries = append(p.Entries, e)
	}
	p.addMissing(rows, claimed)
}

// pick returns the first unclaimed candidate row, preferring one whose hash
// matches.
func pick(cands []int, claimed []bool, rows []Row, hash string) (int, bool) {
	first := -1
	for _, i := range cands {
		if claimed[i] {
			continue
		}
		if rows[i].Hash == hash {
			return i, true
		}
		if first < 0 {
			first = i
		}
	}
	return first, first >= 0
}

// matchByName is drizzle-orm 1.0: a folder is applied when a row carries
// its name. Rows without a name (a v0 table, or rows written by a 0.x
// migrator later) are matched the way drizzle-orm 1.0's upgrade does: by
// created_at truncated to the second, then by hash.
func (p *Plan) matchByName(rows []Row) {
	byName := map[string]int{}
	var unnamed []int
	for i, r := range rows {
		if r.Name == nil {
			unnamed = append(unnamed, i)
			continue
		}
		if _, dup := byName[*r.Name]; !dup {
			byName[*r.Name] = i
		}
	}
	claimed := make([]bool, len(rows))
	rowFor := map[*Migration]int{}
	backfill := map[int]bool{}
	for _, m := range p.Source.Migrations {
		if i, ok := byName[m.Tag]; ok {
			rowFor[m] = i
			claimed[i] = true
		}
	}
	if len(unnamed) > 0 {
		for i, m := range upgradeMatch(p.Source.Migrations, rows, unnamed) {
			if _, taken := rowFor[m]; taken {
				continue // a named row already records it; this row is an extra
			}
			rowFor[m] = i
			claimed[i] = true
			backfill[i] = true
		}
		if p.Shape == ShapeV1 {
			p.Warnings = append(p.Warnings, Warning{Msg: fmt.Sprintf("%s has %d row(s) with no name (written by a drizzle-orm 0.x migrator?); drizzle-orm 1.0 would apply those migrations again, upshift matches them by created_at and hash and records their names", p.Table, len(unnamed))})
		}
	}
	var newest int64
	for i, r := range rows {
		if claimed[i] && r.CreatedAt != nil && *r.CreatedAt > newest {
			newest = *r.CreatedAt
		}
	}
	for _, m := range p.Source.Migrations {
		e := &Entry{Migration: m}
		if i, ok := rowFor[m]; ok {
			e.Row = &rows[i]
			e.NameBackfill = backfill[i]
			e.State = StateApplied
			if rows[i].Hash != m.Hash {
				e.State = StateModified
			}
		} else {
			e.State = StatePending
			if m.CreatedAt < newest {
				e.Note = "older than the newest applied migration; applied by name, as drizzle-orm 1.0 does"
			}
		}
		p.Entries = append(p.Entries, e)
	}
	p.addMissing(rows, claimed)
}

// upgradeMatch reproduces drizzle-orm 1.0's upToV1: locals sorted by
// created_at then name; each row's created_at truncated to the second picks
// the candidates; one candidate wins outright, several are split by hash,
// none falls back to any local with the same hash (the last one wins).
func upgradeMatch(locals []*Migration, rows []Row, which []int) map[int]*Migration {
	sorted := slices.Clone(locals)
	c := collate.New(language.Und)
	slices.SortStableFunc(sorted, func(a, b *Migration) int {
		if a.CreatedAt != b.CreatedAt {
			if a.CreatedAt < b.CreatedAt {
				return -1
			}
			return 1
		}
		return c.CompareString(a.Tag, b.Tag)
	})
	byMillis := map[int64][]*Migration{}
	byHash := map[string]*Migration{}
	for _, m := range sorted {
		byMillis[m.CreatedAt] = append(byMillis[m.CreatedAt], m)
		byHash[m.Hash] = m
	}
	out := map[int]*Migration{}
	for _, i := range which {
		r := rows[i]
		var cands []*Migration
		if r.CreatedAt != nil {
			cands = byMillis[truncSecond(*r.CreatedAt)]
		}
		var m *Migration
		switch {
		case len(cands) == 1:
			m = cands[0]
		case len(cands) > 1:
			for _, c := range cands {
				if c.Hash == r.Hash {
					m = c
					break
				}
			}
		default:
			m = byHash[r.Hash]
		}
		if m != nil {
			out[i] = m
		}
	}
	return out
}

// truncSecond is drizzle-orm's Number(String(x).slice(0, -3) + "000").
func truncSecond(ms int64) int64 {
	s := strconv.FormatInt(ms, 10)
	if len(s) <= 3 {
		return 0
	}
	n, _ := strconv.ParseInt(s[:len(s)-3]+"000", 10, 64)
	return n
}

func (p *Plan) addMissing(rows []Row, claimed []bool) {
	for i := range rows {
		if !claimed[i] {
			p.Entries = append(p.Entries, &Entry{Row: &rows[i], State: StateMissing, Note: "row has no local migration"})
		}
	}
}

// Count returns how many entries are in each state.
func (p *Plan) Count() map[State]int {
	n := map[State]int{}
	for _, e := range p.Entries {
		n[e.State]++
	}
	return n
}

// Pending lists the migrations to apply, in order. Out-of-order ones are
// included only when allowed.
func (p *Plan) Pending(allowOutOfOrder bool) []*Entry {
	var out []*Entry
	for _, e := range p.Entries {
		if e.State == StatePending || (allowOutOfOrder && e.State == StateOutOfOrder) {
			out = append(out, e)
		}
	}
	return out
}

// UpToDate reports whether nothing is pending, modified, missing or out of
// order: the schema is exactly where this build expects it.
func (p *Plan) UpToDate() bool {
	for _, e := range p.Entries {
		if e.State != StateApplied {
			return false
		}
	}
	return true
}
