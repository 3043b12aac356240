package upgrade

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// scriptEngine is the run loop's engine reduced to a script: the steps an
// upgrade plans, what serves, and a record of what was put back. The real
// engines are tested through their own fakes (executor_test, stack_unit_test)
// and on real Docker; this tests the one failure policy itself.
type scriptEngine struct {
	steps   []Step
	from    map[string]*Image // what ran when the run opened
	serves  map[string]*Image
	putBack []string // "service→ref" as replace was asked
	replErr error
	// duringPutBack runs inside the putting back, as a kill would land.
	duringPutBack func()
}

func (e *scriptEngine) name() string { return "shop" }
func (e *scriptEngine) open(_ context.Context, rec *Record, _ bool) (func(), error) {
	for i := range rec.Services {
		rec.Services[i].From = e.from[rec.Services[i].Name]
	}
	return func() {}, nil
}
func (e *scriptEngine) leftovers(context.Context, *Record, *Record, bool) func() { return func() {} }
func (e *scriptEngine) plan(context.Context, *Record) []Step                     { return e.steps }
func (e *scriptEngine) serving(_ context.Context, s string) ([]string, *Image, error) {
	return []string{s + "-1"}, e.serves[s], nil
}
func (e *scriptEngine) ready([]string, Health, string) readiness {
	return func(context.Context) (bool, string, string, error) { return true, "", "running", nil }
}
func (e *scriptEngine) replace(_ *Record, services []string, to map[string]*Image, _ Health) ([]Step, error) {
	return []Step{{Name: StepRollback, Services: services, replaces: true, run: func(context.Context) error {
		if e.duringPutBack != nil {
			e.duringPutBack()
		}
		for _, s := range services {
			e.putBack = append(e.putBack, s+"→"+to[s].Ref)
			e.serves[s] = to[s]
		}
		return e.replErr
	}}}, nil
}
func (e *scriptEngine) target(context.Context, string, *Image) error { return nil }
func (e *scriptEngine) keep(*Record) []Step                          { return nil }
func (e *scriptEngine) unchanged() string                            { return "nothing changed" }
func (e *scriptEngine) putBackLimit(Health) time.Duration            { return 0 }
func (e *scriptEngine) succeeded(context.Context, *Record)           {}
func (e *scriptEngine) commands(Step) []string                       { return nil }
func (e *scriptEngine) do(context.Context, Step, func(string)) error { return nil }
func (e *scriptEngine) image(string) string                          { return "" }

func TestOneFailurePolicy(t *testing.T) {
	v1 := &Image{Ref: "app:v1"}
	ok := func(context.Context) error { return nil }
	boom := errors.New("boom")
	fails := func(context.Context) error { return boom }
	for _, tc := range []struct {
		name     string
		steps    []Step
		from     map[string]*Image
		replErr  error
		outcome  Outcome
		code     int
		putBack  string // what was put back, in order
		step     string // the record's step
		note     string
		rbHealth string
	}{
		{name: "a step that replaces nothing fails: nothing to put back, exit 1",
			steps:   []Step{{Name: StepPull, run: fails}},
			outcome: Failed, code: 1, step: StepPull, note: "nothing changed"},
		{name: "a replacing step fails: its services are put back, exit 5",
			steps:   []Step{{Name: StepUpdate, Services: []string{"api"}, replaces: true, run: fails}},
			outcome: RolledBack, code: 5, putBack: "api→app:v1", step: StepUpdate + " → " + StepRollback},
		{name: "only the services moved are put back",
			steps: []Step{{Name: StepUpdate, Services: []string{"api"}, replaces: true, run: ok},
				{Name: StepUpdate, Services: []string{"web"}, replaces: true, run: ok},
				{Name: StepVerify, Services: []string{"api", "web", "worker"}, run: fails}},
			outcome: RolledBack, code: 5, putBack: "api→app:v1 web→app:v1", step: StepVerify + " → " + StepRollback},
		{name: "a step that took its own new containers away: the old ones kept serving, exit 5",
			steps:   []Step{{Name: StepRoll, Services: []string{"api"}, replaces: true, run: func(context.Context) error { return &RollingError{Service: "api", Err: boom} }}},
			outcome: RolledBack, code: 5, step: StepRoll, rbHealth: "the old containers kept serving"},
		{name: "a roll that retired the old containers is put back",
			steps:   []Step{{Name: StepRoll, Services: []string{"api"}, replaces: true, run: func(context.Context) error { return &RollingError{Service: "api", Err: boom, Retired: true} }}},
			outcome: RolledBack, code: 5, putBack: "api→app:v1", step: StepRoll + " → " + StepRollback},
		{name: "nothing ran before: nothing to put back, exit 6",
			steps:   []Step{{Name: StepStart, Services: []string{"api"}, replaces: true, run: fails}},
			from:    map[string]*Image{},
			outcome: RollbackFailed, code: 6, step: StepStart + " → " + StepRollback},
		{name: "the putting back fails: exit 6",
			steps:   []Step{{Name: StepStop, Services: []string{"api"}, replaces: true, run: fails}},
			replErr: errors.New("engine gone"),
			outcome: RollbackFailed, code: 6, putBack: "api→app:v1", step: StepStop + " → " + StepRollback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := OpenState(t.TempDir(), "shop")
			if err != nil {
				t.Fatal(err)
			}
			from := tc.from
			if from == nil {
				from = map[string]*Image{"api": v1, "web": v1, "worker": v1}
			}
			eng := &scriptEngine{steps: tc.steps, from: from, serves: map[string]*Image{}, replErr: tc.replErr}
			x := &Runner{Store: st, Local: st, Me: Holder{PID: 1}}
			rec, err := x.upgrade(context.Background(), eng, runSpec{Services: []string{"api", "web", "worker"}})
			if rec.Outcome != tc.outcome || rec.ExitCode == nil || *rec.ExitCode != tc.code || ExitCodeOf(rec.Outcome, err) != tc.code {
				t.Fatalf("outcome %s exit %v (%v), want %s exit %d", rec.Outcome, rec.ExitCode, err, tc.outcome, tc.code)
			}
			if got := strings.Join(eng.putBack, " "); got != tc.putBack {
				t.Errorf("put back %q, want %q", got, tc.putBack)
			}
			if rec.Step != tc.step {
				t.Errorf("step %q, want %q", rec.Step, tc.step)
			}
			if tc.note != "" && !strings.Contains(strings.Join(rec.Notes, "\n"), tc.note) {
				t.Errorf("notes %v, want %q", rec.Notes, tc.note)
			}
			if tc.rbHealth != "" && (rec.Rollback == nil || rec.Rollback.Health != tc.rbHealth) {
				t.Errorf("rollback %+v, want health %q", rec.Rollback, tc.rbHealth)
			}
			runs, _ := st.History(context.Background())
			if len(runs) != 1 || *runs[0].ExitCode != tc.code {
				t.Errorf("history %v, want one run with exit %d", runs, tc.code)
			}
		})
	}
}

// The migrations note says they passed the compatibility check only when
// the check cleared them.
func TestMigrationsNoteAfterPuttingBack(t *testing.T) {
	for _, cleared := range []bool{false, true} {
		st, _ := OpenState(t.TempDir(), "shop")
		eng := &scriptEngine{from: map[string]*Image{"api": {Ref: "app:v1"}}, serves: map[string]*Image{}}
		eng.steps = []Step{{Name: StepUpdate, Services: []string{"api"}, replaces: true, run: func(context.Context) error { return errors.New("boom") }}}
		x := &Runner{Store: st, Local: st, Me: Holder{PID: 1}}
		rec := newRecord(KindUpgrade, "shop", time.Now(), x.Me)
		rec.Services = []ServiceRecord{{Name: "api", From: &Image{Ref: "app:v1"}}}
		rec.Setup = &SetupRecord{Migrations: []string{"0001_a"}}
		rec.gateCleared = cleared
		x.undo(context.Background(), eng, rec, []string{"api"}, Health{})
		notes := strings.Join(rec.Notes, "\n")
		if got := strings.Contains(notes, "passed the compatibility check"); got != cleared {
			t.Errorf("cleared %v: notes %q", cleared, notes)
		}
	}
}

// A run killed while it puts services back (CI's cancel: the first signal
// starts the putting back, the SIGKILL lands in it) is journaled as
// running, so the next run finds it dead and finishes it: its upgrade
// keeps what ran before the dead one as the rollback target, although the
// engine went on to the new version meanwhile (the swarm finishes an
// update upshift stopped following). It was journaled as rolled back, so
// the next run took it as ended and the new version as what ran before
// (found by the stack fault suite).
func TestKilledWhilePuttingBackIsFinishedNext(t *testing.T) {
	v1, v2 := &Image{Ref: "app:v1"}, &Image{Ref: "app:v2"}
	st, err := OpenState(t.TempDir(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	var dead *Record
	eng := &scriptEngine{from: map[string]*Image{"api": v1}, serves: map[string]*Image{},
		steps: []Step{{Name: StepUpdate, Services: []string{"api"}, replaces: true, run: func(context.Context) error { return errors.New("interrupted") }}}}
	eng.duringPutBack = func() { dead, _ = st.Unfinished(context.Background()) }
	x := &Runner{Store: st, Local: st, Me: Holder{PID: 1}}
	if _, err := x.upgrade(context.Background(), eng, runSpec{Services: []string{"api"}}); err == nil {
		t.Fatal("the upgrade did not fail")
	}
	if dead == nil || dead.Outcome != Running {
		t.Fatalf("while putting back, the journal holds %+v; want a running run", dead)
	}

	// The same journal, as the kill left it, on a fresh store that the
	// engine has moved on to v2 for.
	st2, err := OpenState(t.TempDir(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.SaveRun(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	eng2 := &scriptEngine{from: map[string]*Image{"api": v2}, serves: map[string]*Image{"api": v2},
		steps: []Step{{Name: StepUpdate, Services: []string{"api"}, replaces: true, run: func(context.Context) error { return nil }}}}
	x2 := &Runner{Store: st2, Local: st2, Me: Holder{PID: 2}}
	rec, err := x2.upgrade(context.Background(), eng2, runSpec{Services: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Resumes != dead.ID {
		t.Errorf("the rerun resumes %q, want the dead run %s", rec.Resumes, dead.ID)
	}
	if from := rec.service("api").From; from == nil || from.Ref != v1.Ref {
		t.Errorf("the rerun's rollback target is %v, want %s (what ran before the dead upgrade)", from, v1.Ref)
	}
	runs, _ := st2.History(context.Background())
	var outcomes []Outcome
	for _, r := range runs {
		outcomes = append(outcomes, r.Outcome)
	}
	if !slices.Contains(outcomes, Interrupted) || !slices.Contains(outcomes, Succeeded) {
		t.Errorf("history %v, want the dead run interrupted and the rerun", outcomes)
	}
}
