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

// State is one compose project's folder in upshift's state directory:
//
//	deploy.lock    the deploy lock (flock) and its holder, as JSON
//	run.json       the run under way, rewritten after every step; left
//	               behind only when upshift died mid-run
//	history.jsonl  one finished run per line
//	override-ID.yml  the image override a rollback ran with
//
// It lives outside the checkout, so that history, pins and the lock are the
// same for every checkout of the project on the host.
type State struct {
	Dir  string
	lock *os.File
}

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
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	return &State{Dir: dir}, nil
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
	Project string
	Holder  Holder
	Waited  time.Duration
	// Swarm names the cluster-wide lock of a stack (a swarm config); ""
	// for a project's lock file.
	Swarm string
}

func (e *LockedError) Error() string {
	if e.Swarm != "" {
		return fmt.Sprintf("another upgrade or rollback of stack %s is running, on this or another machine: %s (waited %s; the lock is the swarm config %s)", e.Project, e.Holder, e.Waited.Round(time.Second), e.Swarm)
	}
	return fmt.Sprintf("another upgrade or rollback of project %s is running: %s (waited %s)", e.Project, e.Holder, e.Waited.Round(time.Second))
}

// ErrorHint says what to do about a lock held by a run that died.
func (e *LockedError) ErrorHint() string {
	if e.Swarm != "" {
		return "wait for it (--lock-wait); if that upshift died on another machine, remove the lock with `docker config rm " + e.Swarm + "`"
	}
	return ""
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

// Lock takes the project's deploy lock, waiting up to wait (0: not at all),
// calling onWait about every report interval while another process holds
// it. The kernel releases it when the process dies, kill -9 included.
func (s *State) Lock(ctx context.Context, me Holder, wait, report time.Duration, onWait func(Holder, time.Duration)) error {
	f, err := os.OpenFile(filepath.Join(s.Dir, "deploy.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("deploy lock: %w", err)
	}
	start := time.Now()
	var lastReport time.Time // the first wait is reported at once
	if report <= 0 {
		report = 5 * time.Second
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("deploy lock: %w", err)
		}
		waited := time.Since(start)
		if waited >= wait {
			f.Close()
			return &LockedError{Project: filepath.Base(s.Dir), Holder: s.holder(), Waited: waited}
		}
		if onWait != nil && time.Since(lastReport) >= report {
			lastReport = time.Now()
			onWait(s.holder(), waited)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		case <-time.After(min(100*time.Millisecond, wait-waited)):
		}
	}
	b, _ := json.Marshal(me)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	s.lock = f
	return nil
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
	f, err := os.OpenFile(filepath.Join(s.Dir, "deploy.lock"), os.O_RDWR|os.O_CREATE, 0o640)
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
func (s *State) SaveRun(r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.runPath(), b)
}

// Unfinished returns the run a dead process left behind, or nil.
func (s *State) Unfinished() (*Record, error) {
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
func (s *State) Finish(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.appendHistory(append(b, '\n')); err != nil {
		if r.Outcome != Running && r.Outcome != Interrupted {
			if serr := s.SaveRun(r); serr == nil {
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
	f, err := os.OpenFile(filepath.Join(s.Dir, "history.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
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
func (s *State) History() ([]*Record, error) {
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
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
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
func (s *State) Check() error {
	p := filepath.Join(s.Dir, SpaceProbe)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
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
		return &StateError{Dir: s.Dir, Err: err}
	}
	return nil
}

// StateError is a state folder that cannot record a run.
type StateError struct {
	Dir string
	Err error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("the state folder %s cannot record a run (%v); nothing was changed", e.Dir, e.Err)
}
func (e *StateError) Unwrap() error { return e.Err }

// ErrorHint says what to do.
func (e *StateError) ErrorHint() string {
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
