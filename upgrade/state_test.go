package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/compose/composetest"
)

func TestLatestUpgrade(t *testing.T) {
	from := &Image{Ref: "a", ID: "sha256:1"}
	rec := func(id string, kind Kind, outcome Outcome, undo ...string) *Record {
		return &Record{ID: id, Kind: kind, Outcome: outcome, RollsBack: undo, Services: []ServiceRecord{{Name: "api", From: from}}}
	}
	h := []*Record{
		rec("1", KindUpgrade, Succeeded),
		rec("2", KindUpgrade, Succeeded),
		rec("3", KindUpgrade, RolledBack),
		rec("4", KindRollback, Succeeded, "2"),
	}
	if got := LatestUpgrade(h, "api"); got == nil || got.ID != "1" {
		t.Errorf("latest upgrade %v, want 1 (2 was rolled back, 3 rolled itself back)", got)
	}
	if got := LatestUpgrade(h, "worker"); got != nil {
		t.Errorf("worker: %v", got)
	}
	if by := UndoneBy(h); by["2"] == nil || by["2"].ID != "4" {
		t.Errorf("UndoneBy %v", by)
	}
}

func TestDeployLock(t *testing.T) {
	root := t.TempDir()
	a, _ := OpenState(root, "mana")
	b, _ := OpenState(root, "mana")
	ctx := context.Background()
	me := Holder{PID: 4242, User: "deploy", Host: "web-1", Command: "upshift upgrade --service mana-auth", Since: time.Now()}
	if err := a.Lock(ctx, me, 0, time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if locked, h := b.Locked(); !locked || h.PID != 4242 {
		t.Errorf("Locked() = %v %v", locked, h)
	}
	var waits int
	err := b.Lock(ctx, Holder{PID: 1}, 300*time.Millisecond, 100*time.Millisecond, func(Holder, time.Duration) { waits++ })
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != 4242 || !strings.Contains(err.Error(), "upshift upgrade --service mana-auth") {
		t.Fatalf("second lock: %v", err)
	}
	if waits == 0 {
		t.Errorf("the waiter never reported whom it waits for")
	}
	a.Unlock()
	if err := b.Lock(ctx, Holder{PID: 2}, 0, time.Second, nil); err != nil {
		t.Errorf("after unlock: %v", err)
	}
	b.Unlock()
}

func TestHistoryAndUnfinished(t *testing.T) {
	s, err := OpenState(t.TempDir(), "mana")
	if err != nil {
		t.Fatal(err)
	}
	r := newRecord(KindUpgrade, "mana", time.Now(), Holder{PID: 1})
	r.Step = StepSetup
	if err := s.SaveRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Unfinished(context.Background())
	if err != nil || got == nil || got.ID != r.ID || got.Step != StepSetup {
		t.Fatalf("unfinished %v %v", got, err)
	}
	r.Outcome = Succeeded
	if err := s.Finish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Unfinished(context.Background()); got != nil {
		t.Errorf("run.json left after Finish")
	}
	// A torn last line (a crash mid-append) does not hide the history.
	f, _ := os.OpenFile(filepath.Join(s.Dir, "history.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"torn`)
	f.Close()
	h, err := s.History(context.Background())
	if err != nil || len(h) != 1 || h[0].ID != r.ID {
		t.Errorf("history %v %v", h, err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "run.json"), []byte("{"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unfinished(context.Background()); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("a damaged run.json: %v", err)
	}
}

func TestRollbackNeedsARecordedUpgrade(t *testing.T) {
	eng := composetest.New()
	eng.AddContainer("mana", compose.Container{ID: "c1", Name: "mana-mana-auth-1", Service: "mana-auth", Image: "ghcr.io/mana/auth:latest", ImageID: "sha256:2", State: "running"})
	st, _ := OpenState(t.TempDir(), "mana")
	x := &Executor{Project: project(), Engine: eng, Compose: &compose.CLI{Docker: "/nonexistent/docker"}, Runner: &Runner{Store: st, Local: st}}
	rec, err := x.Rollback(context.Background(), RollbackRequest{Services: []string{"mana-auth"}})
	var nr *NothingToRollBackError
	if !errors.As(err, &nr) || rec.Outcome != Failed {
		t.Fatalf("rollback with no history: %v, outcome %s", err, rec.Outcome)
	}
	// A recorded upgrade whose pin is gone is refused before anything runs.
	up := newRecord(KindUpgrade, "mana", time.Now(), Holder{})
	up.Outcome = Succeeded
	up.Services = []ServiceRecord{{Name: "mana-auth", From: &Image{Ref: "ghcr.io/mana/auth:latest", ID: "sha256:1", Pin: "upshift.local/mana/mana-auth:gone"}}}
	if err := st.Finish(context.Background(), up); err != nil {
		t.Fatal(err)
	}
	_, err = x.Rollback(context.Background(), RollbackRequest{Services: []string{"mana-auth"}})
	if err == nil || !strings.Contains(err.Error(), "no longer on this engine") {
		t.Errorf("missing pin: %v", err)
	}
	// With the pin there, a dry run names the pin and changes nothing.
	eng.AddImage("upshift.local/mana/mana-auth:gone", "sha256:1")
	rec, err = x.Rollback(context.Background(), RollbackRequest{Services: []string{"mana-auth"}, DryRun: true})
	if err != nil || rec.Outcome != Planned || !strings.Contains(strings.Join(rec.Steps[0].Commands, " "), "up -d --no-deps --pull never mana-auth") {
		t.Errorf("dry run: %v %+v", err, rec)
	}
	if h, _ := st.History(context.Background()); len(h) != 1 {
		t.Errorf("a dry run was recorded: %d runs", len(h))
	}
}

// Every string of a record — each field there is now, and any added
// later — goes through the redaction: a record full of a secret comes out
// with none of it, its times untouched.
func TestRecordRedactedReachesEveryString(t *testing.T) {
	const secret = "k3yFromDotEnvZ9"
	rec := &Record{ExitCode: new(int), FinishedAt: new(time.Time), Setup: &SetupRecord{}, Backup: &BackupRecord{}, Rollback: &RollbackRecord{}, TableBefore: &TableMark{},
		Services: []ServiceRecord{{From: &Image{}, To: &Image{}, PreviousContainers: []string{""}, Containers: []string{""}}},
		Steps:    []StepRecord{{Commands: []string{""}, API: []string{""}}}, Notes: []string{""}, RollsBack: []string{""}, GatePending: []string{""}}
	rec.Setup.Migrations = []string{""}
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			v.SetString("init --masterkey " + secret + " --config /c.yaml")
		case reflect.Pointer:
			if !v.IsNil() {
				fill(v.Elem())
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[time.Time]() {
				return
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					fill(v.Field(i))
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				fill(v.Index(i))
			}
		}
	}
	fill(reflect.ValueOf(rec).Elem())
	rec.StartedAt = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	out := rec.Redacted(strings.NewReplacer(secret, "***").Replace)
	b, _ := json.Marshal(out)
	if strings.Contains(string(b), secret) || !strings.Contains(string(b), "--masterkey ***") {
		t.Errorf("the redacted record:\n%s", b)
	}
	if !out.StartedAt.Equal(rec.StartedAt) {
		t.Errorf("started_at %v, want %v", out.StartedAt, rec.StartedAt)
	}
	if b, _ := json.Marshal(rec); !strings.Contains(string(b), secret) {
		t.Errorf("Redacted changed the record it copied")
	}
}
