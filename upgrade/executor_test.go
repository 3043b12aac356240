package upgrade

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/compose/composetest"
	"github.com/upshift-dev/upshift/migrate/result"
)

// deployment is the mana project on fakes: mana-auth runs v1; compose
// verbs are recorded, and by default do what docker compose would do to
// the fake engine (stop stops, up starts the images the files name, or
// the override's).
type fakeDeployment struct {
	eng  *composetest.Engine
	rec  *composetest.Recorder
	x    *Executor
	fail map[string]error // verb name -> its error
	// applied is what the setup step says it applied.
	applied []string
	// crash: the new version's container exits at once.
	crash bool
	// cancel is called when a verb of this name starts (a signal).
	cancelOn string
	cancel   context.CancelFunc
}

const v1, v2 = "sha256:1111111111111111", "sha256:2222222222222222"

func container(id, image string) compose.Container {
	return compose.Container{ID: id, Name: "mana-mana-auth-" + id, Service: "mana-auth", Number: 1, Image: "ghcr.io/mana/auth:latest", ImageID: image, State: "running"}
}

func newFakeDeployment(t *testing.T) *fakeDeployment {
	t.Helper()
	d := &fakeDeployment{eng: composetest.New(), rec: &composetest.Recorder{}, fail: map[string]error{}}
	d.eng.SetContainers("mana", "mana-auth", container("c1", v1))
	d.eng.AddImage("ghcr.io/mana/auth:latest", v1)
	st, err := OpenState(t.TempDir(), "mana")
	if err != nil {
		t.Fatal(err)
	}
	n := 1
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		if v.Name() == d.cancelOn && d.cancel != nil {
			d.cancel()
		}
		if err := d.fail[v.Name()]; err != nil {
			if v.Name() == "run" && len(d.applied) > 0 {
				doc := result.New()
				for _, tag := range d.applied {
					doc.Applied = append(doc.Applied, result.Applied{Tag: tag})
				}
				line, _ := doc.Line()
				out(line)
			}
			return err
		}
		switch v := v.(type) {
		case compose.PullOptions:
			d.eng.AddImage("ghcr.io/mana/auth:latest", v2)
		case compose.StopOptions:
			cs, _ := d.eng.Containers(context.Background(), "mana", "mana-auth")
			for i := range cs {
				cs[i].State = "exited"
			}
			d.eng.SetContainers("mana", "mana-auth", cs...)
		case compose.RunOptions:
			doc := result.New()
			for _, tag := range d.applied {
				doc.Applied = append(doc.Applied, result.Applied{Tag: tag})
			}
			out("applied   " + strings.Join(d.applied, ", ")) // the human line, which nothing reads
			line, _ := doc.Line()
			out(line)
		case compose.UpOptions:
			image := v2
			if len(v.Overrides) > 0 {
				image = v1 // the override names the pin of the previous image
			}
			n++
			c := container("c"+string(rune('0'+n)), image)
			if d.crash && image == v2 {
				c.State, c.ExitCode = "exited", 1
			}
			d.eng.SetContainers("mana", "mana-auth", c)
		}
		return nil
	}
	d.x = &Executor{Project: project(), Engine: d.eng, Compose: d.rec, Runner: &Runner{Store: st, Local: st, Me: Holder{PID: 1}}}
	return d
}

func (d *fakeDeployment) request(t *testing.T) Request {
	t.Helper()
	req, err := Resolve(d.x.Project, Choice{Services: []string{"mana-auth"}})
	if err != nil {
		t.Fatal(err)
	}
	req.Health = Health{Timeout: 2 * time.Second}
	return req
}

func (d *fakeDeployment) running(t *testing.T) string {
	t.Helper()
	cs, _ := d.eng.Containers(context.Background(), "mana", "mana-auth")
	if len(cs) != 1 || !cs[0].Running() {
		return "nothing"
	}
	return cs[0].ImageID
}

var (
	pullCall  = "--profile setup pull mana-auth db-setup"
	stopCall  = "stop mana-auth"
	setupCall = "--profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup"
	startCall = "up -d --no-deps --pull never mana-auth"
)

// rollbackCall is the start on upshift's override file (its path varies).
func isRollback(call string) bool {
	return strings.HasPrefix(call, "-f ") && strings.HasSuffix(call, " "+startCall)
}

func TestExecutorSequences(t *testing.T) {
	exitErr := func(verb string, code int) error {
		return &compose.ExitError{Args: []string{verb}, Code: code}
	}
	for _, tc := range []struct {
		name    string
		arrange func(d *fakeDeployment)
		calls   []string // "rollback" stands for the start on the override
		outcome Outcome
		serving string
		errText string
		notes   string
	}{
		{name: "success", calls: []string{pullCall, stopCall, setupCall, startCall}, outcome: Succeeded, serving: v2},
		{name: "pull fails: nothing is stopped",
			arrange: func(d *fakeDeployment) { d.fail["pull"] = exitErr("pull", 18) },
			calls:   []string{pullCall}, outcome: Failed, serving: v1, errText: "exited with code 18", notes: "nothing was stopped"},
		{name: "setup fails: the previous images come back, the applied migrations are named",
			arrange: func(d *fakeDeployment) { d.fail["run"] = exitErr("run", 1); d.applied = []string{"0007_add_nickname"} },
			calls:   []string{pullCall, stopCall, setupCall, "rollback"}, outcome: RolledBack, serving: v1,
			errText: "setup service db-setup exited with code 1 (it had applied 0007_add_nickname before failing", notes: "0007_add_nickname stay applied"},
		{name: "start fails",
			arrange: func(d *fakeDeployment) { d.fail["up"] = nil; d.failUpOnce() },
			calls:   []string{pullCall, stopCall, setupCall, startCall, "rollback"}, outcome: RolledBack, serving: v1},
		{name: "health fails: the new container exits",
			arrange: func(d *fakeDeployment) { d.crash = true },
			calls:   []string{pullCall, stopCall, setupCall, startCall, "logs --no-color --no-log-prefix --tail 5 mana-auth", "rollback"}, outcome: RolledBack, serving: v1,
			errText: "exited with code 1"},
		{name: "a signal during setup: rolled back, not left down",
			arrange: func(d *fakeDeployment) { d.cancelOn = "run"; d.fail["run"] = context.Canceled },
			calls:   []string{pullCall, stopCall, setupCall, "rollback"}, outcome: RolledBack, serving: v1, errText: "interrupted during setup"},
		{name: "a signal during stop: it is a stop, rolled back, not 'nothing was stopped'",
			arrange: func(d *fakeDeployment) { d.cancelOn = "stop"; d.fail["stop"] = context.Canceled },
			calls:   []string{pullCall, stopCall, "rollback"}, outcome: RolledBack, serving: v1, errText: "interrupted during stop"},
		{name: "rollback fails too",
			arrange: func(d *fakeDeployment) { d.crash = true; d.failOverride() },
			calls:   []string{pullCall, stopCall, setupCall, startCall, "logs --no-color --no-log-prefix --tail 5 mana-auth", "rollback"}, outcome: RollbackFailed, serving: "nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDeployment(t)
			if tc.arrange != nil {
				tc.arrange(d)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d.cancel = cancel
			rec, err := d.x.Upgrade(ctx, d.request(t))
			calls := d.rec.Calls()
			if len(calls) != len(tc.calls) {
				t.Fatalf("calls\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(tc.calls, "\n"))
			}
			for i, want := range tc.calls {
				if want == "rollback" && !isRollback(calls[i]) || want != "rollback" && calls[i] != want {
					t.Errorf("call %d: %s, want %s", i, calls[i], want)
				}
			}
			if rec.Outcome != tc.outcome {
				t.Errorf("outcome %s, want %s (%v)", rec.Outcome, tc.outcome, err)
			}
			if (err == nil) != (tc.outcome == Succeeded) {
				t.Errorf("error %v with outcome %s", err, rec.Outcome)
			}
			if got := d.running(t); got != tc.serving {
				t.Errorf("serving %s, want %s", got, tc.serving)
			}
			if tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)) {
				t.Errorf("error %v, want %q", err, tc.errText)
			}
			if tc.notes != "" && !strings.Contains(strings.Join(rec.Notes, "\n"), tc.notes) {
				t.Errorf("notes %q, want %q", rec.Notes, tc.notes)
			}
			if h, _ := d.x.Store.History(context.Background()); len(h) != 1 || h[0].Outcome != tc.outcome {
				t.Errorf("history %+v", h)
			} else if want := ExitCodeOf(rec.Outcome, err); rec.ExitCode == nil || *rec.ExitCode != want || h[0].ExitCode == nil || *h[0].ExitCode != want || want != ExitCode(tc.outcome) {
				// One exit code per run: the record's (what the CLI prints),
				// the history's and the documented one of the outcome.
				t.Errorf("exit codes: record %v, history %v, rule %d, outcome %s", rec.ExitCode, h[0].ExitCode, want, tc.outcome)
			}
			if u, _ := d.x.Store.Unfinished(context.Background()); u != nil {
				t.Errorf("run.json left behind")
			}
		})
	}
}

// failUpOnce makes the first `up` (the new version's start) fail.
func (d *fakeDeployment) failUpOnce() {
	do := d.rec.Do
	first := true
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		if up, ok := v.(compose.UpOptions); ok && first && len(up.Overrides) == 0 {
			first = false
			return &compose.ExitError{Args: []string{"up"}, Code: 1}
		}
		return do(v, out)
	}
}

// failOverride makes the start on the previous images fail.
func (d *fakeDeployment) failOverride() {
	do := d.rec.Do
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		if up, ok := v.(compose.UpOptions); ok && len(up.Overrides) > 0 {
			return &compose.ExitError{Args: []string{"up"}, Code: 1}
		}
		return do(v, out)
	}
}

// What the setup step applied comes from its result line, not from the
// wording of its output.
func TestSetupAppliedFromTheResultLine(t *testing.T) {
	d := newFakeDeployment(t)
	d.applied = []string{"0007_add_nickname", "0008_backfill"}
	rec, err := d.x.Upgrade(context.Background(), d.request(t))
	if err != nil || rec.Setup == nil || strings.Join(rec.Setup.Migrations, ",") != "0007_add_nickname,0008_backfill" {
		t.Fatalf("%v %+v", err, rec.Setup)
	}
}

// The compatibility gate runs the dry run first and refuses a contracting
// set before anything is stopped or migrated.
func TestGateRefusesBeforeAnyChange(t *testing.T) {
	d := newFakeDeployment(t)
	do := d.rec.Do
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		if r, ok := v.(compose.RunOptions); ok && len(r.Command) > 0 {
			doc := result.New()
			doc.DryRun = true
			doc.Pending = []string{"0009_drop_legacy"}
			doc.Lint = []result.Finding{{Rule: "drop-column", File: "/drizzle/0009_drop_legacy.sql", Line: 1, Column: 1, Statement: "ALTER TABLE users DROP COLUMN legacy", Breaking: true}}
			line, _ := doc.Line()
			out(line)
			return nil
		}
		return do(v, out)
	}
	req := d.request(t)
	req.Strategy = MigrateFirst
	rec, err := d.x.Upgrade(context.Background(), req)
	var be *BreakingError
	if !errors.As(err, &be) || rec.Outcome != Failed || d.running(t) != v1 {
		t.Fatalf("%v %s %s", err, rec.Outcome, d.running(t))
	}
	if got := strings.Join(d.rec.Calls(), "\n"); got != pullCall+"\n"+setupCall+" --dry-run" {
		t.Errorf("calls\n%s", got)
	}
}

// A rollback after a success puts v1 back through the override, and a
// dry run of it changes nothing.
func TestRollbackSequence(t *testing.T) {
	d := newFakeDeployment(t)
	if _, err := d.x.Upgrade(context.Background(), d.request(t)); err != nil {
		t.Fatal(err)
	}
	before := len(d.rec.Calls())
	rb := RollbackRequest{Services: []string{"mana-auth"}, Health: Health{Timeout: 2 * time.Second}}
	rb.DryRun = true
	if rec, err := d.x.Rollback(context.Background(), rb); err != nil || rec.Outcome != Planned || len(d.rec.Calls()) != before {
		t.Fatalf("dry run: %v %s %v", err, rec.Outcome, d.rec.Calls()[before:])
	}
	rb.DryRun = false
	rec, err := d.x.Rollback(context.Background(), rb)
	calls := d.rec.Calls()[before:]
	if err != nil || rec.Outcome != Succeeded || len(calls) != 1 || !isRollback(calls[0]) || d.running(t) != v1 {
		t.Fatalf("%v %s %v serving %s", err, rec.Outcome, calls, d.running(t))
	}
}

// With no strategy asked for, the least downtime the upgrade allows: a
// service with a fixed port migrates first; one that can run twice rolls;
// a contracting migration, found by the gate, falls back to stop-start
// instead of failing. The record says which and why.
func TestAutomaticStrategy(t *testing.T) {
	ctx := context.Background()
	e := newFakeDeployment(t)
	x, p := e.x, e.x.Project
	// The setup image is on the engine, its entrypoint upshift's (the
	// fake's): the evidence that the gate can check its migrations.
	e.eng.AddImage("ghcr.io/mana/db-setup:latest", "sha256:5e7")
	req, _ := Resolve(p, Choice{Services: []string{"mana-auth"}})
	if err := x.Choose(ctx, &req, Auto); err != nil || req.Strategy != Rolling || !strings.Contains(req.Reason, "can run twice") {
		t.Errorf("rolling: %v %s %q", err, req.Strategy, req.Reason)
	}
	p.Services["mana-auth"].FixedPorts = []string{"3000"}
	if err := x.Choose(ctx, &req, Auto); err != nil || req.strategyName() != MigrateFirst || !strings.Contains(req.Reason, "publishes host port 3000") {
		t.Errorf("migrate-first: %v %s %q", err, req.strategyName(), req.Reason)
	}
	if err := x.Choose(ctx, &req, string(Rolling)); err == nil {
		t.Errorf("a forced rolling of a fixed port is not refused")
	}
	// A setup step that the compose file shows is another migrator:
	// stop-start at once.
	p.Services["db-setup"].Command = []string{"npm", "run", "migration:latest"}
	e.eng.SetEntrypoint("ghcr.io/mana/db-setup:latest")
	if err := x.Choose(ctx, &req, Auto); err != nil || req.strategyName() != StopStart || !strings.Contains(req.Reason, "runs upshift migrate (it runs `npm run migration:latest`)") {
		t.Errorf("another migrator: %s %q", req.strategyName(), req.Reason)
	}
	// Flags for the image's upshift entrypoint: upshift.
	p.Services["db-setup"].Command = []string{"--dir", "/drizzle"}
	e.eng.SetEntrypoint("ghcr.io/mana/db-setup:latest", "/usr/local/bin/upshift")
	if err := x.Choose(ctx, &req, Auto); err != nil || req.strategyName() != MigrateFirst {
		t.Errorf("upshift flags: %s %q", req.strategyName(), req.Reason)
	}
	// The same flags with nothing to show whose they are (the compose
	// file alone, or an image not on the engine): no evidence, stop-start.
	if err := Choose(p, &req, Auto); err != nil || req.strategyName() != StopStart || !strings.Contains(req.Reason, "`--dir /drizzle` under an entrypoint upshift cannot see") {
		t.Errorf("flags, the file alone: %s %q", req.strategyName(), req.Reason)
	}
	p.Services["db-setup"].Command = nil

	d := newFakeDeployment(t)
	d.x.Project.Services["mana-auth"].FixedPorts = []string{"3000"}
	do := d.rec.Do
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		if r, ok := v.(compose.RunOptions); ok && len(r.Command) > 0 {
			doc := result.New()
			doc.DryRun, doc.Pending = true, []string{"0009_drop_legacy"}
			doc.Lint = []result.Finding{{Rule: "drop-column", File: "0009_drop_legacy.sql", Line: 1, Column: 1, Statement: "ALTER TABLE users DROP COLUMN legacy", Breaking: true}}
			line, _ := doc.Line()
			out(line)
			return nil
		}
		return do(v, out)
	}
	d.eng.AddImage("ghcr.io/mana/db-setup:latest", "sha256:5e7")
	req = d.request(t)
	if err := d.x.Choose(ctx, &req, Auto); err != nil {
		t.Fatal(err)
	}
	rec, err := d.x.Upgrade(context.Background(), req)
	if err != nil || rec.Outcome != Succeeded || d.running(t) != v2 {
		t.Fatalf("%v %s", err, rec.Outcome)
	}
	want := []string{pullCall, setupCall + " --dry-run", stopCall, setupCall, startCall}
	if got := d.rec.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rec.Strategy != string(StopStart) || !strings.Contains(rec.StrategyReason, "contract the schema") {
		t.Errorf("strategy %s: %s", rec.Strategy, rec.StrategyReason)
	}
}

// A chain of setup steps runs in dependency order on the fake, and a
// failing step stops the chain and rolls back.
func TestSetupChainOrder(t *testing.T) {
	d := newFakeDeployment(t)
	p := d.x.Project
	p.Services["seed"] = &compose.Service{Name: "seed", Image: "ghcr.io/mana/seed:latest", DependsOn: []string{"db", "db-setup"}, Completes: []string{"db-setup"}, Enabled: true}
	p.Services["warm"] = &compose.Service{Name: "warm", Image: "ghcr.io/mana/warm:latest", DependsOn: []string{"seed"}, Completes: []string{"seed"}, Enabled: true}
	p.Services["mana-auth"].Completes = []string{"warm"}
	p.Services["mana-auth"].DependsOn = []string{"warm"}
	req := d.request(t)
	if req.Setup != "db-setup" || strings.Join(req.SetupAfter, ",") != "seed,warm" {
		t.Fatalf("chain %s then %v", req.Setup, req.SetupAfter)
	}
	rec, err := d.x.Upgrade(context.Background(), req)
	if err != nil || rec.Outcome != Succeeded {
		t.Fatal(err)
	}
	want := []string{"--profile setup pull mana-auth db-setup seed warm", stopCall, setupCall,
		"up -d --no-recreate --wait --pull never db", "--profile setup run --rm -T --no-deps seed",
		"--profile setup run --rm -T --no-deps warm", startCall}
	if got := d.rec.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	d = newFakeDeployment(t)
	for k, v := range p.Services {
		d.x.Project.Services[k] = v
	}
	do := d.rec.Do
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		if r, ok := v.(compose.RunOptions); ok && r.Service == "seed" {
			return &compose.ExitError{Args: []string{"run"}, Code: 3}
		}
		return do(v, out)
	}
	rec, err = d.x.Upgrade(context.Background(), d.request(t))
	if err == nil || !strings.Contains(err.Error(), "setup service seed exited with code 3") || rec.Outcome != RolledBack || d.running(t) != v1 {
		t.Fatalf("%v %s", err, rec.Outcome)
	}
	for _, c := range d.rec.Calls() {
		if strings.HasSuffix(c, " warm") && !strings.Contains(c, " pull ") {
			t.Errorf("the chain went on after seed failed: %s", c)
		}
	}
}

// TestRefusedByRequestIsRecordedAsExit2: a forced migrate-first whose setup
// step is not upshift is refused at the gate, after the run's record was
// opened: the run's exit code is 2 in the record and in the history, as on
// screen, and nothing was stopped.
func TestRefusedByRequestIsRecordedAsExit2(t *testing.T) {
	d := newFakeDeployment(t)
	d.eng.SetEntrypoint("ghcr.io/mana/db-setup:latest", "/app/migrate.sh")
	req := d.request(t)
	if err := Choose(d.x.Project, &req, string(MigrateFirst)); err != nil {
		t.Fatal(err)
	}
	rec, err := d.x.Upgrade(context.Background(), req)
	if !errors.As(err, new(*RequestError)) {
		t.Fatalf("error %v, want the gate's refusal", err)
	}
	if rec.ExitCode == nil || *rec.ExitCode != 2 || ExitCodeOf(rec.Outcome, err) != 2 {
		t.Fatalf("the run's exit code: %v, want 2", rec.ExitCode)
	}
	runs, herr := d.x.Store.History(context.Background())
	if herr != nil || len(runs) != 1 || runs[0].ExitCode == nil || *runs[0].ExitCode != 2 {
		t.Fatalf("history: %v %v, want one run with exit code 2", runs, herr)
	}
	if got := d.running(t); got != v1 {
		t.Errorf("serving %s, want v1 untouched", got)
	}
}

func TestExitCodeOf(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		err  error
		want int
	}{
		{Succeeded, nil, 0}, {Planned, nil, 0}, {Failed, errors.New("pull failed"), 1}, {RolledBack, errors.New("unhealthy"), 5},
		{RollbackFailed, errors.New("x"), 6}, {Failed, &RequestError{Msg: "no"}, 2}, {Failed, &LockedError{}, 3},
		{Failed, &compose.ProjectError{}, 2}, {Interrupted, &RequestError{}, -1},
	} {
		if got := ExitCodeOf(tc.o, tc.err); got != tc.want {
			t.Errorf("ExitCodeOf(%s, %v) = %d, want %d", tc.o, tc.err, got, tc.want)
		}
	}
}
