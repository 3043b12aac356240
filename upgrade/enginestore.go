package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// EngineStore keeps a compose project's memory on the engine it runs on
// (compose.Keep): the journal of the run under way is the newest of the
// volumes <volume>-run-<project>-<n>, the record in its labels (none when
// no run is under way), the history one file a finished run in the
// volume, <project>/history/<id>.json, and the deploy lock the container
// <volume>-lock-<project>. Every machine that
// reaches the engine — a CD runner over ssh://, an on-call laptop, the
// -compose image — sees the same lock, journal and history; another engine
// (staging, prod) has its own.
type EngineStore struct {
	Keep    *compose.Keep
	Project string
	// Engine is the engine's identity, which every record names.
	Engine compose.EngineInfo
	// Cache is this machine's copy of the journal of its own run (a
	// dead run's journal is read from the engine, never from it).
	Cache *State
	skew  time.Duration
	// lockID is the lock container this run created.
	lockID string
	// prepared: the keep exists (made at the first write).
	prepared bool
	// journal is the journal's entries this run knows of: listed when it
	// read the journal (or at its first save), and its own saves since;
	// a save removes every one before it. Only the lock's holder saves.
	journal []compose.JournalEntry
	listed  bool
}

// prepare makes the keep at the first write.
func (s *EngineStore) prepare(ctx context.Context) error {
	if s.prepared {
		return nil
	}
	if err := s.Keep.Prepare(ctx); err != nil {
		return err
	}
	s.prepared = true
	return nil
}

var _ Store = (*EngineStore)(nil)

// storeTimeout bounds one request to the engine's store, so that an
// engine gone silent cannot hold a run (or its end) forever.
const storeTimeout = 30 * time.Second

// OpenEngineStore prepares the keep on the engine and carries over the
// history that an older upshift kept in the local folder (cache) for this
// engine, on first use. It returns what it carried over, for a note.
func OpenEngineStore(ctx context.Context, keep *compose.Keep, project, endpoint string, cache *State, now time.Time) (*EngineStore, int, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	info, err := keep.Engine(ctx)
	if err != nil {
		return nil, 0, err
	}
	s := &EngineStore{Keep: keep, Project: project, Engine: info, Cache: cache}
	if !info.Time.IsZero() {
		s.skew = info.Time.Sub(now)
	}
	n, err := s.carryOver(ctx, endpoint)
	return s, n, err
}

func (s *EngineStore) dir() string { return safeName(s.Project) }

// Where names the volume and the project's folder in it.
func (s *EngineStore) Where() string {
	return fmt.Sprintf("the volume %s on engine %s (folder %s)", s.Keep.Volume, s.Engine.Name, s.dir())
}

func (s *EngineStore) Skew() time.Duration { return s.skew }

func (s *EngineStore) Check(context.Context) error {
	// The engine answered who it is when the store opened; a volume it
	// cannot write fails the first step's journaling, before that step
	// starts, with nothing changed.
	return nil
}

// lease is what the lock container holds: its labels say who (fixed at
// creation), its lease file when it was last renewed.
const (
	labelHolder = "io.upshift.holder"
	labelRun    = "io.upshift.run"
	labelTTL    = "io.upshift.lease"
)

func (s *EngineStore) TryLock(ctx context.Context, me *Lease) (*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	h, _ := json.Marshal(me.Holder)
	id, err := s.Keep.CreateLock(ctx, s.dir(), map[string]string{labelHolder: string(h), labelRun: me.Holder.RunID, labelTTL: me.TTL.String()})
	if err == nil {
		// Its lease runs from its creation, on the engine's clock, until
		// the first renewal.
		s.lockID, me.Token = id, id
		return nil, nil
	}
	if !errors.Is(err, compose.ErrLockHeld) {
		return nil, err
	}
	l, err := s.Keep.Lock(ctx, s.dir())
	if errors.Is(err, compose.ErrLockGone) {
		return s.TryLock(ctx, me) // released meanwhile
	}
	if err != nil {
		return nil, err
	}
	return leaseOf(l.ID, l.Labels, l.Created, l.Lease), ErrLockHeld
}

// leaseOf reads a lock's lease: renewed when its holder last said so
// (the lease file, or label), or at its creation before that.
func leaseOf(id string, labels map[string]string, created time.Time, file []byte) *Lease {
	held := &Lease{Token: id, Renewed: created}
	_ = json.Unmarshal([]byte(labels[labelHolder]), &held.Holder)
	held.TTL, _ = time.ParseDuration(labels[labelTTL])
	if t, err := time.Parse(time.RFC3339Nano, string(bytes.TrimSpace(file))); err == nil {
		held.Renewed = t
	}
	return held
}

func (s *EngineStore) Held(ctx context.Context) (*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	l, err := s.Keep.Lock(ctx, s.dir())
	if errors.Is(err, compose.ErrLockGone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return leaseOf(l.ID, l.Labels, l.Created, l.Lease), nil
}

func (s *EngineStore) Renew(ctx context.Context, me *Lease) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	err := s.Keep.WriteLease(ctx, me.Token, []byte(me.Renewed.UTC().Format(time.RFC3339Nano)+"\n"))
	if errors.Is(err, compose.ErrLockGone) {
		return ErrLockLost
	}
	return err
}

func (s *EngineStore) Release(ctx context.Context, me *Lease) error {
	if me.Token == "" {
		return nil
	}
	return s.Keep.RemoveLock(ctx, me.Token)
}

func (s *EngineStore) Break(ctx context.Context, held *Lease) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return s.Keep.RemoveLock(ctx, held.Token)
}

// SaveRun journals r as a new entry, then removes the entries before it:
// a dead run that lands between the two leaves both, and the newest
// counts.
func (s *EngineStore) SaveRun(ctx context.Context, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := s.save(ctx, b); err != nil {
		return err
	}
	if s.Cache != nil {
		_ = s.Cache.SaveRun(ctx, r)
	}
	return nil
}

func (s *EngineStore) save(ctx context.Context, record []byte) error {
	if err := s.list(ctx); err != nil {
		return err
	}
	seq := 1
	if n := len(s.journal); n > 0 {
		seq = s.journal[n-1].Seq + 1
	}
	vol, err := s.Keep.WriteJournal(ctx, s.dir(), seq, record)
	if err != nil {
		return err
	}
	if err := s.forget(ctx); err != nil {
		return err
	}
	s.journal = []compose.JournalEntry{{Name: vol, Seq: seq, Record: record}}
	return nil
}

// forget removes the journal entries this run knows of.
func (s *EngineStore) forget(ctx context.Context) error {
	for _, e := range s.journal {
		if err := s.Keep.RemoveJournal(ctx, e.Name); err != nil {
			return err
		}
	}
	s.journal = nil
	return nil
}

// list reads the journal's entries once.
func (s *EngineStore) list(ctx context.Context) error {
	if s.listed {
		return nil
	}
	j, err := s.Keep.Journal(ctx, s.dir())
	if err != nil {
		return err
	}
	s.journal, s.listed = j, true
	return nil
}

func (s *EngineStore) Unfinished(ctx context.Context) (*Record, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	s.listed = false
	if err := s.list(ctx); err != nil {
		return nil, err
	}
	if len(s.journal) == 0 {
		if s.Cache != nil {
			// This machine's copy of a run another machine has since
			// finished or undone.
			_ = os.Remove(s.Cache.runPath())
		}
		return nil, nil
	}
	last := s.journal[len(s.journal)-1]
	var r Record
	err := json.Unmarshal(last.Record, &r)
	if err == nil && r.ID == "" {
		err = errors.New("it names no run")
	}
	if err != nil {
		return nil, fmt.Errorf("the journal of %s on engine %s, the volume %s, is damaged (%v): it describes an upgrade that did not finish; look at it with `docker volume inspect %s`, and remove it (`docker volume rm %s`) to continue",
			s.Project, s.Engine.Name, last.Name, err, last.Name, last.Name)
	}
	return &r, nil
}

// Finish moves r from the journal to the history: r journaled as it
// ended, its history file written, then the journal removed. An upshift
// that dies (or a history that cannot be written) between the three
// leaves r journaled with its real outcome, which the next run records in
// the history — never takes for a run that died half way.
func (s *EngineStore) Finish(ctx context.Context, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := s.prepare(ctx); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := s.save(ctx, b); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := s.Keep.WriteFiles(ctx, map[string][]byte{path.Join(s.dir(), "history", r.ID+".json"): b}); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := s.forget(ctx); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if s.Cache != nil {
		_ = os.Remove(s.Cache.runPath())
	}
	return nil
}

func (s *EngineStore) History(ctx context.Context) ([]*Record, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	files, err := s.Keep.ReadDir(ctx, path.Join(s.dir(), "history"))
	if err != nil {
		return nil, err
	}
	return sortedRecords(files), nil
}

// sortedRecords parses one record a file, oldest first; a damaged file is
// skipped (as a torn history line is).
func sortedRecords(files map[string][]byte) []*Record {
	var out []*Record
	for _, b := range files {
		var r Record
		if json.Unmarshal(b, &r) == nil && r.ID != "" {
			out = append(out, &r)
		}
	}
	slices.SortFunc(out, func(a, b *Record) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	})
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// carryOver copies the history an older upshift kept in the local folder
// into the engine's, once: the runs it recorded against this engine's
// endpoint, when the engine has no history of the project yet. The
// folder's history stays where it is.
func (s *EngineStore) carryOver(ctx context.Context, endpoint string) (int, error) {
	if s.Cache == nil {
		return 0, nil
	}
	if _, err := os.Stat(filepath.Join(s.Cache.Dir, "history.jsonl")); err != nil {
		return 0, nil
	}
	have, err := s.Keep.ReadDir(ctx, s.dir())
	if err != nil {
		return 0, err
	}
	if _, done := have["carried-over"]; done || len(have) > 0 {
		return 0, nil
	}
	old, err := s.Cache.History(ctx)
	if err != nil {
		return 0, nil
	}
	if err := s.prepare(ctx); err != nil {
		return 0, err
	}
	files := map[string][]byte{path.Join(s.dir(), "carried-over"): []byte(s.Cache.Dir + "\n")}
	n := 0
	for _, r := range old {
		if r.EngineID != "" && r.EngineID != s.Engine.ID || r.EngineID == "" && r.Engine != endpoint {
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			continue
		}
		files[path.Join(s.dir(), "history", r.ID+".json")] = b
		n++
	}
	return n, s.Keep.WriteFiles(ctx, files)
}

// safeName is a project's name as a file name.
func safeName(project string) string {
	return unsafeName.ReplaceAllString(project, "-")
}
