package main

// A migration that explains itself while it runs: the session it waits
// for, and PostgreSQL's progress of an index build, read by upshift from a
// second connection (package pgwatch), through a pipe, as JSON events and
// on a terminal.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

type timedLine struct {
	at   time.Duration // since the process started
	text string
}

// startUpshift runs the binary with its stdout and stderr on one pipe and
// hands over each line as it arrives.
func startUpshift(t *testing.T, env []string, args ...string) (lines <-chan timedLine, wait func() int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan timedLine, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			ch <- timedLine{time.Since(start), sc.Text()}
		}
	}()
	done := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		done <- exitCodeOf(err)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return ch, func() int {
		select {
		case c := <-done:
			return c
		case <-time.After(2 * time.Minute):
			t.Fatal("upshift did not finish in 2 minutes")
			return -1
		}
	}
}

// blocker opens a session named "blocker" that reads orders in a
// transaction it leaves open (ACCESS SHARE, idle in transaction).
func blocker(t *testing.T, db *pgtest.DB) (*pgx.Conn, uint32) {
	t.Helper()
	cfg, err := pgx.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = "blocker"
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM orders"); err != nil {
		t.Fatal(err)
	}
	return conn, conn.PgConn().PID()
}

func TestLockWaitNamesTheBlocker(t *testing.T) {
	srv := pgtest.Shared(t)
	migrations := folder(t, [2]string{"0000_orders_note", "ALTER TABLE orders ADD COLUMN note text;"})

	t.Run("the blocker commits, the migration finishes", func(t *testing.T) {
		db := srv.NewDB(t)
		db.Connect(t).Exec(context.Background(), "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)")
		conn, pid := blocker(t, db)
		lines, wait := startUpshift(t, dbEnv(db), "migrate", "--dir", migrations)
		var seen []string
		named := false
		for l := range lines {
			seen = append(seen, l.text)
			if !named && strings.Contains(l.text, fmt.Sprintf("pid %d (blocker", pid)) && strings.Contains(l.text, "idle in transaction") &&
				strings.Contains(l.text, "0000_orders_note statement 1") && strings.Contains(l.text, "on orders") {
				named = true
				if l.at > 5*time.Second {
					t.Errorf("the blocker was named %s after the start, want within 5s", l.at.Round(time.Millisecond))
				}
				if !strings.Contains(l.text, fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid)) {
					t.Errorf("the line does not say how to end the blocker: %s", l.text)
				}
				// Seen from elsewhere: upshift locks says what the
				// migration holding the advisory lock waits for.
				if r := upshift(t, dbEnv(db), "locks"); r.code != 0 || !strings.Contains(r.stdout, "ALTER TABLE orders ADD COLUMN note text") ||
					!strings.Contains(r.stdout, fmt.Sprintf("held by pid %d (blocker", pid)) || !strings.Contains(r.stdout, "idle in transaction") {
					t.Errorf("upshift locks during the wait (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
				}
				if _, err := conn.Exec(context.Background(), "COMMIT"); err != nil {
					t.Fatal(err)
				}
			}
		}
		if code := wait(); code != 0 || !named {
			t.Fatalf("exit %d, blocker named: %v; output:\n%s", code, named, strings.Join(seen, "\n"))
		}
		if n := count(t, db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'"); n != 1 {
			t.Fatal("the column was not added after the blocker committed")
		}
	})

	t.Run("lock_timeout ends the wait and the report names the holder", func(t *testing.T) {
		db := srv.NewDB(t)
		db.Connect(t).Exec(context.Background(), "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)")
		_, pid := blocker(t, db)
		r := upshift(t, dbEnv(db), "migrate", "--dir", migrations, "--lock-timeout", "4s")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1:\n%s%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"ERROR 55P03", "rolled back, not applied: 0000_orders_note", "the database is as it was before this run",
			"the lock it waited for (AccessExclusiveLock on orders) was held", fmt.Sprintf("pid %d (blocker", pid), "idle in transaction",
			fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid)} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("the failure report lacks %q:\n%s", want, r.stderr)
			}
		}
		if n := count(t, db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'"); n != 0 {
			t.Fatal("a column was added although the migration failed")
		}
	})
}

// bigTable makes a table an index build takes several seconds over.
func bigTable(t *testing.T, db *pgtest.DB) {
	t.Helper()
	conn := db.Connect(t)
	// One process builds each index (no parallel workers), over 3 million
	// rows: several seconds past the 2 s mark on any machine of this kind.
	for _, sql := range []string{"CREATE TABLE events (id bigint, name text) WITH (parallel_workers = 0)",
		"INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 3000000) g", "VACUUM ANALYZE events"} {
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
}

var phaseNames = []string{"building index: scanning table", "building index: sorting live tuples", "building index: loading tuples in tree",
	"index validation: scanning index", "index validation: sorting tuples", "index validation: scanning table", "waiting for"}

func hasPhase(s string) bool {
	for _, p := range phaseNames {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func TestIndexBuildProgress(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	bigTable(t, db)
	cic := func(name string) string {
		return folder(t, [2]string{"0000_" + name, fmt.Sprintf(`CREATE INDEX CONCURRENTLY "%s" ON "events" USING btree ("name");`, name)})
	}

	t.Run("through a pipe", func(t *testing.T) {
		r := migrateOK(t, db, cic("events_name_a"), "m_pipe")
		var progress []string
		applied := false
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(line, "applied ") {
				applied = true
			}
			if strings.Contains(line, "CREATE INDEX CONCURRENTLY, ") && hasPhase(line) && strings.Contains(line, "%") {
				if applied {
					t.Errorf("a progress line after the applied line: %s", line)
				}
				progress = append(progress, line)
			}
		}
		if len(progress) < 2 {
			t.Fatalf("%d progress lines with a phase and a percentage, want at least 2:\n%s", len(progress), r.stdout)
		}
		for _, c := range r.stdout + r.stderr {
			if c < 0x20 && c != '\n' && c != '\t' {
				t.Fatalf("control character %q in output through a pipe:\n%q", c, r.stdout)
			}
		}
	})

	t.Run("as JSON events", func(t *testing.T) {
		r := upshift(t, dbEnv(db), "migrate", "--dir", cic("events_name_b"), "--migrations-table", "m_json", "--format", "json")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
		}
		events := 0
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			var e struct {
				Event     string   `json:"event"`
				Phase     string   `json:"phase"`
				Percent   *float64 `json:"percent"`
				PID       int      `json:"pid"`
				Migration string   `json:"migration"`
				Command   string   `json:"command"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("a stderr line is not a JSON event: %v: %s", err, line)
			}
			if e.Event == "progress" && e.Phase != "" && hasPhase(e.Phase) && e.Percent != nil && e.PID > 0 &&
				e.Migration == "0000_events_name_b" && e.Command == "CREATE INDEX CONCURRENTLY" {
				events++
			}
		}
		if events < 2 {
			t.Fatalf("%d progress events with phase, percent and pid, want at least 2:\n%s", events, r.stderr)
		}
	})

	t.Run("on a terminal", func(t *testing.T) {
		// script(1) gives the binary a pseudo-terminal as stdout.
		if _, err := exec.LookPath("script"); err != nil {
			t.Skip("no script(1) (util-linux)")
		}
		command := fmt.Sprintf("%s migrate --dir %s --migrations-table m_tty", binary, cic("events_name_c"))
		cmd := exec.Command("script", "-qefc", command, "/dev/null")
		cmd.Env = append(os.Environ(), dbEnv(db)...)
		cmd.Env = append(cmd.Env, "TERM=xterm", "COLUMNS=120")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%q", err, out)
		}
		s := string(out)
		// Redraws of one line: the phase and which statement, with a bar
		// and the percentage where the phase counts something.
		draws, bars := 0, 0
		for _, d := range strings.Split(s, "\r\x1b[K")[1:] {
			if hasPhase(d) && strings.Contains(d, "0000_events_name_c #1") {
				draws++
				if strings.HasPrefix(d, "[") && strings.Contains(d, "%") {
					bars++
				}
			}
		}
		if draws < 2 || bars < 1 {
			t.Fatalf("%d redraws of a live line (%d with a bar and a percentage), want at least 2 (1):\n%q", draws, bars, s)
		}
		// The live line is cleared before the applied line, and never
		// printed as lines of its own.
		if !strings.Contains(s, "\r\x1b[Kapplied ") && !strings.Contains(s, "\r\x1b[K\r\napplied ") && !regexpCleared(s) {
			t.Errorf("the live line was not cleared before the applied line:\n%q", s)
		}
		if strings.Contains(s, "\nupshift: 0000_events_name_c") {
			t.Errorf("progress printed as plain lines on a terminal:\n%q", s)
		}
	})

	t.Run("ANALYZE", func(t *testing.T) {
		// A high statistics target samples 1.5 million rows: seconds.
		dir := folder(t, [2]string{"0000_events_stats", "ALTER TABLE events ALTER COLUMN name SET STATISTICS 5000;\n--> statement-breakpoint\nANALYZE events;"})
		r := migrateOK(t, db, dir, "m_analyze")
		if !strings.Contains(r.stdout, "0000_events_stats statement 2 (") || !strings.Contains(r.stdout, ": ANALYZE, ") ||
			!(strings.Contains(r.stdout, "acquiring sample rows") || strings.Contains(r.stdout, "computing statistics")) {
			t.Fatalf("no progress of ANALYZE:\n%s", r.stdout)
		}
	})

	t.Run("a rewrite: VACUUM FULL", func(t *testing.T) {
		dir := folder(t, [2]string{"0000_events_vacuum_full", "VACUUM FULL events;"})
		r := migrateOK(t, db, dir, "m_vacuum")
		// pg_stat_progress_cluster: the command and its phases by
		// PostgreSQL's names, the heap scan with a percentage.
		if !strings.Contains(r.stdout, "0000_events_vacuum_full statement 1 (") || !strings.Contains(r.stdout, ": VACUUM FULL, ") ||
			!(strings.Contains(r.stdout, "seq scanning heap") || strings.Contains(r.stdout, "rebuilding index") || strings.Contains(r.stdout, "writing new heap")) {
			t.Fatalf("no progress of the rewrite:\n%s", r.stdout)
		}
	})
}

// migrateOK migrates dir into db, recording in its own migrations table,
// and requires exit 0.
func migrateOK(t *testing.T, db *pgtest.DB, dir, table string) result {
	t.Helper()
	r := upshift(t, dbEnv(db), "migrate", "--dir", dir, "--migrations-table", table)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// regexpCleared: the clear sequence comes right before the applied line,
// whatever line ending the terminal added.
func regexpCleared(s string) bool {
	i := strings.Index(s, "applied ")
	if i < 0 {
		return false
	}
	j := strings.LastIndex(s[:i], "\x1b[K")
	return j >= 0 && strings.Trim(s[j+3:i], "\r\n") == ""
}

// TestWatcherRefusedSaysSoOnce: at the role's connection limit the watcher
// cannot connect; it says so once and the migration carries on.
func TestWatcherRefusedSaysSoOnce(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	admin := db.Connect(t)
	ctx := context.Background()
	role := "limited_" + strings.TrimPrefix(db.Name, "t_")
	for _, sql := range []string{"CREATE ROLE " + role + " LOGIN CONNECTION LIMIT 1", "ALTER DATABASE " + db.Name + " OWNER TO " + role} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(ctx, db.URL); err == nil {
			_, _ = c.Exec(ctx, "DROP OWNED BY "+role)
			c.Close(ctx)
		}
		srv := pgtest.Shared(t)
		if c, err := pgx.Connect(ctx, srv.URL); err == nil {
			_, _ = c.Exec(ctx, "ALTER DATABASE "+db.Name+" OWNER TO postgres")
			_, _ = c.Exec(ctx, "DROP ROLE IF EXISTS "+role)
			c.Close(ctx)
		}
	})
	u := strings.Replace(db.URL, "://postgres@", "://"+role+"@", 1)
	if u == db.URL {
		t.Skipf("cannot name another role in %s", db.URL)
	}
	dir := folder(t, [2]string{"0000_slow", "SELECT pg_sleep(3.5);"})
	r := upshift(t, []string{"DATABASE_URL=" + u}, "migrate", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("exit %d, want the migration to carry on:\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout + r.stderr
	if n := strings.Count(out, "cannot watch the migration"); n != 1 || !strings.Contains(out, "too many connections") || !strings.Contains(out, "carries on") {
		t.Fatalf("said %d times (want once, with PostgreSQL's reason):\n%s", n, out)
	}
	if !strings.Contains(out, "applied   0000_slow") {
		t.Fatalf("the migration was not applied:\n%s", out)
	}
}
