// Package result is the document `upshift migrate` prints for machines: the
// typed contract between the migrator and whatever drives it (the upgrade
// orchestrator, a CI job). `--format json` prints it as the whole of
// stdout; with UPSHIFT_RESULT=line in the environment (what `upshift
// upgrade` sets for its setup step) the human output stays as it is and the
// document follows as one last line, after LinePrefix.
//
// The package imports neither the linter nor the parser nor the database
// driver, so that a reader of the document links none of them.
package result

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the document's version. It grows when a field changes
// meaning or goes away; new fields do not change it.
const Version = 1

// LinePrefix starts the line that carries the document in human output.
// It is no GitHub Actions workflow command (those start with "::").
const LinePrefix = "upshift-migrate-result/v1 "

// LineEnv is the environment variable that asks for the line; its value
// is LineValue.
const (
	LineEnv   = "UPSHIFT_RESULT"
	LineValue = "line"
)

// Document is what one run of `upshift migrate` (or mark-applied) found
// and did. Every key is always present: lists are empty, not null.
type Document struct {
	Version    int       `json:"version"`
	Dir        string    `json:"dir"`
	Layout     string    `json:"layout"`
	Database   string    `json:"database"`
	Table      string    `json:"table"`
	LockID     *string   `json:"lock_id"` // 64-bit: a string, as JavaScript numbers cannot hold it
	DryRun     bool      `json:"dry_run"`
	Pending    []string  `json:"pending"`
	Applied    []Applied `json:"applied"`
	Script     string    `json:"script"`
	Warnings   []Warning `json:"warnings"`
	Lint       []Finding `json:"lint"`
	Error      *Error    `json:"error"`
	RolledBack []string  `json:"rolled_back"`
	// Migrations is what the run left of each pending migration, as the
	// server reported it (empty for a dry run and before applying).
	Migrations     []Migration    `json:"migrations"`
	InvalidIndexes []InvalidIndex `json:"invalid_indexes"`
	DurationMS     int64          `json:"duration_ms"`
	// Settings say where the folder, the table and the database came
	// from: a flag, a variable, drizzle.config.*, or the default.
	Settings map[string]Setting `json:"settings"`
}

// Setting is one setting's value and where it came from (no value for the
// database URL: it may hold a password).
type Setting struct {
	Value string `json:"value,omitempty"`
	From  string `json:"from"`
}

// New is an empty document with every list allocated.
func New() *Document {
	return &Document{Version: Version, Pending: []string{}, Applied: []Applied{}, Warnings: []Warning{},
		Lint: []Finding{}, RolledBack: []string{}, Migrations: []Migration{}, InvalidIndexes: []InvalidIndex{}, Settings: map[string]Setting{}}
}

// Applied is one migration applied (or recorded, by mark-applied).
type Applied struct {
	Tag           string  `json:"tag"`
	File          string  `json:"file"`
	Statements    int     `json:"statements"`
	NoTransaction string  `json:"no_transaction,omitempty"` // why it ran outside a transaction
	DurationMS    float64 `json:"duration_ms"`
}

// Migration is what a run left of one pending migration: State is
// "applied" (committed and recorded), "rolled-back" (nothing of it
// committed), "partly-applied" (StatementsCommitted committed, no row:
// a migration's own COMMIT, or statements outside a transaction) or
// "not-run" (the run stopped before it). Note says what ended or undid it
// where that was not upshift's own transaction.
type Migration struct {
	Tag                 string `json:"tag"`
	State               string `json:"state"`
	StatementsCommitted []int  `json:"statements_committed"`
	Note                string `json:"note,omitempty"`
}

// Warning is about the folder or the migrations table.
type Warning struct {
	Path    string `json:"path,omitempty"`
	Line    int    `json:"line,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Message string `json:"message"`
}

// Finding is a lint finding on a pending migration.
type Finding struct {
	Rule      string `json:"rule"`
	Severity  string `json:"severity"`
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	Object    string `json:"object"`
	Table     string `json:"table"`
	Existing  bool   `json:"existing"` // about a table that existed before the pending set
	Statement string `json:"statement"`
	Message   string `json:"message"`
	Fix       string `json:"fix"`
	// Breaking: the statement contracts the schema (drops, renames,
	// retypes, makes NOT NULL) that a running older version may still
	// use. The orchestrator refuses to migrate such a set while the old
	// version serves.
	Breaking bool `json:"breaking"`
}

// Error is why the run failed; nil when it did not.
type Error struct {
	Message   string `json:"message"`
	Tag       string `json:"tag,omitempty"`
	File      string `json:"file,omitempty"`
	Statement int    `json:"statement,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	Code      string `json:"code,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Hint      string `json:"hint,omitempty"`
	ExitCode  int    `json:"exit_code"`
}

// InvalidIndex is an index a failed CONCURRENTLY statement left invalid.
type InvalidIndex struct {
	Name string `json:"name"`
	Drop string `json:"drop"`
}

// AppliedTags lists the tags of the applied migrations, in order.
func (d *Document) AppliedTags() []string {
	out := make([]string, 0, len(d.Applied))
	for _, a := range d.Applied {
		out = append(out, a.Tag)
	}
	return out
}

// Breaking lists the findings that contract the schema.
func (d *Document) Breaking() []Finding {
	var out []Finding
	for _, f := range d.Lint {
		if f.Breaking {
			out = append(out, f)
		}
	}
	return out
}

// Line is the document as one line of human output (without the dry
// run's script, which the orchestrator does not need and which could be
// larger than a log line should be).
func (d *Document) Line() (string, error) {
	c := *d
	c.Script = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	return LinePrefix + string(b), nil
}

// ErrNoDocument is output that carries no document: the program that ran
// was not upshift migrate, or it was killed before it finished.
var ErrNoDocument = errors.New("no upshift migrate result in the output")

// ParseLine decodes a line that Line made; ok is false for any other line.
func ParseLine(line string) (doc *Document, ok bool, err error) {
	rest, found := strings.CutPrefix(strings.TrimSpace(line), strings.TrimSpace(LinePrefix))
	if !found {
		return nil, false, nil
	}
	doc, err = Decode([]byte(strings.TrimSpace(rest)))
	return doc, true, err
}

// Decode reads a document (the whole stdout of --format json, or a line's
// JSON), refusing a version it does not know.
func Decode(b []byte) (*Document, error) {
	var doc Document
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("upshift migrate's result does not parse: %w", err)
	}
	if doc.Version != Version {
		return nil, fmt.Errorf("upshift migrate's result has version %d, this upshift reads version %d: use the same upshift release in the setup image and on the host", doc.Version, Version)
	}
	return &doc, nil
}

// Find picks the result line out of a command's output lines (a
// container's stderr and compose's own lines are interleaved with it); the
// last one wins.
func Find(lines []string) (*Document, error) {
	for i := len(lines) - 1; i >= 0; i-- {
		if doc, ok, err := ParseLine(lines[i]); ok {
			return doc, err
		}
	}
	return nil, ErrNoDocument
}
