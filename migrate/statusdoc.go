package migrate

import (
	"fmt"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/migrate/result"
)

// StatusEntry is one migration in the status document.
type StatusEntry struct {
	Tag          string     `json:"tag"`
	File         string     `json:"file,omitempty"`
	CreatedAt    *int64     `json:"created_at"`
	Created      string     `json:"created,omitempty"`
	Hash         string     `json:"hash,omitempty"`
	State        string     `json:"state"`
	ID           *int64     `json:"id,omitempty"`
	RecordedHash string     `json:"recorded_hash,omitempty"`
	AppliedAt    *time.Time `json:"applied_at,omitempty"`
	Note         string     `json:"note,omitempty"`
	// Progress of a no-transaction migration that an earlier run left
	// half done (null otherwise).
	Progress *drizzle.Progress `json:"progress"`
}

// Summary counts the migrations by state.
type Summary struct {
	Applied    int  `json:"applied"`
	Pending    int  `json:"pending"`
	Modified   int  `json:"modified"`
	Missing    int  `json:"missing"`
	OutOfOrder int  `json:"out_of_order"`
	UpToDate   bool `json:"up_to_date"`
}

// StatusDocument is `upshift status --format json`.
type StatusDocument struct {
	Dir        string                    `json:"dir"`
	Layout     string                    `json:"layout"`
	Database   string                    `json:"database,omitempty"`
	Table      string                    `json:"table"`
	TableShape string                    `json:"table_shape,omitempty"`
	Migrations []StatusEntry             `json:"migrations"`
	Summary    Summary                   `json:"summary"`
	Warnings   []drizzle.Warning         `json:"warnings"`
	Settings   map[string]result.Setting `json:"settings"`
}

func entry(e *drizzle.Entry) StatusEntry {
	j := StatusEntry{Tag: e.Tag(), State: string(e.State), Note: e.Note}
	if ms, ok := e.CreatedAt(); ok {
		j.CreatedAt = &ms
		j.Created = time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	if m := e.Migration; m != nil {
		j.File, j.Hash = m.File, m.Hash
	}
	if r := e.Row; r != nil {
		j.ID = &r.ID
		j.AppliedAt = r.AppliedAt
		if e.Migration == nil || r.Hash != e.Migration.Hash {
			j.RecordedHash = r.Hash
		}
	}
	return j
}

// Summary counts the plan's migrations by state.
func (s *Status) Summary() Summary {
	p := s.Plan
	n := p.Count()
	return Summary{
		Applied: n[drizzle.StateApplied], Pending: n[drizzle.StatePending], Modified: n[drizzle.StateModified],
		Missing: n[drizzle.StateMissing], OutOfOrder: n[drizzle.StateOutOfOrder], UpToDate: p.UpToDate(),
	}
}

func (s Summary) String() string {
	part := func(n int, label string) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf("%d %s", n, label)
	}
	var parts []string
	for _, p := range []string{part(s.Applied, "applied"), part(s.Pending, "pending"), part(s.Modified, "modified"),
		part(s.Missing, "missing"), part(s.OutOfOrder, "out of order")} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	out := strings.Join(parts, ", ")
	if out == "" {
		return "nothing applied, nothing pending"
	}
	return out
}

// Document is the status as its JSON document: every migration with the
// progress of a partly applied one, the summary and the warnings.
func (s *Status) Document(src *drizzle.Source, database string, table drizzle.Table) StatusDocument {
	d := StatusDocument{Dir: src.Dir, Layout: string(src.Layout), Database: database, Table: table.String(), Migrations: []StatusEntry{},
		Summary: Summary{UpToDate: true}, Warnings: append([]drizzle.Warning{}, src.Warnings...)}
	if s == nil {
		return d
	}
	d.TableShape, d.Summary = string(s.Shape), s.Summary()
	d.Warnings = append(d.Warnings, s.Plan.Warnings...)
	for _, e := range s.Plan.Entries {
		j := entry(e)
		j.Progress = s.Partly(e)
		d.Migrations = append(d.Migrations, j)
	}
	return d
}
