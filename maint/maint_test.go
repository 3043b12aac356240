package maint_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/maint"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestMaintenance(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	ctx := context.Background()
	// Sessions of their own, closed: a session reports its counts to the
	// statistics when it ends (an idle one may wait ten seconds).
	for _, sql := range []string{`CREATE TABLE "Events" (id int) WITH (autovacuum_enabled = false); INSERT INTO "Events" SELECT g FROM generate_series(1, 5000) g`,
		`DELETE FROM "Events" WHERE id <= 4000`} {
		c, err := pgx.Connect(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.PgConn().Exec(ctx, sql).ReadAll(); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
	}
	conn := db.Connect(t)
	// The writing session reports its dead tuples to the statistics
	// shortly after it goes idle.
	var stats []maint.TableStat
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if stats, err = maint.Bloat(ctx, conn, 1000); err != nil || len(stats) > 0 {
			break
		}
	}
	if err != nil || len(stats) != 1 || stats[0].Table != "Events" || stats[0].DeadTuples < 4000 || !stats[0].OwnSettings {
		t.Fatalf("%+v %v", stats, err)
	}
	if s := stats[0].Suggestion; !strings.Contains(s, `autovacuum is off`) || !strings.Contains(s, `VACUUM (ANALYZE) "public"."Events"`) {
		t.Errorf("suggestion: %s", s)
	}
	ran, err := maint.Vacuum(ctx, conn, maint.VacuumOptions{Analyze: true, Tables: []maint.Table{`public."Events"`}})
	if err != nil || len(ran) != 1 || !strings.HasPrefix(ran[0].SQL, "VACUUM (ANALYZE) ") {
		t.Fatalf("%+v %v", ran, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		stats, err := maint.Bloat(ctx, conn, 1000)
		if err == nil && len(stats) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after VACUUM: %+v %v", stats, err)
		}
	}
	for _, bad := range []maint.Table{"a.b.c", `public."Events`, ".events", ""} {
		if _, err := maint.Analyze(ctx, conn, []maint.Table{bad}); err == nil || !strings.Contains(err.Error(), "is not a table name") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, good := range []maint.Table{"public.Events", "Events"} {
		if ran, err := maint.Analyze(ctx, conn, []maint.Table{good}); err != nil || ran[0].SQL != `ANALYZE "public"."Events"` && ran[0].SQL != `ANALYZE "Events"` {
			t.Errorf("%q: %+v %v", good, ran, err)
		}
	}
	if ran, err := maint.Analyze(ctx, conn, nil); err != nil || len(ran) != 1 || ran[0].SQL != "ANALYZE" {
		t.Errorf("whole database: %+v %v", ran, err)
	}
}
