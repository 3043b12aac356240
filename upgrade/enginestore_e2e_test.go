package upgrade_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/internal/harness/dockertest"
	"github.com/upshift-dev/upshift/upgrade"
)

// The journal on the engine, as two machines see it: each save replaces
// the one before (one entry on the engine, whatever the steps), another
// machine reads the newest, a save cut off before it removed the older
// entry still reads as the newest, Finish leaves no entry and the run in
// the history, a run that ended but whose history was not written is
// found with its real outcome, and a damaged entry is named with the
// commands that look at it and remove it.
func TestEngineJournal(t *testing.T) {
	ctx := context.Background()
	keep := newKeep(t)
	volume := keep.Volume
	open := func() *upgrade.EngineStore {
		s, _, err := upgrade.OpenEngineStore(ctx, keep, "shop", "unix:///var/run/docker.sock", nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	entries := func() []string {
		return strings.Fields(dockertest.Run(t, "", nil, "docker", "volume", "ls", "-q", "--filter", "label="+compose.LabelJournal+"=shop", "--filter", "label="+compose.LabelKeep+"="+volume))
	}
	runner, laptop := open(), open()

	if r, err := runner.Unfinished(ctx); err != nil || r != nil {
		t.Fatalf("an empty engine has an unfinished run: %v %v", r, err)
	}
	rec := &upgrade.Record{ID: "20261207T030000Z-ab12", Kind: upgrade.KindUpgrade, Project: "shop", Outcome: upgrade.Running}
	for _, step := range []string{"pin", "pull", "setup"} {
		rec.Step = step
		if err := runner.SaveRun(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if e := entries(); len(e) != 1 {
			t.Fatalf("after journaling step %s the engine holds %d journal entries, want 1: %v", step, len(e), e)
		}
	}
	got, err := laptop.Unfinished(ctx)
	if err != nil || got == nil || got.ID != rec.ID || got.Step != "setup" {
		t.Fatalf("another machine reads %+v, %v; want run %s at step setup", got, err, rec.ID)
	}

	// A save that died after writing its entry, before removing the one
	// before it: the newest counts.
	newer := []byte(`{"id":"20261207T030000Z-ab12","kind":"upgrade","project":"shop","outcome":"running","step":"stop"}`)
	if _, err := keep.WriteJournal(ctx, "shop", 1000, newer); err != nil {
		t.Fatal(err)
	}
	if got, err := laptop.Unfinished(ctx); err != nil || got == nil || got.Step != "stop" {
		t.Fatalf("with two entries another machine reads %+v, %v; want the newest (step stop)", got, err)
	}

	// The other machine finishes it: no entry, the run in the history.
	got.Outcome = upgrade.Interrupted
	if err := laptop.Finish(ctx, got); err != nil {
		t.Fatal(err)
	}
	if e := entries(); len(e) != 0 {
		t.Errorf("after Finish the engine still holds journal entries: %v", e)
	}
	if r, err := runner.Unfinished(ctx); err != nil || r != nil {
		t.Errorf("after Finish the first machine still finds %+v, %v", r, err)
	}
	h, err := runner.History(ctx)
	if err != nil || len(h) != 1 || h[0].ID != rec.ID || h[0].Outcome != upgrade.Interrupted {
		t.Errorf("history: %+v, %v; want run %s interrupted", h, err, rec.ID)
	}

	// A run that ended but was not moved to the history reads as ended.
	ended := []byte(`{"id":"20261207T040000Z-cd34","kind":"upgrade","project":"shop","outcome":"succeeded","step":"verify"}`)
	if _, err := keep.WriteJournal(ctx, "shop", 1, ended); err != nil {
		t.Fatal(err)
	}
	if got, err := laptop.Unfinished(ctx); err != nil || got == nil || got.Outcome != upgrade.Succeeded {
		t.Errorf("a run journaled as it ended reads %+v, %v; want outcome succeeded", got, err)
	}

	// A damaged entry stops the run with the commands to look and tidy.
	name, err := keep.WriteJournal(ctx, "shop", 1001, []byte("{"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = laptop.Unfinished(ctx)
	if err == nil || !strings.Contains(err.Error(), "docker volume inspect "+name) || !strings.Contains(err.Error(), "docker volume rm "+name) {
		t.Errorf("a damaged journal: %v; want the volume's inspect and rm commands", err)
	}
}

// newKeep is a keep of its own on the test engine, removed when the test
// ends.
func newKeep(t testing.TB) *compose.Keep {
	dockertest.Require(t)
	d, err := compose.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	volume := dockertest.RandomName("upshift-state-test")
	t.Cleanup(func() { dockertest.RemoveKeep(volume) })
	return d.Keep(volume)
}
