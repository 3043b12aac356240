package upgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/migrate/result"
)

// The stack executor's failure paths as millisecond tests: a recording
// fake swarm manager in place of the engine (the end-to-end suites run the
// same paths on a real swarm) and a virtual clock that every polling loop
// waits on, so that a health timeout of minutes passes at once.

// virtualClock is Executor.Now and Executor.Sleep: sleeping moves time on.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

// fakeSwarm keeps services and their tasks as a swarm manager would report
// them, records each call that changes something, and lets a test script
// how an update ends and what a job prints.
type fakeSwarm struct {
	mu       sync.Mutex
	clock    *virtualClock
	services map[string]*compose.StackService // by the stack file's name
	calls    []string
	configs  map[string]compose.SwarmConfig // by name: the stack's state
	nextID   int
	// update decides how the swarm takes an update (nil: it completes
	// and the new tasks run).
	update func(s *compose.StackService, o compose.ServiceUpdateOptions)
	// job answers a job: its output lines and exit code.
	job func(o compose.JobOptions) ([]string, int)
	// down lists services whose tasks do not run (crash, unhealthy).
	down map[string]bool
	// looks is how many reads an update stays "updating" before it
	// completes.
	looks int
	// left is a job a dead run left, with the states its task goes
	// through, one a look.
	left       *compose.StackService
	leftStates []string
}

func newFakeSwarm(clock *virtualClock) *fakeSwarm {
	f := &fakeSwarm{clock: clock, services: map[string]*compose.StackService{}, down: map[string]bool{}}
	for _, s := range []compose.StackService{
		{ID: "id-app", Name: "shop_app", Service: "app", Image: "reg/app:v1@sha256:1111", Replicas: 2, Version: 7, Update: "completed"},
		{ID: "id-db-setup", Name: "shop_db-setup", Service: "db-setup", Image: "reg/setup:v1@sha256:aaaa", Replicas: 0, Version: 3, Entrypoint: []string{"/upshift", "migrate"}},
	} {
		s := s
		f.services[s.Service] = &s
	}
	return f
}

func (f *fakeSwarm) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeSwarm) byID(id string) (*compose.StackService, error) {
	for _, s := range f.services {
		if s.ID == id || s.Name == id {
			return s, nil
		}
	}
	return nil, fmt.Errorf("service %s not found", id)
}

func (f *fakeSwarm) Info(context.Context) (compose.SwarmInfo, error) {
	return compose.SwarmInfo{State: "active", Manager: true, NodeID: "node1", Nodes: 1}, nil
}

func (f *fakeSwarm) StackServices(_ context.Context, stack string) (map[string]compose.StackService, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]compose.StackService{}
	for name, s := range f.services {
		out[name] = *s
	}
	return out, nil
}

func (f *fakeSwarm) Service(_ context.Context, id string) (compose.StackService, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.byID(id)
	if err != nil {
		return compose.StackService{}, err
	}
	cur := *s
	if s.Update == "updating" {
		if f.looks--; f.looks <= 0 {
			s.Update = "completed" // as of the next look
		}
	}
	return cur, nil
}

func (f *fakeSwarm) Tasks(_ context.Context, id string) ([]compose.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left != nil && id == f.left.ID {
		state := f.leftStates[0]
		if len(f.leftStates) > 1 {
			f.leftStates = f.leftStates[1:]
		}
		return []compose.Task{{ID: "dead-job-task", State: state, Desired: "complete"}}, nil
	}
	s, err := f.byID(id)
	if err != nil || f.down[s.Service] {
		return nil, err
	}
	var out []compose.Task
	for i := 0; i < s.Replicas; i++ {
		out = append(out, compose.Task{ID: fmt.Sprintf("%s-task%d-%d", s.Service, s.Version, i), Image: s.Image, State: "running", Desired: "running"})
	}
	return out, nil
}

func (f *fakeSwarm) UpdateService(_ context.Context, o compose.ServiceUpdateOptions) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.byID(o.Service)
	if err != nil {
		return nil, err
	}
	if o.Version != s.Version {
		return nil, fmt.Errorf("update out of sequence: version %d, the spec is at %d", o.Version, s.Version)
	}
	if o.Rollback {
		f.record("rollback %s to %s", s.Name, s.PreviousImage)
		s.Image, s.PreviousImage = s.PreviousImage, s.Image
		s.Update = "rollback_completed"
	} else {
		f.record("update %s to %s", s.Name, o.Image)
		s.PreviousImage, s.Image = s.Image, o.Image+"@sha256:2222"
		s.Update = "completed"
		if f.update != nil {
			f.update(s, o)
		}
	}
	s.Version++
	_ = f.clock.Sleep(context.Background(), 100*time.Millisecond) // a request takes time
	s.UpdateStarted = f.clock.Now()
	return nil, nil
}

func (f *fakeSwarm) RunJob(_ context.Context, o compose.JobOptions, out func(string)) ([]string, error) {
	f.mu.Lock()
	f.record("job %s on %s %s", o.Name, o.Image, strings.Join(o.Args, " "))
	f.mu.Unlock()
	lines, code := []string{"nothing to migrate"}, 0
	if f.job != nil {
		lines, code = f.job(o)
	}
	for _, l := range lines {
		out(l)
	}
	if code != 0 {
		return lines, &compose.JobError{Name: o.Name, ExitCode: code}
	}
	return lines, nil
}

func (f *fakeSwarm) ImageEntrypoint(context.Context, string) ([]string, error) { return nil, nil }
func (f *fakeSwarm) RemoveService(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("remove %s", id)
	return nil
}

func (f *fakeSwarm) Jobs(context.Context, string, string) ([]compose.StackService, error) {
	if f.left == nil {
		return nil, nil
	}
	return []compose.StackService{*f.left}, nil
}

func (f *fakeSwarm) CreateConfig(_ context.Context, name string, labels map[string]string, data []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.configs == nil {
		f.configs = map[string]compose.SwarmConfig{}
	}
	if _, ok := f.configs[name]; ok {
		return "", compose.ErrLockHeld
	}
	f.nextID++
	c := compose.SwarmConfig{ID: fmt.Sprintf("cfg%d", f.nextID), Name: name, Labels: labels, Data: data, Version: 1, Created: f.clock.Now()}
	f.configs[name] = c
	if labels["io.upshift.kind"] == "lock" {
		f.record("lock %s", name)
	}
	return c.ID, nil
}

func (f *fakeSwarm) Config(_ context.Context, name string) (compose.SwarmConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.configs {
		if c.Name == name || c.ID == name {
			return c, nil
		}
	}
	return compose.SwarmConfig{}, compose.ErrConfigGone
}

func (f *fakeSwarm) Configs(_ context.Context, label, value string) ([]compose.SwarmConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []compose.SwarmConfig
	for _, c := range f.configs {
		if c.Labels[label] == value {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeSwarm) RelabelConfig(_ context.Context, c compose.SwarmConfig, labels map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now, ok := f.configs[c.Name]
	switch {
	case !ok || now.ID != c.ID:
		return compose.ErrConfigGone
	case now.Version != c.Version:
		return compose.ErrLockHeld
	}
	now.Labels, now.Version = labels, now.Version+1
	f.configs[c.Name] = now
	return nil
}

func (f *fakeSwarm) RemoveConfig(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, c := range f.configs {
		if c.ID == id {
			delete(f.configs, name)
			if c.Labels["io.upshift.kind"] == "lock" {
				f.record("unlock %s", name)
			}
		}
	}
	return nil
}

// holdLock puts another run's lock in the swarm, renewed now.
func (f *fakeSwarm) holdLock(holder string, ttl time.Duration) string {
	id, _ := f.CreateConfig(context.Background(), "upshift-lock-shop", map[string]string{"io.upshift.kind": "lock", "io.upshift.stack": "shop",
		"io.upshift.holder": holder, "io.upshift.lease": ttl.String(), "io.upshift.renewed": f.clock.Now().Format(time.RFC3339Nano)}, nil)
	f.calls = nil
	return id
}

// resultLine is what upshift migrate prints last for the gate and the
// setup job: pending (dry run) or applied tags.
func resultLine(t *testing.T, dryRun bool, tags ...string) string {
	t.Helper()
	doc := result.New()
	doc.DryRun = dryRun
	for _, tag := range tags {
		if dryRun {
			doc.Pending = append(doc.Pending, tag)
		} else {
			doc.Applied = append(doc.Applied, result.Applied{Tag: tag})
		}
	}
	line, err := doc.Line()
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// fakeStack is a stack executor on a fake swarm: stack shop, app at v1,
// the stack file naming v2, a migration pending.
func fakeStack(t *testing.T) (*Stack, *fakeSwarm) {
	t.Helper()
	clock := &virtualClock{now: time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)}
	f := newFakeSwarm(clock)
	f.job = func(o compose.JobOptions) ([]string, int) {
		dry := len(o.Args) > 0 && o.Args[len(o.Args)-1] == "--dry-run"
		return []string{"upshift: 1 pending", resultLine(t, dry, "0001_nickname")}, 0
	}
	st, err := OpenState(t.TempDir(), StackState("shop"))
	if err != nil {
		t.Fatal(err)
	}
	store := &SwarmStore{Swarm: f, Stack: "shop", Cluster: "cluster-1", Cache: st}
	p := &compose.Project{Name: "shop", Services: map[string]*compose.Service{
		"app":      {Name: "app", Image: "reg/app:v2"},
		"db-setup": {Name: "db-setup", Image: "reg/setup:v2"},
	}}
	x := &Stack{Runner: &Runner{Store: store, Local: st, EngineID: "cluster-1", Now: clock.Now, Sleep: clock.Sleep, Me: Me("upshift upgrade --stack shop")}, Project: p,
		Name: "shop", Swarm: f}
	return x, f
}

func stackRequest() StackRequest {
	return StackRequest{Services: []string{"app"}, Setup: "db-setup", Health: Health{Timeout: 2 * time.Minute, Stable: 3 * time.Second}}
}

func wantCalls(t *testing.T, f *fakeSwarm, want ...string) {
	t.Helper()
	got := strings.Join(f.calls, "\n")
	if got != strings.Join(want, "\n") {
		t.Errorf("calls to the swarm:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func wantOutcome(t *testing.T, x *Stack, rec *Record, err error, outcome Outcome, code int) {
	t.Helper()
	if rec.Outcome != outcome || rec.ExitCode == nil || *rec.ExitCode != code || ExitCodeOf(rec.Outcome, err) != code {
		t.Fatalf("outcome %s (exit %v, %v), want %s (exit %d)", rec.Outcome, rec.ExitCode, err, outcome, code)
	}
	runs, herr := x.Store.History(context.Background())
	if herr != nil || len(runs) != 1 || runs[0].Outcome != outcome || *runs[0].ExitCode != code {
		t.Fatalf("history %v %v, want one run %s exit %d", runs, herr, outcome, code)
	}
}

func TestStackUnitUpgradeSucceeds(t *testing.T) {
	x, f := fakeStack(t)
	rec, err := x.Upgrade(context.Background(), stackRequest())
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, x, rec, err, Succeeded, 0)
	wantCalls(t, f,
		"lock upshift-lock-shop",
		"job shop_db-setup-upshift-gate-"+strings.ToLower(rec.ID[len(rec.ID)-4:])+" on reg/setup:v2 --dry-run",
		"job shop_db-setup-upshift-setup-"+strings.ToLower(rec.ID[len(rec.ID)-4:])+" on reg/setup:v2 ",
		"update shop_app to reg/app:v2",
		"unlock upshift-lock-shop")
	if s := rec.Services[0]; s.From.Ref != "reg/app:v1@sha256:1111" || s.To.Ref != "reg/app:v2@sha256:2222" || rec.Setup.Migrations[0] != "0001_nickname" {
		t.Errorf("record: %+v → %+v, migrations %v", s.From, s.To, rec.Setup.Migrations)
	}
}

// A failing migration updates nothing: exit 1, the stack runs as before.
func TestStackUnitSetupFails(t *testing.T) {
	x, f := fakeStack(t)
	gate := f.job
	f.job = func(o compose.JobOptions) ([]string, int) {
		if strings.Contains(o.Name, "-upshift-setup-") {
			return []string{"ERROR: column \"nickname\" already exists"}, 1
		}
		return gate(o)
	}
	rec, err := x.Upgrade(context.Background(), stackRequest())
	wantOutcome(t, x, rec, err, Failed, 1)
	for _, c := range f.calls {
		if strings.HasPrefix(c, "update ") || strings.HasPrefix(c, "rollback ") {
			t.Errorf("a failed migration still changed a service: %s", c)
		}
	}
	if !strings.Contains(rec.Error, "setup service db-setup exited with code 1") || !strings.Contains(strings.Join(rec.Notes, " "), "no service was updated") {
		t.Errorf("error %q, notes %v", rec.Error, rec.Notes)
	}
}

// The swarm's own monitor rolls the update back: upshift has nothing to
// put back, verifies v1 and ends with exit 5.
func TestStackUnitSwarmRollsBack(t *testing.T) {
	x, f := fakeStack(t)
	f.update = func(s *compose.StackService, o compose.ServiceUpdateOptions) {
		s.Image, s.PreviousImage = s.PreviousImage, s.Image
		s.Update, s.UpdateMessage = "rollback_completed", "update rolled back due to failure or early termination of task"
	}
	rec, err := x.Upgrade(context.Background(), stackRequest())
	wantOutcome(t, x, rec, err, RolledBack, 5)
	if n := strings.Count(strings.Join(f.calls, "\n"), "rollback "); n != 0 {
		t.Errorf("upshift asked for a rollback the swarm had made: %v", f.calls)
	}
	if !strings.Contains(rec.Error, "ended rollback_completed") || f.services["app"].Image != "reg/app:v1@sha256:1111" {
		t.Errorf("error %q; app runs %s", rec.Error, f.services["app"].Image)
	}
}

// The new tasks never run: verify times out (two minutes of virtual time),
// upshift rolls back with rollback=previous and verifies v1: exit 5.
func TestStackUnitVerifyFailsAndUpshiftRollsBack(t *testing.T) {
	x, f := fakeStack(t)
	f.update = func(s *compose.StackService, o compose.ServiceUpdateOptions) { f.down["app"] = true }
	x.Swarm = rollbackHeals{f}
	rec, err := x.Upgrade(context.Background(), stackRequest())
	wantOutcome(t, x, rec, err, RolledBack, 5)
	if !strings.Contains(rec.Error, "not healthy within 2m0s: 0 of 2 task(s) of app run reg/app:v2@sha256:2222") {
		t.Errorf("error %q", rec.Error)
	}
	wantCalls(t, f,
		"lock upshift-lock-shop",
		f.calls[1], f.calls[2], // gate and setup
		"update shop_app to reg/app:v2",
		"rollback shop_app to reg/app:v1@sha256:1111",
		"unlock upshift-lock-shop")
	if rec.Rollback == nil || rec.Rollback.Outcome != "succeeded" {
		t.Errorf("rollback %+v", rec.Rollback)
	}
}

// rollbackHeals: the old tasks run again once the service is rolled back.
type rollbackHeals struct{ *fakeSwarm }

func (r rollbackHeals) UpdateService(ctx context.Context, o compose.ServiceUpdateOptions) ([]string, error) {
	w, err := r.fakeSwarm.UpdateService(ctx, o)
	if o.Rollback {
		r.mu.Lock()
		delete(r.down, "app")
		r.mu.Unlock()
	}
	return w, err
}

// Another machine holds the stack's lock: upshift waits --lock-wait (in
// virtual time), then exits 3 naming the holder, having changed nothing.
func TestStackUnitLockHeldElsewhere(t *testing.T) {
	x, f := fakeStack(t)
	x.LockWait = 30 * time.Second
	// A live holder: its lease (renewed as it runs) outlasts the wait.
	f.holdLock(`{"pid":4242,"user":"deploy","host":"ci-runner-7"}`, time.Hour)
	start := x.now()
	rec, err := x.Upgrade(context.Background(), stackRequest())
	var le *LockedError
	if !errors.As(err, &le) || ExitCodeOf(rec.Outcome, err) != 3 || !strings.Contains(err.Error(), "ci-runner-7") {
		t.Fatalf("%v (exit %d), want a LockedError naming ci-runner-7", err, ExitCodeOf(rec.Outcome, err))
	}
	if waited := x.now().Sub(start); waited < 30*time.Second || waited > 32*time.Second {
		t.Errorf("waited %s of virtual time, want --lock-wait (30s)", waited)
	}
	if len(f.calls) != 0 {
		t.Errorf("a run without the lock changed the swarm: %v", f.calls)
	}
}

// An update the swarm pauses is put back by digest; a rollback that fails
// too is exit 6.
func TestStackUnitPausedUpdateWhoseRollbackFails(t *testing.T) {
	x, f := fakeStack(t)
	f.update = func(s *compose.StackService, o compose.ServiceUpdateOptions) {
		s.Update, s.UpdateMessage = "paused", "update paused due to failure or early termination of task"
		f.down["app"] = true // and nothing runs again
	}
	rec, err := x.Upgrade(context.Background(), stackRequest())
	wantOutcome(t, x, rec, err, RollbackFailed, 6)
	if !strings.Contains(rec.Error, "ended paused") || rec.Rollback == nil || rec.Rollback.Outcome != "failed" {
		t.Errorf("error %q, rollback %+v", rec.Error, rec.Rollback)
	}
}

// A signal while the swarm is updating: the update settles, the service is
// put back (a first signal does not stop that half way), exit 5.
func TestStackUnitSignalDuringUpdate(t *testing.T) {
	x, f := fakeStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.looks = 3 // read by update, then twice by follow
	f.update = func(s *compose.StackService, o compose.ServiceUpdateOptions) {
		s.Update = "updating"
		cancel()
	}
	rec, err := x.Upgrade(ctx, stackRequest())
	wantOutcome(t, x, rec, err, RolledBack, 5)
	if !strings.HasPrefix(rec.Error, "interrupted during update") || f.services["app"].Image != "reg/app:v1@sha256:1111" {
		t.Errorf("error %q; app runs %s", rec.Error, f.services["app"].Image)
	}
}

// upshift rollback --stack puts back the digest the upgrade recorded, with
// Swarm's rollback=previous when that is the previous spec.
func TestStackUnitRollbackByRecordedDigest(t *testing.T) {
	x, f := fakeStack(t)
	up, err := x.Upgrade(context.Background(), stackRequest())
	if err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	rec, err := x.Rollback(context.Background(), StackRollbackRequest{Services: []string{"app"}, Health: Health{Stable: time.Second}})
	if err != nil || rec.Outcome != Succeeded || len(rec.RollsBack) != 1 || rec.RollsBack[0] != up.ID {
		t.Fatalf("rollback: %v, %s, rolls back %v (the upgrade was %s)", err, rec.Outcome, rec.RollsBack, up.ID)
	}
	wantCalls(t, f, "lock upshift-lock-shop", "rollback shop_app to reg/app:v1@sha256:1111", "unlock upshift-lock-shop")
	// Nothing left to roll back: the next one says so without touching a
	// service.
	f.calls = nil
	_, err = x.Rollback(context.Background(), StackRollbackRequest{Services: []string{"app"}})
	var nr *NothingToRollBackError
	if !errors.As(err, &nr) {
		t.Fatalf("a second rollback: %v, want NothingToRollBackError", err)
	}
	wantCalls(t, f, "lock upshift-lock-shop", "unlock upshift-lock-shop")
}

// A run that died after its setup job began never read the job's result;
// the rerun asks the check again and attributes to the dead run what was
// pending at its check and is no longer.
func TestStackUnitDeadRunsMigrationsAreAttributed(t *testing.T) {
	x, f := fakeStack(t)
	dead := newRecord(KindUpgrade, "shop", x.now().Add(-time.Minute), Holder{PID: 1 << 30, Host: "elsewhere"})
	dead.Step = StepSetup
	dead.GatePending = []string{"0001_nickname"}
	dead.Setup = &SetupRecord{Service: "db-setup", Migrations: []string{}, Source: FromUnknown}
	dead.Services = []ServiceRecord{{Name: "app", From: &Image{Ref: "reg/app:v1@sha256:1111", ID: "sha256:1111"}}}
	if err := x.Store.SaveRun(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	// The dead run's job applied it: nothing is pending any more.
	f.job = func(o compose.JobOptions) ([]string, int) {
		dry := len(o.Args) > 0 && o.Args[len(o.Args)-1] == "--dry-run"
		return []string{resultLine(t, dry)}, 0
	}
	rec, err := x.Upgrade(context.Background(), stackRequest())
	if err != nil || rec.Resumes != dead.ID {
		t.Fatalf("rerun: %v, resumes %q", err, rec.Resumes)
	}
	if !strings.Contains(f.calls[1], "-upshift-check-") || !strings.HasSuffix(f.calls[1], "--dry-run") {
		t.Errorf("no check job before the rerun's own steps: %v", f.calls)
	}
	runs, _ := x.Store.History(context.Background())
	if len(runs) != 2 || runs[0].ID != dead.ID || runs[0].Outcome != Interrupted {
		t.Fatalf("history %v", runs)
	}
	if s := runs[0].Setup; strings.Join(s.Migrations, ",") != "0001_nickname" || s.Source != FromPending {
		t.Errorf("the dead run's setup: %+v, want 0001_nickname from pending", s)
	}
	if len(rec.Setup.Migrations) != 0 || !strings.Contains(strings.Join(rec.Notes, "\n"), "had applied 0001_nickname before it died") {
		t.Errorf("the rerun's setup %v, notes %v", rec.Setup.Migrations, rec.Notes)
	}
}

// cutShort: the setup job is cut short by a signal after it applied its
// migration (the job is removed, its result never read).
type cutShort struct {
	*fakeSwarm
	cancel  context.CancelFunc
	applied *bool
}

func (c cutShort) RunJob(ctx context.Context, o compose.JobOptions, out func(string)) ([]string, error) {
	if strings.Contains(o.Name, "-upshift-setup-") {
		c.record("job %s cut short", o.Name)
		*c.applied = true
		c.cancel()
		return nil, context.Canceled
	}
	return c.fakeSwarm.RunJob(ctx, o, out)
}

// A signal during the setup job: nothing is updated (exit 1), and what
// the job applied before it was stopped is in the record, read as what
// the gate found pending and the check no longer does.
func TestStackUnitSignalDuringSetupRecordsWhatItApplied(t *testing.T) {
	x, f := fakeStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	applied := false
	f.job = func(o compose.JobOptions) ([]string, int) {
		if applied {
			return []string{resultLine(t, true)}, 0 // nothing pending any more
		}
		return []string{resultLine(t, true, "0001_nickname")}, 0
	}
	x.Swarm = cutShort{f, cancel, &applied}
	rec, err := x.Upgrade(ctx, stackRequest())
	wantOutcome(t, x, rec, err, Failed, 1)
	if s := rec.Setup; strings.Join(s.Migrations, ",") != "0001_nickname" || s.Source != FromPending {
		t.Errorf("setup %+v, want 0001_nickname from pending", s)
	}
	if !strings.HasPrefix(rec.Error, "interrupted during setup") || !strings.Contains(strings.Join(rec.Notes, " "), "migrations applied before the failure stay applied: 0001_nickname") {
		t.Errorf("error %q, notes %v", rec.Error, rec.Notes)
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "update ") {
			t.Errorf("a service was updated: %v", f.calls)
		}
	}
}

// A job a dead run left is waited for while its task has not ended —
// starting counts: a job's task is desired "complete", never "running" —
// and only then removed, before the rerun's own steps.
func TestStackUnitRerunWaitsForTheDeadRunsJob(t *testing.T) {
	x, f := fakeStack(t)
	f.left = &compose.StackService{ID: "dead-job", Name: "shop_db-setup-upshift-setup-beef", Job: true}
	f.leftStates = []string{"preparing", "starting", "running", "running", "complete"}
	start := x.now()
	if _, err := x.Upgrade(context.Background(), stackRequest()); err != nil {
		t.Fatal(err)
	}
	if f.calls[1] != "remove dead-job" || !strings.Contains(f.calls[2], "-upshift-gate-") {
		t.Errorf("the dead run's job is not removed first: %v", f.calls)
	}
	if waited := x.now().Sub(start); waited < 8*time.Second {
		t.Errorf("waited %s of virtual time for a job through four unfinished looks", waited)
	}
}

// A rollback after an upgrade that died part way undoes that upgrade, as
// on compose: back to what ran before it (its journaled From), and what
// runs now is what is rolled back.
func TestStackUnitRollbackAfterADeadUpgrade(t *testing.T) {
	x, f := fakeStack(t)
	dead := newRecord(KindUpgrade, "shop", x.now().Add(-time.Minute), Holder{PID: 1 << 30, Host: "elsewhere"})
	dead.Step = StepUpdate
	dead.Services = []ServiceRecord{{Name: "app", From: &Image{Ref: "reg/app:v1@sha256:1111", ID: "sha256:1111"}}}
	if err := x.Store.SaveRun(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	// Its update took: app runs v2.
	f.services["app"].Image, f.services["app"].PreviousImage = "reg/app:v2@sha256:2222", "reg/app:v1@sha256:1111"
	rec, err := x.Rollback(context.Background(), StackRollbackRequest{Services: []string{"app"}})
	if err != nil || rec.Outcome != Succeeded || strings.Join(rec.RollsBack, ",") != dead.ID || rec.Resumes != dead.ID {
		t.Fatalf("rollback: %v, %s, rolls back %v, resumes %q (the dead upgrade was %s)", err, rec.Outcome, rec.RollsBack, rec.Resumes, dead.ID)
	}
	if s := rec.Services[0]; s.From.Ref != "reg/app:v2@sha256:2222" || s.To.Ref != "reg/app:v1@sha256:1111" {
		t.Errorf("rolled back %v → %v, want v2 → v1", s.From, s.To)
	}
	wantCalls(t, f, "lock upshift-lock-shop", "rollback shop_app to reg/app:v1@sha256:1111", "unlock upshift-lock-shop")
	if runs, _ := x.Store.History(context.Background()); len(runs) != 2 || runs[0].ID != dead.ID || runs[0].Outcome != Interrupted {
		t.Errorf("history %v, want the dead upgrade as interrupted, then the rollback", runs)
	}
}

// The setup job copies the deployed spec: whether it runs upshift is read
// from the spec's command, not from the stack file's.
func TestStackUnitGateReadsTheDeployedCommand(t *testing.T) {
	x, f := fakeStack(t)
	f.services["db-setup"].Entrypoint, f.services["db-setup"].Args = nil, []string{"node", "migrate.js"}
	x.Project.Services["db-setup"].Command = []string{"upshift", "migrate"}
	rec, err := x.Upgrade(context.Background(), stackRequest())
	var re *RequestError
	if !errors.As(err, &re) || !strings.Contains(rec.Error, "runs upshift migrate (it runs `node migrate.js`)") {
		t.Fatalf("%v; error %q, want a refusal naming the deployed command", err, rec.Error)
	}
	wantOutcome(t, x, rec, err, Failed, 2)
	for _, c := range f.calls {
		if strings.HasPrefix(c, "job ") || strings.HasPrefix(c, "update ") {
			t.Errorf("something ran: %v", f.calls)
		}
	}
}

// A rollback waits for a job a dead run left as an upgrade does: a
// migration still running ends before any service is replaced.
func TestStackUnitRollbackWaitsForTheDeadRunsJob(t *testing.T) {
	x, f := fakeStack(t)
	if _, err := x.Upgrade(context.Background(), stackRequest()); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	f.left = &compose.StackService{ID: "dead-job", Name: "shop_db-setup-upshift-setup-beef", Job: true}
	f.leftStates = []string{"running", "running", "complete"}
	start := x.now()
	rec, err := x.Rollback(context.Background(), StackRollbackRequest{Services: []string{"app"}})
	if err != nil || rec.Outcome != Succeeded {
		t.Fatalf("rollback: %v %s", err, rec.Outcome)
	}
	wantCalls(t, f, "lock upshift-lock-shop", "remove dead-job", "rollback shop_app to reg/app:v1@sha256:1111", "unlock upshift-lock-shop")
	if waited := x.now().Sub(start); waited < 4*time.Second {
		t.Errorf("waited %s of virtual time for a job through two unfinished looks", waited)
	}
}
