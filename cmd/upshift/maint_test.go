package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

func TestMaintenance(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	// Autovacuum must not clean up behind the test's back.
	db.Exec(t, `CREATE TABLE events (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = off);
INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
DELETE FROM events WHERE id > 1000;`)
	conn := db.Connect(t)
	dead := func() int64 {
		var n int64
		_ = conn.QueryRow(context.Background(), "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname = 'events'").Scan(&n)
		return n
	}
	// Statistics reach pg_stat_* when the writing session has flushed them.
	deadline := time.Now().Add(10 * time.Second)
	for dead() < 4000 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}

	r := upshift(t, dbEnv(db), "db", "bloat")
	if r.code != 0 || !strings.Contains(r.stdout, "public.events") || !strings.Contains(r.stdout, "4000 (80%)") ||
		!strings.Contains(r.stdout, `autovacuum is off for this table: VACUUM (ANALYZE) "public"."events"`) {
		t.Fatalf("bloat: %s", r)
	}
	r = upshift(t, dbEnv(db), "db", "bloat", "--format", "json")
	var doc struct {
		Tables []struct {
			Table      string  `json:"table"`
			DeadTuples int64   `json:"dead_tuples"`
			Threshold  float64 `json:"vacuum_threshold"`
			Own        bool    `json:"own_settings"`
			Suggestion string  `json:"suggestion"`
		} `json:"tables"`
		Error *struct{} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Tables) != 1 || doc.Tables[0].DeadTuples != 4000 || !doc.Tables[0].Own || doc.Tables[0].Threshold <= 0 {
		t.Fatalf("bloat json: %v %+v\n%s", err, doc, r.stdout)
	}

	r = upshift(t, dbEnv(db), "db", "vacuum", "--analyze", "--table", "public.events")
	if r.code != 0 || !strings.Contains(r.stdout, `VACUUM (ANALYZE) "public"."events"`) {
		t.Fatalf("vacuum: %s", r)
	}
	deadline = time.Now().Add(10 * time.Second)
	for dead() != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := dead(); n != 0 {
		t.Errorf("%d dead tuples after VACUUM", n)
	}
	if r := upshift(t, dbEnv(db), "db", "bloat"); r.code != 0 || !strings.Contains(r.stdout, "no table of") {
		t.Errorf("bloat after vacuum: %s", r)
	}
	if r := upshift(t, dbEnv(db), "db", "analyze", "--format", "json"); r.code != 0 || !strings.Contains(r.stdout, `"sql": "ANALYZE"`) {
		t.Errorf("analyze: %s", r)
	}
	r = upshift(t, dbEnv(db), "db", "vacuum", "--full", "--table", "events")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: VACUUM FULL rewrites each table under an ACCESS EXCLUSIVE lock") || !strings.Contains(r.stdout, `VACUUM (FULL) "events"`) {
		t.Errorf("vacuum --full: %s", r)
	}
	r = upshift(t, dbEnv(db), "db", "vacuum", "--table", "a.b.c", "--format", "json")
	if r.code != 1 || !strings.Contains(r.stdout, `is not a table name`) {
		t.Errorf("bad table name: %s", r)
	}
}
