package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// Every step is in the journal, as running, before it starts.
func TestStepsAreJournaledBeforeTheyStart(t *testing.T) {
	d := newFakeDeployment(t)
	seen := map[string]string{}
	do := d.rec.Do
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		u, err := d.x.Store.Unfinished(context.Background())
		if err != nil || u == nil {
			t.Errorf("%s ran with no journal: %v", v.Name(), err)
		} else if last := u.Steps[len(u.Steps)-1]; u.Step == last.Name {
			seen[v.Name()] = last.Name + ":" + string(last.Status)
		}
		return do(v, out)
	}
	if _, err := d.x.Upgrade(context.Background(), d.request(t)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pull": "pull:running", "stop": "stop:running", "run": "setup:running", "up": "start:running"}
	for verb, w := range want {
		if seen[verb] != w {
			t.Errorf("while %s ran the journal said %q, want %q", verb, seen[verb], w)
		}
	}
}

// A rollback killed part way is finished by the next rollback: it goes to
// the target the dead one journaled, not back to what the dead one was
// leaving.
func TestRerunOfAKilledRollbackFinishesIt(t *testing.T) {
	d := newFakeDeployment(t)
	if _, err := d.x.Upgrade(context.Background(), d.request(t)); err != nil {
		t.Fatal(err)
	}
	// The rollback dies after its start: v1's container is being created,
	// v2's is gone. Its journal names v1's pin as the target.
	history, _ := d.x.Store.History(context.Background())
	pin := history[0].Services[0].From.Pin
	dead := newRecord(KindRollback, "mana", time.Now(), Holder{PID: 99})
	dead.Step = StepRollback
	dead.RollsBack = []string{history[0].ID}
	dead.Services = []ServiceRecord{{Name: "mana-auth", From: &Image{Ref: "ghcr.io/mana/auth:latest", ID: v2}, To: &Image{Ref: pin, ID: v1, Pin: pin}}}
	dead.Steps = []StepRecord{{Name: StepRollback, Status: "running"}}
	if err := d.x.Store.SaveRun(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	d.eng.SetContainers("mana", "mana-auth", container("c9", v1)) // half done: v1 created
	before := len(d.rec.Calls())
	rec, err := d.x.Rollback(context.Background(), RollbackRequest{Services: []string{"mana-auth"}, Health: Health{Timeout: 2 * time.Second}})
	if err != nil || rec.Outcome != Succeeded {
		t.Fatalf("%v %s", err, rec.Outcome)
	}
	if d.running(t) != v1 {
		t.Errorf("serving %s, want v1", d.running(t))
	}
	if got := rec.Services[0].From; got == nil || got.ID != v2 {
		t.Errorf("the rerun's from is %v, want v2 (what the dead rollback was leaving)", got)
	}
	if strings.Join(rec.RollsBack, ",") != history[0].ID || rec.Resumes != dead.ID {
		t.Errorf("rolls back %v, resumes %q", rec.RollsBack, rec.Resumes)
	}
	override, _ := os.ReadFile(filepath.Join(d.x.Local.Dir, "override-"+rec.ID+".yml"))
	if !strings.Contains(string(override), pin) {
		t.Errorf("override does not name v1's pin %s:\n%s (calls %v)", pin, override, d.rec.Calls()[before:])
	}
	h, _ := d.x.Store.History(context.Background())
	if len(h) != 3 || h[1].Outcome != Interrupted || h[1].ExitCode != nil || h[2].ExitCode == nil || *h[2].ExitCode != 0 {
		t.Errorf("history: %d runs", len(h))
	}
}

func TestHealthCheckRefusesWhatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		h    Health
		want string
	}{
		{Health{URL: "not a url"}, "has no scheme"},
		{Health{URL: "127.0.0.1:18090/health"}, "write it as http://127.0.0.1:18090/health"},
		{Health{URL: "ftp://127.0.0.1/health"}, "is ftp://"},
		{Health{URL: "http:///health"}, "names no host"},
		{Health{URL: "http://127.0.0.1:99999/health"}, "outside 1-65535"},
		{Health{ExpectVersion: "v2"}, "needs a health URL"},
		{Health{URL: "http://x/", VersionField: "build..v"}, "empty part"},
		{Health{URL: "http://x/", Stable: time.Minute, Timeout: 30 * time.Second}, "shorter than the health timeout"},
		{Health{URL: "http://127.0.0.1:8080/health", ExpectVersion: "v2", Stable: 3 * time.Second}, ""},
		{Health{}, ""},
	} {
		err := tc.h.Check()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.h, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error()+" "+ErrorHintOf(err), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.h, err, tc.want)
		}
	}
}

// ErrorHintOf is the hint an error carries, for the assertions above.
func ErrorHintOf(err error) string {
	if h, ok := err.(interface{ ErrorHint() string }); ok {
		return h.ErrorHint()
	}
	return ""
}

// A bad health URL is refused before the lock, the pin or any verb.
func TestBadHealthURLChangesNothing(t *testing.T) {
	d := newFakeDeployment(t)
	req := d.request(t)
	req.Health.URL = "127.0.0.1:18090/health"
	rec, err := d.x.Upgrade(context.Background(), req)
	if _, ok := err.(*Error); !ok || rec.ID != "" || len(d.rec.Calls()) != 0 || d.running(t) != v1 {
		t.Fatalf("%v %q %v", err, rec.ID, d.rec.Calls())
	}
	if h, _ := d.x.Store.History(context.Background()); len(h) != 0 {
		t.Errorf("a refused run is in the history")
	}
}

// A release that answers 200 once and then 500, or every other time, is
// not healthy.
func TestFlappingHealthFailsVerification(t *testing.T) {
	for name, answer := range map[string]func(n int64) int{
		"once then 500":    func(n int64) int { return map[bool]int{true: 200, false: 500}[n == 1] },
		"every other time": func(n int64) int { return map[bool]int{true: 200, false: 503}[n%2 == 1] },
	} {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int64
			d := newFakeDeployment(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if d.running(t) == v1 { // the previous version, put back, is steady
					fmt.Fprint(w, `{"version":"v1"}`)
					return
				}
				w.WriteHeader(answer(n.Add(1)))
				fmt.Fprint(w, `{"version":"v2"}`)
			}))
			defer srv.Close()
			req := d.request(t)
			req.Health = Health{URL: srv.URL, ExpectVersion: "v2", Timeout: 3 * time.Second, Stable: time.Second}
			rec, err := d.x.Upgrade(context.Background(), req)
			if err == nil || rec.Outcome != RolledBack {
				t.Fatalf("%v %s", err, rec.Outcome)
			}
		})
	}
	// And a steady one passes, after the window.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"version":"v2"}`) }))
	defer srv.Close()
	d := newFakeDeployment(t)
	req := d.request(t)
	req.Health = Health{URL: srv.URL, ExpectVersion: "v2", Timeout: 5 * time.Second, Stable: time.Second}
	if rec, err := d.x.Upgrade(context.Background(), req); err != nil || rec.Outcome != Succeeded {
		t.Fatalf("steady: %v", err)
	}
}

// A state folder that cannot take the history keeps the finished run in
// its journal; nothing later calls it interrupted, and the next run
// records it. /dev/full answers every write with ENOSPC.
func TestFullStateFolder(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	d := newFakeDeployment(t)
	hist := filepath.Join(d.x.Local.Dir, "history.jsonl")
	if err := os.Symlink("/dev/full", hist); err != nil {
		t.Fatal(err)
	}
	d.fail["pull"] = &compose.ExitError{Args: []string{"pull"}, Code: 1}
	rec, _ := d.x.Upgrade(context.Background(), d.request(t))
	if rec.Outcome != Failed {
		t.Fatalf("outcome %s", rec.Outcome)
	}
	if _, err := os.Stat(filepath.Join(d.x.Local.Dir, "run.json.tmp")); err == nil {
		t.Errorf("run.json.tmp left behind")
	}
	// Space again (reading /dev/full would never end).
	os.Remove(hist)
	runs, err := Runs(context.Background(), d.x.Store, Query{})
	if err != nil || len(runs) != 1 || runs[0].Outcome != Failed || runs[0].ID != rec.ID {
		t.Fatalf("history while full: %v %+v", err, runs)
	}
	delete(d.fail, "pull")
	next, err := d.x.Upgrade(context.Background(), d.request(t))
	if err != nil || next.Resumes != "" {
		t.Fatalf("next run: %v, resumes %q", err, next.Resumes)
	}
	h, _ := d.x.Store.History(context.Background())
	if len(h) != 2 || h[0].ID != rec.ID || h[0].Outcome != Failed || h[1].Outcome != Succeeded {
		t.Errorf("history: %+v", h)
	}
	// A folder that cannot even take the journal is refused up front.
	if err := os.Symlink("/dev/full", filepath.Join(d.x.Local.Dir, SpaceProbe)); err != nil {
		t.Fatal(err)
	}
	calls := len(d.rec.Calls())
	_, err = d.x.Upgrade(context.Background(), d.request(t))
	if _, ok := err.(*Error); !ok || !strings.Contains(err.Error(), "cannot record a run") || len(d.rec.Calls()) != calls {
		t.Errorf("%v", err)
	}
}

// What an interrupted setup step applied comes from the migrations table,
// read before and after it; a rerun after a dead run finds what the dead
// one applied.
func TestAppliedFromTheTableWhenTheResultNeverCame(t *testing.T) {
	d := newFakeDeployment(t)
	d.x.Project.Services["db-setup"].Env = map[string]string{"DATABASE_URL": "postgres://app:s3cret-pw@db:5432/app"}
	d.eng.SetContainers("mana", "db", compose.Container{ID: "db1", Name: "mana-db-1", Service: "db", State: "running", ImageID: "sha256:db"})
	rows := []string{`{"id": 1, "hash": "aaaa", "created_at": 1700000000000}`}
	do := d.rec.Do
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		switch v := v.(type) {
		case compose.ExecOptions:
			if v.Service != "db" || !strings.Contains(strings.Join(v.Command, " "), `"drizzle"."__drizzle_migrations"`) || strings.Contains(strings.Join(v.Command, " "), "s3cret") {
				t.Errorf("exec %v", v)
			}
			for _, r := range rows {
				out(r)
			}
			return nil
		case compose.RunOptions:
			// The migration lands, then the step is cut short before
			// its result line.
			rows = append(rows, `{"id": 2, "hash": "bbbbbbbbbbbbbbbbbbbb", "created_at": 1700000001000, "name": "20261130_nickname"}`)
			return context.Canceled
		}
		return do(v, out)
	}
	rec, _ := d.x.Upgrade(context.Background(), d.request(t))
	if rec.Setup == nil || rec.Setup.Source != FromTable || strings.Join(rec.Setup.Migrations, ",") != "20261130_nickname" {
		t.Fatalf("setup %+v", rec.Setup)
	}
	if rec.TableBefore == nil || rec.TableBefore.LastID != 1 {
		t.Errorf("mark %+v", rec.TableBefore)
	}

	// A dead run: its journal has the mark and a setup that never reported.
	dead := newRecord(KindUpgrade, "mana", time.Now(), Holder{PID: 99})
	dead.Step, dead.TableBefore = StepSetup, &TableMark{Rows: 2, LastID: 2}
	dead.Setup = &SetupRecord{Service: "db-setup", Migrations: []string{}, Source: FromUnknown}
	dead.Services = []ServiceRecord{{Name: "mana-auth", From: &Image{Ref: "ghcr.io/mana/auth:latest", ID: v1}}}
	if err := d.x.Store.SaveRun(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	rows = append(rows, `{"id": 3, "hash": "cccccccccccccccc", "created_at": 1700000002000}`)
	d.rec.Do = func(v compose.Verb, out compose.Output) error {
		if e, ok := v.(compose.ExecOptions); ok && e.Service == "db" {
			for _, r := range rows {
				out(r)
			}
			return nil
		}
		return do(v, out)
	}
	next, err := d.x.Upgrade(context.Background(), d.request(t))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := d.x.Store.History(context.Background())
	var got *Record
	for _, r := range h {
		if r.ID == dead.ID {
			got = r
		}
	}
	if got == nil || got.Outcome != Interrupted || strings.Join(got.Setup.Migrations, ",") != "created_at 1700000002000 (hash cccccccccccc)" {
		b, _ := json.Marshal(got)
		t.Errorf("the dead run in the history: %s", b)
	}
	if !strings.Contains(strings.Join(next.Notes, "\n"), "had applied created_at 1700000002000") {
		t.Errorf("notes %q", next.Notes)
	}
}

// One-off setup containers a killed run left are removed.
func TestOneOffsOfADeadRunAreCleanedUp(t *testing.T) {
	d := newFakeDeployment(t)
	d.eng.AddOneOff("mana", compose.Container{ID: "o1", Name: "mana-db-setup-run-1", Service: "db-setup", State: "created"})
	d.eng.AddOneOff("mana", compose.Container{ID: "o2", Name: "mana-db-setup-run-2", Service: "db-setup", State: "exited"})
	rec, err := d.x.Upgrade(context.Background(), d.request(t))
	if err != nil {
		t.Fatal(err)
	}
	left, _ := d.eng.OneOffs(context.Background(), "mana", "db-setup")
	if len(left) != 0 {
		t.Errorf("left %+v", left)
	}
	notes := strings.Join(rec.Notes, "\n")
	if !strings.Contains(notes, "removed mana-db-setup-run-1, a created one-off") || !strings.Contains(notes, "removed mana-db-setup-run-2, an exited one-off") {
		t.Errorf("notes %q", notes)
	}
}
