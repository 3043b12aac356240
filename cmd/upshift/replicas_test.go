package main

// Replicas migrating at once against a real PostgreSQL: the cases that were
// outages before (a deadlock with CREATE INDEX CONCURRENTLY, a role's
// statement_timeout ending the lock wait, two services writing one table).

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// TestReplicasDoNotDeadlockOnConcurrentIndex: while one replica builds an
// index CONCURRENTLY on a table of a million rows, another waits for the
// lock. A waiter blocked in pg_advisory_lock holds a snapshot that the
// build waits for, and the deadlock detector killed one side; a waiter must
// hold neither a snapshot nor a transaction.
func TestReplicasDoNotDeadlockOnConcurrentIndex(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, `CREATE TABLE events (id bigint PRIMARY KEY, body text);
INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 1000000) g;`)
	dir := folder(t, [2]string{"0000_events_body_idx", "CREATE INDEX CONCURRENTLY events_body_idx ON events (md5(body), body);"})
	admin := db.Connect(t)
	first, out1, err1 := start(t, dbEnv(db), "migrate", "--dir", dir, "--service", "events-api")
	waitFor(t, "the first replica to build the index", func() bool {
		var n int
		_ = admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'upshift %' AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND state = 'active' AND datname = current_database()`).Scan(&n)
		return n > 0
	})
	second := upshift(t, dbEnv(db), "migrate", "--dir", dir, "--service", "events-api", "--timeout", "60")
	if err := first.Wait(); err != nil {
		t.Errorf("first replica: %v\n%s\n%s", err, out1, err1)
	}
	if second.code != 0 {
		t.Errorf("second replica: %s", second)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'events_body_idx' AND i.indisvalid`); n != 1 {
		t.Errorf("valid events_body_idx: %d, want 1", n)
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations"); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}

// TestRoleStatementTimeoutDoesNotEndTheLockWait: with statement_timeout
// set for every session (as ALTER ROLE … SET does in production), only
// --timeout bounds the wait for the lock.
func TestRoleStatementTimeoutDoesNotEndTheLockWait(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, "ALTER DATABASE "+db.Name+" SET statement_timeout = '1s'; ALTER DATABASE "+db.Name+" SET lock_timeout = '500ms'")
	holder := db.Connect(t)
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock(987654321)"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(3 * time.Second)
		_, _ = holder.Exec(context.Background(), "SELECT pg_advisory_unlock(987654321)")
	}()
	r := upshift(t, dbEnv(db), "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth", "--statement-timeout", "0", "--timeout", "10")
	if r.code != 0 {
		t.Fatalf("a 3 s wait under a 1 s statement_timeout: %s", r)
	}
	if !strings.Contains(r.stdout, "done: 4 migrations applied") {
		t.Errorf("%s", r)
	}
}

// TestTwoServicesOneTableOneWriter: runs with different (or no) --service
// against the same migrations table never apply at the same time.
func TestTwoServicesOneTableOneWriter(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t,
		[2]string{"0000_a", "CREATE TABLE a (id int);"},
		[2]string{"0001_b", "CREATE TABLE b (id int);" + bp + "SELECT pg_sleep(1);"},
	)
	var wg sync.WaitGroup
	results := make([]result, 3)
	for i, svc := range []string{"auth", "billing", ""} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"migrate", "--dir", dir, "--timeout", "60"}
			if svc != "" {
				args = append(args, "--service", svc)
			}
			results[i] = upshift(t, dbEnv(db), args...)
		}()
	}
	wg.Wait()
	applied := 0
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("run %d: %s", i, r)
		}
		if strings.Contains(r.stdout, "done: 2 migrations applied") {
			applied++
		}
	}
	if applied != 1 {
		t.Errorf("%d runs applied the migrations, want exactly 1", applied)
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations"); n != 2 {
		t.Errorf("%d rows, want 2 (no duplicates)", n)
	}
}

// TestDefaultsWaitForAStartingDatabase: with no flags, a database container
// that takes 5 s to start does not fail the db-setup container (the old
// defaults gave up after about 3 s).
func TestDefaultsWaitForAStartingDatabase(t *testing.T) {
	srv, url := ownServer(t)
	cmd, out, errb := start(t, []string{"DATABASE_URL=" + url}, "migrate", "--dir", goldenDir("v1-folders"))
	time.Sleep(5 * time.Second)
	if err := srv.Run(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errb)
	}
	if !strings.Contains(out.String(), "done: 4 migrations applied") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errb)
	}
}

// TestTooManyConnectionsIsRetried: 53300 (the database's connection limit,
// or max_connections) is transient: the run waits for a free slot.
func TestTooManyConnectionsIsRetried(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	// Superusers are exempt from connection limits: an ordinary owner.
	role := "limited_" + db.Name
	db.Exec(t, "CREATE ROLE "+role+" LOGIN CONNECTION LIMIT 1; ALTER DATABASE "+db.Name+" OWNER TO "+role)
	t.Cleanup(func() { db.Exec(t, "REASSIGN OWNED BY "+role+" TO postgres; DROP OWNED BY "+role+"; DROP ROLE "+role) })
	u := strings.Replace(db.URL, "postgres@", role+"@", 1)
	hog, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(4 * time.Second)
		hog.Close(context.Background())
	}()
	r := upshift(t, []string{"DATABASE_URL=" + u}, "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.stderr, "53300") || !strings.Contains(r.stdout, "done: 4 migrations applied") {
		t.Errorf("%s", r)
	}
}

// TestWaitingReplicaHoldsNoConnection: a replica that only waits for the
// lock closes its connection after --detach-after and checks back with a
// new one, so that waiting replicas do not use up max_connections during a
// long migration; it still applies once the lock is free.
func TestWaitingReplicaHoldsNoConnection(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	holder := db.Connect(t)
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock(987654321)"); err != nil {
		t.Fatal(err)
	}
	cmd, out, errb := start(t, dbEnv(db), "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth", "--timeout", "60", "--detach-after", "1s")
	sessions := func() int {
		var n int
		_ = holder.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'upshift %' AND datname = current_database()`).Scan(&n)
		return n
	}
	waitFor(t, "the waiter to connect", func() bool { return sessions() == 1 })
	// Detached: most of the time no session of the waiter exists.
	time.Sleep(1500 * time.Millisecond)
	zero := 0
	for i := 0; i < 20; i++ {
		if sessions() == 0 {
			zero++
		}
		time.Sleep(100 * time.Millisecond)
	}
	if zero < 10 {
		t.Errorf("the waiting replica held a connection in %d of 20 looks", 20-zero)
	}
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_unlock(987654321)"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errb)
	}
	if !strings.Contains(out.String(), "done: 4 migrations applied") {
		t.Errorf("stdout:\n%s", out)
	}
}
