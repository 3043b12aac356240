package upgrade

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// Kind is what a run does.
type Kind string

const (
	KindUpgrade  Kind = "upgrade"
	KindRollback Kind = "rollback"
	KindBackup   Kind = "backup"
)

// Outcome is how a run ended.
type Outcome string

const (
	Running        Outcome = "running"         // under way (run.json)
	Succeeded      Outcome = "succeeded"       // the new images run and answer
	Failed         Outcome = "failed"          // failed before anything was stopped: nothing changed
	RolledBack     Outcome = "rolled-back"     // failed after the stop; the previous images run again, healthy
	RollbackFailed Outcome = "rollback-failed" // failed, and putting the previous images back failed too
	Interrupted    Outcome = "interrupted"     // upshift died mid-run; a later run found it
	Planned        Outcome = "planned"         // a dry run
)

// ExitCode is the documented exit code of a run that ended with o:
// 0 succeeded (or planned), 1 failed with nothing changed, 5 rolled back,
// 6 rollback failed; -1 for a run still under way or interrupted.
func ExitCode(o Outcome) int {
	switch o {
	case Succeeded, Planned:
		return 0
	case Failed:
		return 1
	case RolledBack:
		return 5
	case RollbackFailed:
		return 6
	}
	return -1
}

// ExitCodeOf is the documented exit code of a run that ended with o and
// err, decided here once, stored in the record, printed by the CLI: 2 for a
// request refused (what was asked cannot work: the flags, the project, the
// engine, the state folder), 3 when another run holds the deploy lock,
// else ExitCode(o).
func ExitCodeOf(o Outcome, err error) int {
	if errors.Is(err, ErrLockLost) {
		return 3
	}
	if err != nil && o != Interrupted && o != "" {
		switch {
		case errors.As(err, new(*RequestError)), errors.As(err, new(*StateError)), errors.As(err, new(*compose.ProjectError)),
			errors.As(err, new(*compose.EngineError)), errors.Is(err, compose.ErrComposeV1):
			return 2
		case errors.As(err, new(*LockedError)):
			return 3
		}
	}
	return ExitCode(o)
}

// Image is an image a service ran or runs.
type Image struct {
	Ref string `json:"ref"`           // as the compose file names it (or the pin)
	ID  string `json:"id"`            // sha256:…
	Pin string `json:"pin,omitempty"` // upshift's own tag that keeps it on the engine
}

// ServiceRecord is one service's part of a run.
type ServiceRecord struct {
	Name string `json:"name"`
	From *Image `json:"from"` // null: no container ran before
	To   *Image `json:"to"`
	// PreviousContainers ran before the run (short ids); Containers run after.
	PreviousContainers []string `json:"previous_containers"`
	Containers         []string `json:"containers"`
	Health             string   `json:"health"`
}

// StepRecord is one step of a run.
type StepRecord struct {
	Name string `json:"name"`
	// Status is running from the moment the step is journaled, before it
	// starts, until it ends: ok or failed (planned in a dry run). A step
	// still running in the journal of a dead run may have done part of
	// its work.
	Status     StepStatus `json:"status"`
	What       string     `json:"what"` // what it does, for people
	StartedAt  time.Time  `json:"started_at"`
	DurationMS int64      `json:"duration_ms"`
	Commands   []string   `json:"commands"`
	// API is the engine API requests a step made instead of commands
	// (a stack's steps; empty for compose's).
	API   []string `json:"api"`
	Error string   `json:"error"`
}

// StepStatus is where a step (or an automatic rollback) is.
type StepStatus string

// Step statuses.
const (
	StepRunning StepStatus = "running" // journaled before it starts, until it ends
	StepOK      StepStatus = "ok"
	StepFailed  StepStatus = "failed"
	StepPlanned StepStatus = "planned" // a dry run
	// StepSucceeded is an automatic rollback's (which is failed too).
	StepSucceeded StepStatus = "succeeded"
)

// SetupRecord is the setup (migration) service's run.
type SetupRecord struct {
	Service    string   `json:"service"`
	Image      string   `json:"image"`
	ExitCode   int      `json:"exit_code"`
	Migrations []string `json:"migrations_applied"`
	// Source says how Migrations is known: "result" (the setup step's
	// typed result line), "table" (the migrations table read before and
	// after the step: an interrupted or failed step, or a setup that does
	// not run upshift), or "unknown" (neither could be read).
	Source     string `json:"migrations_source"`
	DurationMS int64  `json:"duration_ms"`
}

// TableMark is the migrations table at one moment.
type TableMark struct {
	Rows   int   `json:"rows"`
	LastID int64 `json:"last_id"`
}

// RollbackRecord is the automatic rollback after a failed upgrade.
type RollbackRecord struct {
	Outcome    StepStatus `json:"outcome"` // succeeded or failed
	Error      string     `json:"error"`
	Health     string     `json:"health"`
	DurationMS int64      `json:"duration_ms"`
}

// Record is one run, as the history keeps it and `--format json` prints it.
type Record struct {
	ID      string  `json:"id"`
	Kind    Kind    `json:"kind"`
	Project string  `json:"project"`
	Outcome Outcome `json:"outcome"`
	Step    string  `json:"step"` // the step under way, or the one that failed
	Error   string  `json:"error"`
	// ExitCode is the exit code upshift gave the run (ExitCode(Outcome));
	// null for a run whose upshift died before it could exit.
	ExitCode *int `json:"exit_code"`
	// Strategy is how the services were replaced (stop-start,
	// migrate-first, rolling; "" for a rollback), and StrategyReason why.
	// Engine is the Docker engine the run changed (its address, and the
	// docker context that named it).
	Engine string `json:"engine"`
	// EngineID is the engine's own id (a swarm's cluster id for a stack):
	// a run never resumes or rolls back what ran on another engine.
	EngineID       string          `json:"engine_id"`
	Strategy       string          `json:"strategy"`
	StrategyReason string          `json:"strategy_reason"`
	Services       []ServiceRecord `json:"services"`
	Setup          *SetupRecord    `json:"setup"`
	// TableBefore is the migrations table before anything could migrate,
	// journaled so that a rerun after a dead run can tell what that run
	// applied (null: no setup step, or the table cannot be read).
	TableBefore *TableMark `json:"table_before"`
	// GatePending is what the compatibility check found pending (null: no
	// check ran), journaled so that a rerun after a dead stack run, whose
	// table cannot be read from here, can tell what that run applied: what
	// was pending then and is no longer.
	GatePending []string `json:"gate_pending"`

	// State of this process's run, not journaled: what the gate found
	// against an automatic strategy, and why the migrations table cannot
	// be read (once known).
	gateVerdict error
	// gateCleared: the compatibility check read the pending migrations
	// and found nothing that contracts the schema.
	gateCleared     bool
	tableUnreadable string
	Backup          *BackupRecord   `json:"backup"`
	Steps           []StepRecord    `json:"steps"`
	Rollback        *RollbackRecord `json:"rollback"`
	RollsBack       []string        `json:"rolls_back"` // rollback: the upgrades it undid
	Resumes         string          `json:"resumes"`    // the id of the dead run this one finished
	Notes           []string        `json:"notes"`
	StartedAt       time.Time       `json:"started_at"`
	FinishedAt      *time.Time      `json:"finished_at"`
	DurationMS      int64           `json:"duration_ms"`
	Holder          Holder          `json:"by"`
	DryRun          bool            `json:"dry_run"`
}

func newRecord(kind Kind, project string, now time.Time, h Holder) *Record {
	id := NewID(now)
	h.RunID = id
	return &Record{ID: id, Kind: kind, Project: project, Outcome: Running, StartedAt: now.UTC(),
		Services: []ServiceRecord{}, Steps: []StepRecord{}, RollsBack: []string{}, Notes: []string{}, Holder: h}
}

// Redacted is a copy of the record with f applied to every string in it
// (every field, now and as fields are added): the one place a record is
// made safe before it is journaled, kept or printed, so that no text
// upshift composes — a strategy's reason quoting a command, a step, a
// note, an error — can skip the redaction. Times are left alone.
func (r *Record) Redacted(f func(string) string) *Record {
	if r == nil || f == nil {
		return r
	}
	b, err := json.Marshal(r)
	if err != nil {
		return r
	}
	var out Record
	if err := json.Unmarshal(b, &out); err != nil {
		return r
	}
	redactStrings(reflect.ValueOf(&out).Elem(), f)
	return &out
}

func redactStrings(v reflect.Value, f func(string) string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(f(v.String()))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			redactStrings(v.Elem(), f)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				redactStrings(v.Field(i), f)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			redactStrings(v.Index(i), f)
		}
	}
}

// NotRun is the record of a run that failed before it began (a bad
// project, an engine that does not answer): every list empty, no id.
func NotRun(kind Kind, project string) *Record {
	r := newRecord(kind, project, time.Now(), Holder{})
	r.ID, r.Outcome = "", Failed
	return r
}

// NewID is a sortable, tag-safe run id: 20261122T171500Z-3fa2.
func NewID(now time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func (r *Record) service(name string) *ServiceRecord {
	for i := range r.Services {
		if r.Services[i].Name == name {
			return &r.Services[i]
		}
	}
	return nil
}

// ServiceNames lists the run's services.
func (r *Record) ServiceNames() []string {
	var out []string
	for _, s := range r.Services {
		out = append(out, s.Name)
	}
	return out
}

// PinRef is the tag upshift keeps a service's previous image under.
func PinRef(project, service, id string) string {
	clean := func(s string) string {
		s = unsafeName.ReplaceAllString(strings.ToLower(s), "-")
		return strings.Trim(s, "-._")
	}
	return "upshift.local/" + clean(project) + "/" + clean(service) + ":" + id
}

// PinRepository is the repository of a service's pins.
func PinRepository(project, service string) string {
	ref := PinRef(project, service, "x")
	return ref[:len(ref)-2]
}

// Describe says how the run ended, for people.
func (r *Record) Describe() string {
	switch r.Outcome {
	case RolledBack:
		return "FAILED during " + r.Step + "; the previous images run again and answer"
	case RollbackFailed:
		return "FAILED during " + r.Step + "; putting the previous images back FAILED too — act now"
	case Failed:
		return "FAILED during " + r.Step
	case Planned:
		return "planned (dry run)"
	}
	return string(r.Outcome)
}

// String is the image as people read it: its reference and short id.
func (im *Image) String() string {
	switch {
	case im == nil:
		return "(none)"
	case im.ID == "" && im.Ref == "":
		return "(built on this host)"
	case im.ID == "":
		return im.Ref + " (as the compose file names it)"
	}
	return fmt.Sprintf("%s (%s)", im.Ref, compose.ShortID(im.ID))
}
