package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// start launches upshift without waiting for it.
func start(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &out, &errb
}

func exitCodeOf(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// mustExitCode is the exit code of a command that ran; one that could not
// run at all fails the test.
func mustExitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return 0
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// sleeping reports whether an upshift session is running pg_sleep.
func sleeping(t *testing.T, conn *pgx.Conn) bool {
	var n int
	_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'upshift %' AND query LIKE '%pg_sleep%' AND state = 'active' AND datname = current_database()`).Scan(&n)
	return n > 0
}

func advisoryLocks(t *testing.T, conn *pgx.Conn) int {
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ownServer creates a cluster of the test's own, not yet started, for
// tests that start or stop the server themselves.
func ownServer(t *testing.T) (*pgtest.Server, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts its own server")
	}
	srv, err := pgtest.Init()
	if err != nil {
		t.Skipf("cannot create a cluster: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", srv.Port)
}

// slowFolder: a table, then a statement that takes a while, in one migration.
func slowFolder(t *testing.T) string {
	return folder(t,
		[2]string{"0000_fast", "CREATE TABLE fast (id int);"},
		[2]string{"0001_slow", "CREATE TABLE slow (id int);" + bp + "SELECT pg_sleep(30);"},
	)
}

// TestConcurrentMigrate: 16 processes migrate a fresh database at once;
// every migration is applied exactly once and all exit 0.
func TestConcurrentMigrate(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := folder(t,
		[2]string{"0000_a", "CREATE TABLE a (id int);"},
		[2]string{"0001_b", "CREATE TABLE b (id int);" + bp + "SELECT pg_sleep(0.3);"},
		[2]string{"0002_c", "CREATE TABLE c (id int);"},
	)
	var wg sync.WaitGroup
	results := make([]result, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = upshift(t, dbEnv(db), "migrate", "--dir", dir, "--service", "chat-backend")
		}()
	}
	wg.Wait()
	applied := 0
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("process %d: %v", i, r)
		}
		if strings.Contains(r.stdout, "done: 3 migrations applied") {
			applied++
		}
	}
	if applied != 1 {
		t.Errorf("%d processes applied the migrations, want exactly 1", applied)
	}
	if n := count(t, db, "SELECT count(*) FROM drizzle.__drizzle_migrations"); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
	if n := count(t, db, "SELECT count(DISTINCT created_at) FROM drizzle.__drizzle_migrations"); n != 3 {
		t.Errorf("duplicate rows")
	}
}

// TestLockTimeout: while another session holds the service's lock,
// migrate gives up after --timeout with exit 3, names the holder, and
// changes nothing.
func TestLockTimeout(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	cfg, _ := pgx.ParseConfig(db.URL)
	cfg.RuntimeParams["application_name"] = "node migrate.ts"
	holder, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock(987654321)"); err != nil {
		t.Fatal(err)
	}
	r := upshift(t, dbEnv(db), "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth", "--timeout", "1")
	if r.code != 3 {
		t.Fatalf("want exit 3: %v", r)
	}
	for _, want := range []string{"advisory lock 987654321 not acquired within 1", "held by pid", "node migrate.ts", "upshift locks"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if count(t, db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle'") != 0 {
		t.Error("something changed although the lock was not acquired")
	}
	// locks and unlock show the holder; --force ends it.
	r = upshift(t, dbEnv(db), "locks")
	if r.code != 0 || !strings.Contains(r.stdout, "987654321") || !strings.Contains(r.stdout, "mana-auth") || !strings.Contains(r.stdout, "node migrate.ts") {
		t.Errorf("locks: %v", r)
	}
	r = upshift(t, dbEnv(db), "unlock", "--service", "mana-auth")
	if r.code != 0 || !strings.Contains(r.stdout, "cannot release it") {
		t.Errorf("unlock: %v", r)
	}
	r = upshift(t, dbEnv(db), "unlock", "--service", "mana-auth", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "terminated pid") {
		t.Errorf("unlock --force: %v", r)
	}
	mustMigrate(t, db, "--dir", goldenDir("v0-journal"), "--service", "mana-auth", "--timeout", "5")
}

// TestWaiterReportsHolder: a waiting migrate says who holds the lock and
// proceeds once it is released.
func TestWaiterReportsHolder(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	holder := db.Connect(t)
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock(987654321)"); err != nil {
		t.Fatal(err)
	}
	cmd, out, errb := start(t, dbEnv(db), "migrate", "--dir", goldenDir("v0-journal"), "--service", "mana-auth", "--timeout", "60")
	waitFor(t, "the waiter to report the holder", func() bool { return strings.Contains(errb.String(), "held by pid") })
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_unlock(987654321)"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errb)
	}
	if !strings.Contains(out.String(), "done: 4 migrations applied") {
		t.Errorf("%s", out)
	}
}

// TestKill9MidMigration: upshift killed outright during a slow migration
// leaves no row, no partial schema and (soon) no lock; a rerun completes.
func TestKill9MidMigration(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	dir := slowFolder(t)
	conn := db.Connect(t)
	cmd, _, _ := start(t, dbEnv(db), "migrate", "--dir", dir, "--service", "chat-backend")
	waitFor(t, "the slow statement", func() bool { return sleeping(t, conn) })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The server notices the vanished client (client_connection_check_interval)
	// and rolls back; nothing stays behind.
	waitFor(t, "the lock to be released", func() bool { return advisoryLocks(t, conn) == 0 })
	if tableExists(t, db, "fast") || tableExists(t, db, "slow") || tableExists(t, db, "__drizzle_migrations") {
		t.Fatal("kill -9 left part of the batch behind")
	}
	fixed := folder(t,
		[2]string{"0000_fast", "CREATE TABLE fast (id int);"},
		[2]string{"0001_slow", "CREATE TABLE slow (id int);" + bp + "SELECT pg_sleep(0.1);"},
	)
	mustMigrate(t, db, "--dir", fixed, "--service", "chat-backend")
}

// TestSIGTERMMidMigration: SIGTERM (docker stop, a cancelled CI job)
// cancels the statement on the server, rolls back, releases the lock, and
// says so.
func TestSIGTERMMidMigration(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	conn := db.Connect(t)
	cmd, out, errb := start(t, dbEnv(db), "migrate", "--dir", slowFolder(t), "--service", "chat-backend")
	waitFor(t, "the slow statement", func() bool { return sleeping(t, conn) })
	startedAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := exitCodeOf(err); code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if time.Since(startedAt) > 10*time.Second {
		t.Error("SIGTERM did not cancel the running statement")
	}
	for _, want := range []string{"interrupted by a signal", "rolled back, not applied: 0000_fast, 0001_slow", "the database is as it was before this run"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
	if n := advisoryLocks(t, conn); n != 0 {
		t.Errorf("%d advisory locks left", n)
	}
	if sleeping(t, conn) {
		t.Error("the statement still runs on the server")
	}
	if tableExists(t, db, "fast") {
		t.Error("not rolled back")
	}
}

// TestServerStartsLate: the database comes up a few seconds after upshift
// (a compose stack starting); connection retries get through.
func TestServerStartsLate(t *testing.T) {
	srv, url := ownServer(t)
	cmd, out, errb := start(t, []string{"DATABASE_URL=" + url}, "migrate", "--dir", goldenDir("v1-folders"), "--connect-retries", "6", "--connect-backoff", "500ms")
	time.Sleep(1500 * time.Millisecond)
	if err := srv.Run(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errb)
	}
	if !strings.Contains(errb.String(), "connect attempt 1 failed") || !strings.Contains(out.String(), "done: 4 migrations applied") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errb)
	}
	// A server that never comes: a clear failure after the attempts.
	srv.Halt()
	r := upshift(t, []string{"DATABASE_URL=" + url}, "status", "--dir", goldenDir("v1-folders"), "--connect-retries", "2", "--connect-backoff", "10ms")
	if r.code != 1 || !strings.Contains(r.stderr, "(2 attempts)") || !strings.Contains(r.stderr, "hint: the server did not answer") {
		t.Errorf("%v", r)
	}
}

// TestServerStopsMidBatch: the server shuts down during the batch; upshift
// fails cleanly and nothing is half-applied.
func TestServerStopsMidBatch(t *testing.T) {
	srv, url := ownServer(t)
	if err := srv.Run(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	cmd, out, errb := start(t, []string{"DATABASE_URL=" + url}, "migrate", "--dir", slowFolder(t), "--connect-retries", "1")
	waitFor(t, "the slow statement", func() bool { return sleeping(t, conn) })
	conn.Close(ctx)
	srv.Halt()
	if code := exitCodeOf(cmd.Wait()); code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(errb.String(), `migration "0001_slow" failed at statement 2`) {
		t.Errorf("stderr:\n%s", errb)
	}
	if err := srv.Run(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	conn.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname IN ('fast', 'slow', '__drizzle_migrations')").Scan(&n)
	if n != 0 {
		t.Errorf("%d relations of the failed batch exist after the restart", n)
	}
}

// TestPasswordNeverShown: the password of the URL, PGPASSWORD or .pgpass
// appears in no output: connection errors, authentication failures,
// migration failures, lock timeouts, JSON and dry runs.
func TestPasswordNeverShown(t *testing.T) {
	srv := pgtest.Shared(t)
	db := srv.NewDB(t)
	secret := db.SecretURL()
	wrong := strings.Replace(secret, pgtest.Password, "Wr0ng-pa55-"+pgtest.Password, 1)
	refused := strings.Replace(secret, fmt.Sprintf(":%d/", srv.Port), ":1/", 1)
	bad := folder(t, [2]string{"0000_bad", "SELECT 1/0;"})
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".pgpass"), []byte(fmt.Sprintf("127.0.0.1:%d:*:%s:%s\n", srv.Port, pgtest.SecretUser, pgtest.Password)), 0o600)
	keyValue := fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=%s sslmode=disable", srv.Port, db.Name, pgtest.SecretUser)
	holder := db.Connect(t)
	holder.Exec(context.Background(), "SELECT pg_advisory_lock(42)")

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"refused", []string{"DATABASE_URL=" + refused}, []string{"status", "--dir", goldenDir("v0-journal"), "--connect-retries", "2", "--connect-backoff", "10ms"}, 1},
		{"refused json", []string{"DATABASE_URL=" + refused}, []string{"migrate", "--dir", goldenDir("v0-journal"), "--connect-retries", "1", "--format", "json"}, 1},
		{"wrong password", []string{"DATABASE_URL=" + wrong}, []string{"migrate", "--dir", goldenDir("v0-journal")}, 1},
		{"bad url", []string{"DATABASE_URL=postgres://u:" + pgtest.Password + "@127.0.0.1:99999999/x"}, []string{"status", "--dir", goldenDir("v0-journal")}, 2},
		{"dry run", []string{"DATABASE_URL=" + secret}, []string{"migrate", "--dir", goldenDir("v0-journal"), "--dry-run"}, 0},
		{"dry run json", []string{"DATABASE_URL=" + secret}, []string{"migrate", "--dir", goldenDir("v0-journal"), "--dry-run", "--format", "json"}, 0},
		{"status json", []string{"DATABASE_URL=" + secret}, []string{"status", "--dir", goldenDir("v0-journal"), "--format", "json"}, 0},
		{"migration fails", []string{"DATABASE_URL=" + secret}, []string{"migrate", "--dir", bad}, 1},
		{"migration fails json", []string{"DATABASE_URL=" + secret}, []string{"migrate", "--dir", bad, "--format", "json"}, 1},
		{"lock timeout", []string{"DATABASE_URL=" + secret}, []string{"migrate", "--dir", goldenDir("v1-folders"), "--lock-id", "42", "--timeout", "0.3"}, 3},
		{"PGPASSWORD wrong", []string{"PGPASSWORD=Wr0ng-pa55-" + pgtest.Password, "DATABASE_URL=" + keyValue}, []string{"status", "--dir", goldenDir("v0-journal")}, 1},
		{"PGPASSWORD migrate", []string{"PGPASSWORD=" + pgtest.Password, "DATABASE_URL=" + keyValue}, []string{"migrate", "--dir", bad}, 1},
		{"pgpass", []string{"HOME=" + home, "PGPASSFILE=" + filepath.Join(home, ".pgpass"), "DATABASE_URL=" + keyValue}, []string{"migrate", "--dir", bad}, 1},
		{"db create", []string{"DATABASE_URL=" + strings.Replace(secret, db.Name, db.Name+"_new", 1)}, []string{"db", "create"}, 0},
		{"wait wrong password", []string{"DATABASE_URL=" + wrong}, []string{"wait", "--timeout", "2s"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := upshift(t, tc.env, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d: %v", r.code, tc.code, r)
			}
			all := r.stdout + r.stderr
			if strings.Contains(all, pgtest.Password) {
				t.Errorf("the password leaked:\n%v", r)
			}
			// Where the target is printed, it is printed redacted.
			if strings.Contains(all, "@127.0.0.1") && !strings.Contains(all, "xxxxx@127.0.0.1") {
				t.Errorf("the URL is not shown redacted:\n%v", r)
			}
		})
	}
	db.Exec(t, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.Name + "_new"}.Sanitize())
}

// TestMissingDatabase: not retried, with a hint naming `upshift db create`,
// which then creates it.
func TestMissingDatabase(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	missing := strings.Replace(db.URL, db.Name, db.Name+"_missing", 1)
	r := upshift(t, []string{"DATABASE_URL=" + missing}, "migrate", "--dir", goldenDir("v1-folders"))
	if r.code != 1 || !strings.Contains(r.stderr, "upshift db create") || strings.Contains(r.stderr, "attempts") || strings.Contains(r.stderr, "retrying") {
		t.Fatalf("%v", r)
	}
	if r := upshift(t, []string{"DATABASE_URL=" + missing}, "db", "create"); r.code != 0 || !strings.Contains(r.stdout, "created database") {
		t.Fatalf("db create: %v", r)
	}
	defer db.Exec(t, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.Name + "_missing"}.Sanitize()+" WITH (FORCE)")
	if r := upshift(t, []string{"DATABASE_URL=" + missing}, "db", "create"); r.code != 0 || !strings.Contains(r.stdout, "already exists") {
		t.Fatalf("db create again: %v", r)
	}
	r = upshift(t, []string{"DATABASE_URL=" + missing}, "migrate", "--dir", goldenDir("v1-folders"))
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
}

// TestWait: returns as soon as the server accepts connections, and fails
// after its timeout when none comes.
func TestWait(t *testing.T) {
	srv, url := ownServer(t)
	r := upshift(t, []string{"DATABASE_URL=" + url}, "wait", "--timeout", "500ms")
	if r.code != 1 || !strings.Contains(r.stderr, "did not accept connections within 500ms") {
		t.Errorf("no server: %v", r)
	}
	cmd, out, errb := start(t, []string{"DATABASE_URL=" + url}, "wait", "--timeout", "30s")
	time.Sleep(700 * time.Millisecond)
	if err := srv.Run(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "accepts connections") {
		t.Errorf("%v\n%s\n%s", err, out, errb)
	}
}

// waitForDO waits until an upshift session runs a DO block.
func waitForDO(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	waitFor(t, "the slow statement", func() bool {
		var n int
		// This test's database only: an earlier test's backend may still be
		// sleeping in the same DO block elsewhere in the cluster. In
		// pg_sleep, not merely active: before the block is entered its
		// exception handler is not in place, and on a loaded machine a
		// cancel request can land there and fail the statement outright.
		_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'upshift %' AND state = 'active' AND query LIKE 'DO %' AND wait_event = 'PgSleep' AND datname = current_database()`).Scan(&n)
		return n > 0
	})
}

// stubborn is a statement that ignores cancel requests for 30 seconds.
// It catches every one, not only the first: PostgreSQL's postmaster
// answers a cancel request with SIGINT to the backend and again to its
// process group, and on a busy machine the second can arrive after the
// first was caught, cancelling a handler that merely sleeps.
const stubborn = "DO $$ BEGIN FOR i IN 1..300 LOOP BEGIN PERFORM pg_sleep(0.1); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$;"

// TestSecondSignalExitsAtOnce: when cancelling takes long (the server does
// not answer the cancel), a second signal ends upshift immediately.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	conn := db.Connect(t)
	dir := folder(t, [2]string{"0000_stubborn", stubborn})
	cmd, _, _ := start(t, dbEnv(db), "migrate", "--dir", dir)
	waitForDO(t, conn)
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(300 * time.Millisecond)
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if time.Since(sent) > 3*time.Second {
		t.Errorf("second signal took %s to end upshift", time.Since(sent))
	}
	if exitCodeOf(err) == 0 {
		t.Error("exit 0 after two signals")
	}
}

func TestLockidsCommand(t *testing.T) {
	r := upshift(t, nil, "lockids", "chat-backend", "--format", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"service": "mana-auth",`) || !strings.Contains(r.stdout, `"id": "987654321",`) ||
		!strings.Contains(r.stdout, `"id": "2873038152676037839",`) || !strings.Contains(r.stdout, `"source": "derived"`) {
		t.Errorf("%v", r)
	}
}

// TestSecretsByStructure: passwords that the old value-based scrubbing got
// wrong — quoted with spaces, holding an unencoded @, equal to the user name.
func TestSecretsByStructure(t *testing.T) {
	srv := pgtest.Shared(t)
	db := srv.NewDB(t)
	spaced := fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=%s password='correct horse battery staple' sslmode=disable", srv.Port, db.Name, pgtest.SecretUser)
	for _, tc := range []struct {
		name   string
		url    string
		code   int
		hidden []string
		shown  []string
	}{
		{"quoted key=value password", spaced, 1, []string{"horse", "battery", "staple"}, []string{"password=xxxxx"}},
		{"unencoded @ in the password", fmt.Sprintf("postgres://%s:Tr0ub4dor@3xyz@127.0.0.1:%d/%s", pgtest.SecretUser, srv.Port, db.Name), 2, []string{"Tr0ub4dor", "3xyz"}, []string{"%40"}},
		{"password equal to the user", fmt.Sprintf("postgres://postgres:postgres@127.0.0.1:1/%s?connect_timeout=2", db.Name), 1, []string{"user=xxxxx", ":postgres@"}, []string{"postgres://postgres:xxxxx@127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{
				{"status", "--dir", goldenDir("v0-journal"), "--connect-retries", "1"},
				{"migrate", "--dir", goldenDir("v0-journal"), "--connect-retries", "1", "--format", "json"},
			} {
				r := upshift(t, []string{"DATABASE_URL=" + tc.url}, args...)
				if r.code != tc.code {
					t.Errorf("%v: exit %d, want %d\n%s", args, r.code, tc.code, r)
				}
				all := r.stdout + r.stderr
				for _, h := range tc.hidden {
					if strings.Contains(all, h) {
						t.Errorf("%v: output shows %q:\n%s", args, h, r)
					}
				}
				for _, s := range tc.shown {
					if !strings.Contains(all, s) {
						t.Errorf("%v: output lacks %q:\n%s", args, s, r)
					}
				}
			}
		})
	}
}

// TestSecondSignalKeepsProgress: the lines printed before a second Ctrl-C
// reach the terminal (they were buffered and lost).
func TestSecondSignalKeepsProgress(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	conn := db.Connect(t)
	dir := folder(t,
		[2]string{"0000_quick", "CREATE TABLE quick (id int);"},
		[2]string{"0001_stubborn", stubborn},
	)
	cmd, out, errb := start(t, dbEnv(db), "migrate", "--dir", dir, "--tx", "each")
	waitForDO(t, conn)
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := exitCodeOf(err); code != 130 {
		t.Errorf("exit %d after a second signal, want 130\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out.String(), "applied   0000_quick") {
		t.Errorf("the progress printed before the second signal was lost:\n%s", out)
	}
}
