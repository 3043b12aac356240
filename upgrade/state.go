package upgrade

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// State is one project's folder in upshift's local state directory. It
// always holds what is this machine's alone — the image override a
// rollback ran with (override-ID.yml), a run's resolved copy of a large
// project (resolved-ID.yml, removed when the run ends), backups by
// default — and a copy of the journal of the run this machine has under
// way (run.json), which the engine keeps too. As a Store (the local
// fallback, `--state local`), it also holds:
//
//	deploy.lock    the deploy lock (flock) and its holder, as JSON
//	run.json       the run under way, rewritten after every step; left
//	               behind only when upshift died mid-run
//	history.jsonl  one finished run per line
//
// Files are 0600 and the folder 0700: runs name images, hosts and commands.
type State struct {
	Dir  string
	lock *os.File
}

var _ Store = (*State)(nil)

// DefaultStateDir is $UPSHIFT_STATE_DIR, else /var/lib/upshift for root,
// else $XDG_STATE_HOME/upshift (~/.local/state/upshift).
func DefaultStateDir() string {
	if d := os.Getenv("UPSHIFT_STATE_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/upshift"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "upshift")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "upshift")
	}
	return filepath.Join(os.TempDir(), "upshift-state")
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_.-]+`)

// OpenState opens (creating) the project's folder under root.
func OpenState(root, project string) (*State, error) {
	name := unsafeName.ReplaceAllString(strings.ToLower(project), "-")
	if name == "" || name == "." || name == ".." {
		return nil, fmt.Errorf("project name %q cannot name a state folder", project)
	}
	dir := filepath.Join(root, name)
	if err := privateDir(root); err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	if err := privateDir(dir); err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	return &State{Dir: dir}, nil
}

// privateDir makes dir (0700), or tightens an existing one that others
// could read, and its files likewise (0600): folders made by an older
// upshift were group-readable.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			_ = os.Chmod(filepath.Join(dir, e.Name()), 0o600)
		}
	}
	return nil
}

// Holder is who holds the deploy lock.
type Holder struct {
	PID     int       `json:"pid"`
	User    string    `json:"user"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
	RunID   string    `json:"run_id,omitempty"`
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "another upshift process"
	}
	return fmt.Sprintf("pid %d (%s@%s, `%s`) since %s", h.PID, h.User, h.Host, h.Command, h.Since.Local().Format("2006-01-02 15:04:05"))
}

// LockedError is the deploy lock not acquired in time.
type LockedError struct {
	Project string // the project, or "stack NAME"
	Holder  Holder
	Waited  time.Duration
	// Where is the lock (the store's Where); Lease its holder's lease (0:
	// a local lock, which ends with its holder's process).
	Where string
	Lease time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("another upgrade or rollback of %s is running, on this or another machine: %s (waited %s; the lock is in %s)", e.Project, e.Holder, e.Waited.Round(time.Second), e.Where)
}

// ErrorHint says what to do about a lock held by a run that died.
func (e *LockedError) ErrorHint() string {
	if e.Lease > 0 {
		return fmt.Sprintf("wait for it (--lock-wait); if that upshift died, its lease runs out within %s of its last renewal and the next run takes the lock over", e.Lease)
	}
	return "wait for it (--lock-wait); the lock ends with that upshift's process"
}

// Me describes this process as a lock holder.
func Me(command string) Holder {
	h := Holder{PID: os.Getpid(), Command: command, Since: time.Now().UTC()}
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	}
	h.Host, _ = os.Hostname()
	return h
}

// Where is the folder.
func (s *State) Where() string { return s.Dir }

// Skew is 0: the folder is on this machine's clock.
func (s *State) Skew() time.Duration { return 0 }

// TryLock takes the folder's lock (flock): the kernel releases it when the
// process dies, kill -9 included, so its lease never runs out by time.
func (s *State) TryLock(ctx context.Context, me *Lease) (*Lease, error) {
	if s.lock != nil {
		return &Lease{Holder: s.holder()}, ErrLockHeld
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "deploy.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("deploy lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return &Lease{Holder: s.holder()}, ErrLockHeld
		}
		return nil, fmt.Errorf("deploy lock: %w", err)
	}
	me.TTL, me.Token = 0, fmt.Sprintf("flock:%d", os.Getpid())
	b, _ := json.Marshal(me.Holder)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	s.lock = f
	return nil, nil
}

// Held is the lock's holder while a process holds it, else nil.
func (s *State) Held(context.Context) (*Lease, error) {
	if locked, h := s.Locked(); locked {
		return &Lease{Holder: h}, nil
	}
	return nil, nil
}

// Renew has nothing to do: the lock lasts as long as the process.
func (s *State) Renew(context.Context, *Lease) error {
	if s.lock == nil {
		return ErrLockLost
	}
	return nil
}

// Release unlocks the folder if this State holds it.
func (s *State) Release(context.Context, *Lease) error {
	s.Unlock()
	return nil
}

// Break is never needed: a dead holder's flock is gone with it.
func (s *State) Break(context.Context, *Lease) error {
	return errors.New("a local deploy lock ends with its holder's process, never by time")
}

// Lock takes the lock through the one lock-wait loop (for tests and
// library users of a bare folder).
func (s *State) Lock(ctx context.Context, me Holder, wait, report time.Duration, onWait func(Holder, time.Duration)) error {
	x := &Runner{Store: s, LockWait: wait, Me: me, OnEvent: func(e Event) {
		if e.Kind == EventWaiting && onWait != nil {
			onWait(s.holder(), 0)
		}
	}}
	_, err := x.takeLock(ctx, &Record{ID: me.RunID}, filepath.Base(s.Dir))
	return err
}

func (s *State) holder() Holder {
	var h Holder
	b, err := os.ReadFile(filepath.Join(s.Dir, "deploy.lock"))
	if err == nil {
		_ = json.Unmarshal(bytes.TrimSpace(b), &h)
	}
	return h
}

// Unlock releases the deploy lock.
func (s *State) Unlock() {
	if s.lock != nil {
		_ = s.lock.Truncate(0)
		_ = syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
		s.lock.Close()
		s.lock = nil
	}
}

// Locked reports whether some process holds the lock now (without taking it
// for longer than the check).
func (s *State) Locked() (bool, Holder) {
	if s.lock != nil {
		return true, s.holder()
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "deploy.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, Holder{}
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true, s.holder()
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, Holder{}
}

func (s *State) runPath() string { return filepath.Join(s.Dir, "run.json") }

// SaveRun writes the run under way, atomically.
func (s *State) SaveRun(_ context.Context, r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.runPath(), b)
}

// Unfinished returns the run a dead process left behind, or nil.
func (s *State) Unfinished(context.Context) (*Record, error) {
	b, err := os.ReadFile(s.runPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.runPath(), err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): move it away to continue; it describes an upgrade that did not finish", s.runPath(), err)
	}
	return &r, nil
}

// Finish appends a finished run to the history and forgets the run file.
// When the history cannot take it (a full disk), the run file keeps the
// finished record instead, so that no later run calls it interrupted; the
// next run records it.
func (s *State) Finish(ctx context.Context, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.appendHistory(append(b, '\n')); err != nil {
		if r.Outcome != Running && r.Outcome != Interrupted {
			if serr := s.SaveRun(ctx, r); serr == nil {
				return fmt.Errorf("history: %w (the run is kept in %s until a later run can record it)", err, s.runPath())
			}
		}
		return fmt.Errorf("history: %w", err)
	}
	if err := os.Remove(s.runPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// appendHistory adds one line, or nothing: a failed write is cut off, so
// that the next line does not continue a torn one.
func (s *State) appendHistory(line []byte) error {
	f, err := os.OpenFile(filepath.Join(s.Dir, "history.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		_ = f.Truncate(st.Size())
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Truncate(st.Size())
		return err
	}
	return nil
}

// History returns the finished runs, oldest first. A damaged line (a crash
// mid-append) is skipped.
func (s *State) History(context.Context) ([]*Record, error) {
	f, err := os.Open(filepath.Join(s.Dir, "history.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.ID != "" {
			out = append(out, &r)
		}
	}
	return out, sc.Err()
}

// WriteOverride writes a compose override file and returns its path.
func (s *State) WriteOverride(id string, content []byte) (string, error) {
	p := filepath.Join(s.Dir, "override-"+id+".yml")
	return p, writeAtomic(p, content)
}

// writeAtomic replaces path with b, or leaves it as it was (and no
// temporary file behind).
func writeAtomic(path string, b []byte) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SpaceProbe is the file Check writes to make sure a run can be recorded.
const SpaceProbe = ".space-probe"

// probeBytes is room for a run's journal, rewritten atomically, and its
// history line, with margin.
const probeBytes = 256 << 10

// Check makes sure the folder takes a run's journal and history: it writes
// and removes a file of that size.
func (s *State) Check(context.Context) error {
	p := filepath.Join(s.Dir, SpaceProbe)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		if _, err = f.Write(make([]byte, probeBytes)); err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	os.Remove(p)
	if err != nil {
		return &StateError{Dir: "the state folder " + s.Dir, Err: err}
	}
	return nil
}

// StateError is a state folder that cannot record a run.
type StateError struct {
	Dir  string // the folder, or the store's Where
	Err  error
	Hint string // "": the folder's
}

func (e *StateError) Error() string {
	return fmt.Sprintf("%s cannot record a run (%v); nothing was changed", e.Dir, e.Err)
}
func (e *StateError) Unwrap() error { return e.Err }

// ErrorHint says what to do.
func (e *StateError) ErrorHint() string {
	if e.Hint != "" {
		return e.Hint
	}
	return "free some space there (a run needs about 256 KiB) or point the state folder elsewhere"
}

// ErrorOptions names the setting.
func (e *StateError) ErrorOptions() []string { return []string{"state-dir"} }

// Short is who ran a run, in a few words.
func (h Holder) Short() string {
	if h.User == "" {
		return fmt.Sprintf("pid %d", h.PID)
	}
	return fmt.Sprintf("%s, pid %d", h.User, h.PID)
}
