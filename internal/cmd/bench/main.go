// Command bench measures the figures the README reports, running the real
// upshift binary against a throwaway PostgreSQL cluster, side by side with
// drizzle-orm 0.45's migrate() (node, node-postgres) and `psql -1 -f` on the
// same server in the same run:
//
//   - status with 1,000 applied migrations (target: at most 50 ms wall)
//   - migrate with 500 applied and nothing pending, upshift vs drizzle-orm
//     (target: upshift at least 10x faster)
//   - applying 500 pending migrations of 3 statements, upshift vs psql -1 -f
//     (target: within 1.1x)
//
// Usage: go run ./internal/bench -upshift bin/upshift [-runs N]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/harness/drizzlejs"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/internal/harness/sqlgen"
)

var (
	upshiftBin  = flag.String("upshift", "bin/upshift", "upshift binary to measure")
	migratorBin = flag.String("migrator", "bin/upshift-migrate", "the migrator build (db-setup images) for the no-op row; the full binary is measured beside it")
	runs        = flag.Int("runs", 15, "timed runs per measurement (the median is reported)")
	only        = flag.String("only", "", "comma-separated measurements to run (status, noop, npm, apply, handover, lint, backfill); all when empty")
	pureGoBin   = flag.String("pure-go", "", "a CGO_ENABLED=0 build (WebAssembly parser), linted against -upshift on -lint-history")
	lintHistory = flag.String("lint-history", "", "a real drizzle-kit folder for the parser row (sim's, in ../shared/realworld)")
	npmDir      = flag.String("npm", "", "a release's npm folder (make release writes dist/npm): the npm package's no-op against drizzle-orm's script")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type server struct {
	*pgtest.Server
	admin *pgx.Conn
}

func (s *server) newDB(name string) (string, error) {
	ctx := context.Background()
	id := pgx.Identifier{name}.Sanitize()
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+id+" TEMPLATE template0"); err != nil {
		return "", err
	}
	u, _ := url.Parse(s.URL)
	u.Path = "/" + name
	return u.String(), nil
}

func run() error {
	bin, err := filepath.Abs(*upshiftBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: build it first (make build)", bin)
	}
	var srv *pgtest.Server
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		srv, err = pgtest.External(u)
	} else {
		srv, err = pgtest.Start()
	}
	if err != nil {
		return err
	}
	defer srv.Stop()
	admin, err := pgx.Connect(context.Background(), srv.URL)
	if err != nil {
		return err
	}
	s := &server{srv, admin}
	work, err := os.MkdirTemp("", "upshift-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Printf("machine: %d CPUs, %s; PostgreSQL cluster on loopback (fsync off); median of %d runs\n\n", numCPU(), goVersion(), *runs)
	fmt.Println("| measurement | upshift | reference | ratio | target |")
	fmt.Println("|---|---|---|---|---|")

	want := func(name string) bool {
		return *only == "" || slices.Contains(strings.Split(*only, ","), name)
	}

	// 1. status over 1,000 applied migrations.
	if want("status") {
		if err := statusBench(s, bin, work); err != nil {
			return err
		}
	}

	// 2. migrate with 500 applied, nothing pending: upshift vs drizzle-orm.
	dir500 := filepath.Join(work, "m500")
	if err := generate(dir500, 500, 3); err != nil {
		return err
	}
	if want("noop") {
		mbin, err := filepath.Abs(*migratorBin)
		if err != nil {
			return err
		}
		if _, err := os.Stat(mbin); err != nil {
			return fmt.Errorf("%s: build it first (make build-migrator)", mbin)
		}
		if err := noopBench(s, mbin, bin, dir500); err != nil {
			return err
		}
	}
	if want("parser") && *pureGoBin != "" && *lintHistory != "" {
		if err := parserBench(bin, *pureGoBin, *lintHistory); err != nil {
			return err
		}
	}
	if want("npm") && *npmDir != "" {
		if err := npmBench(s, *npmDir, work, dir500); err != nil {
			return err
		}
	}

	// 5 (printed last). Lint 10,000 statements with the binary.
	if want("lint") {
		lt, err := lintBench(bin, work)
		if err != nil {
			return err
		}
		defer fmt.Printf("| `lint`, 10,000 statements (one file) | %s | — | — | < 1000 ms |\n", ms(lt))
	}

	// 6 (printed last). A data migration of 25 and 50 MB: lint time grows
	// with the file, peak memory with its largest statement.
	if want("backfill") {
		rows, err := backfillBench(bin, work)
		if err != nil {
			return err
		}
		defer func() {
			for _, r := range rows {
				fmt.Print(r)
			}
		}()
	}

	// 4 (printed after 3). Lock hand-over: how long after the holder releases
	// does a waiting upshift hold the lock?
	if want("handover") {
		handover, err := lockHandover(s, bin, *runs)
		if err != nil {
			return err
		}
		defer fmt.Printf("| lock hand-over: release → waiting `migrate` holds the lock | %s | polling every 5 s (the documented script): up to 5000 ms | — | ≤ 100 ms |\n", ms(handover))
	}

	// 3. apply 500 pending migrations of 3 statements: upshift vs psql -1 -f.
	if want("apply") {
		return applyBench(s, srv, bin, work, dir500)
	}
	return nil
}

func statusBench(s *server, bin, work string) error {
	dir1000 := filepath.Join(work, "m1000")
	if err := generate(dir1000, 1000, 1); err != nil {
		return err
	}
	url1000, err := s.newDB("bench_status")
	if err != nil {
		return err
	}
	if err := exec1(bin, url1000, "migrate", "--dir", dir1000); err != nil {
		return err
	}
	if err := settle(url1000); err != nil {
		return err
	}
	// The floor: hashing the same files with sha256sum, which is what
	// status must do at least. Interleaved, so that drift hits both.
	files, err := filepath.Glob(filepath.Join(dir1000, "*.sql"))
	if err != nil {
		return err
	}
	var sts, shas []time.Duration
	for i := -2; i < *runs; i++ {
		d, err := timeRuns(1, nil, func() error { return exec1(bin, url1000, "status", "--dir", dir1000, "--exit-code") })
		if err != nil {
			return err
		}
		sts = append(sts, d)
		d, err = timeRuns(1, nil, func() error {
			out, err := exec.Command("sha256sum", files...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("sha256sum: %v\n%s", err, firstLine(string(out)))
			}
			return nil
		})
		if err != nil {
			return err
		}
		shas = append(shas, d)
	}
	st, sha := median(sts[2:]), median(shas[2:])
	fmt.Printf("| `status`, 1,000 applied migrations | %s | `sha256sum` of the same 1,000 files: %s | %.2fx | ≤ 3x |\n", ms(st), ms(sha), float64(st)/float64(sha))
	return nil
}

func noopBench(s *server, bin, full, dir500 string) error {
	url500, err := s.newDB("bench_noop")
	if err != nil {
		return err
	}
	if err := exec1(bin, url500, "migrate", "--dir", dir500); err != nil {
		return err
	}
	if err := settle(url500); err != nil {
		return err
	}
	noopUp := func() error { return exec1(bin, url500, "migrate", "--dir", dir500) }
	noopFull := func() error { return exec1(full, url500, "migrate", "--dir", dir500) }
	script, jsErr := drizzlejs.Install("0.45.4")
	if jsErr == nil {
		// Interleaved, as for apply below: drift on the machine hits both;
		// the first two of each warm up and are not counted.
		var ups, fulls, dzs []time.Duration
		for i := -2; i < *runs; i++ {
			d, err := timeRuns(1, nil, noopUp)
			if err != nil {
				return err
			}
			ups = append(ups, d)
			d, err = timeRuns(1, nil, noopFull)
			if err != nil {
				return err
			}
			fulls = append(fulls, d)
			d, err = timeRuns(1, nil, func() error {
				out, err := drizzlejs.Command(script, url500, dir500).CombinedOutput()
				if err != nil {
					return fmt.Errorf("drizzle-orm: %v\n%s", err, out)
				}
				return nil
			})
			if err != nil {
				return err
			}
			dzs = append(dzs, d)
		}
		up, fu, dz := median(ups[2:]), median(fulls[2:]), median(dzs[2:])
		fmt.Printf("| `migrate`, 500 applied, nothing pending (migrator build, as in db-setup images) | %s | drizzle-orm 0.45.4 `migrate()`: %s | %.1fx faster | ≥ 5x faster |\n", ms(up), ms(dz), float64(dz)/float64(up))
		fmt.Printf("| the same with the full binary (compose-go and the moby client linked) | %s | drizzle-orm 0.45.4 `migrate()`: %s | %.1fx faster | — |\n", ms(fu), ms(dz), float64(dz)/float64(fu))
	} else {
		up, err := timeRuns(*runs, nil, noopUp)
		if err != nil {
			return err
		}
		fmt.Printf("| `migrate`, 500 applied, nothing pending (migrator build) | %s | drizzle-orm not available (%v) | — | ≥ 5x faster |\n", ms(up), firstLine(jsErr.Error()))
	}
	return nil
}

func lintBench(bin, work string) (time.Duration, error) {
	big := filepath.Join(work, "lint10k.sql")
	if err := lintFile(big, 10000); err != nil {
		return 0, err
	}
	return timeRuns(*runs, nil, func() error {
		out, err := exec.Command(bin, "lint", big, "--level", "error").CombinedOutput()
		if err != nil {
			return fmt.Errorf("upshift lint: %v\n%s", err, out)
		}
		return nil
	})
}

func backfillBench(bin, work string) ([]string, error) {
	var rows []string
	for _, mb := range []int{25, 50} {
		path := filepath.Join(work, fmt.Sprintf("backfill%d.sql", mb))
		if err := sqlgen.Backfill(path, mb<<20); err != nil {
			return nil, err
		}
		var rss int64
		d, err := timeRuns(*runs, nil, func() error {
			cmd := exec.Command(bin, "lint", path, "--level", "error")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("upshift lint: %v\n%s", err, out)
			}
			rss = max(rss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss<<10)
			return nil
		})
		if err != nil {
			return nil, err
		}
		rows = append(rows, fmt.Sprintf("| `lint`, a %d MB data migration (INSERTs of 500 rows) | %s, peak %d MB | — | — | linear time, < 256 MB |\n", mb, ms(d), rss>>20))
	}
	return rows, nil
}

func applyBench(s *server, srv *pgtest.Server, bin, work, dir500 string) error {
	all := filepath.Join(work, "all.sql")
	if err := concat(dir500, 500, all); err != nil {
		return err
	}
	psql := "psql"
	if srv.Bin != "" {
		psql = filepath.Join(srv.Bin, "psql")
	}
	var target string
	fresh := func() error { var err error; target, err = s.newDB("bench_apply"); return err }
	var upApply, unwatched, psqlApply []time.Duration
	// Interleave them so that drift on the machine hits all alike.
	for i := 0; i < *runs; i++ {
		d, err := timeRuns(1, fresh, func() error { return exec1(bin, target, "migrate", "--dir", dir500) })
		if err != nil {
			return err
		}
		upApply = append(upApply, d)
		// The watcher's cost: the same without it.
		d, err = timeRuns(1, fresh, func() error { return exec1(bin, target, "migrate", "--dir", dir500, "--no-watch") })
		if err != nil {
			return err
		}
		unwatched = append(unwatched, d)
		d, err = timeRuns(1, fresh, func() error {
			cmd := exec.Command(psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", all, target)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("psql: %v\n%s", err, out)
			}
			return nil
		})
		if err != nil {
			return err
		}
		psqlApply = append(psqlApply, d)
	}
	u, p, nw := median(upApply), median(psqlApply), median(unwatched)
	fmt.Printf("| `migrate`, 500 pending × 3 statements | %s | `psql -1 -f` (same SQL): %s | %.2fx | ≤ 1.0x |\n", ms(u), ms(p), float64(u)/float64(p))
	fmt.Printf("| the same, watched (long statements reported) | %s | `--no-watch`: %s | %+.1f%% | within 2%% |\n", ms(u), ms(nw), 100*(float64(u)/float64(nw)-1))
	return nil
}

// lockHandover holds a service lock in one session, starts upshift migrate
// (which waits), releases, and measures until the lock shows as granted to
// upshift's session.
func lockHandover(s *server, bin string, n int) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "upshift-bench-lock-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := generate(dir, 1, 1); err != nil {
		return 0, err
	}
	ctx := context.Background()
	var ds []time.Duration
	for i := 0; i < n; i++ {
		dbURL, err := s.newDB("bench_lock")
		if err != nil {
			return 0, err
		}
		holder, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return 0, err
		}
		watcher, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return 0, err
		}
		if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock(987654321)"); err != nil {
			return 0, err
		}
		cmd := exec.Command(bin, "migrate", "--dir", dir, "--service", "mana-auth")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		// A waiter polls pg_try_advisory_lock from an idle session (it never
		// shows as an ungranted lock): wait until its session exists, then
		// long enough for it to have failed a first try.
		waiting := func() (bool, error) {
			var n int
			err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE application_name LIKE 'upshift %' AND datname = current_database()`).Scan(&n)
			return n > 0, err
		}
		for {
			ok, err := waiting()
			if err != nil {
				return 0, err
			}
			if ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		released := time.Now()
		if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock(987654321)"); err != nil {
			return 0, err
		}
		for {
			var n int
			if err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.objid = 987654321 AND l.granted AND a.application_name LIKE 'upshift %'`).Scan(&n); err != nil {
				return 0, err
			}
			if n > 0 || time.Since(released) > 10*time.Second {
				break
			}
		}
		ds = append(ds, time.Since(released))
		if err := cmd.Wait(); err != nil {
			return 0, fmt.Errorf("waiting migrate: %v", err)
		}
		holder.Close(ctx)
		watcher.Close(ctx)
	}
	return median(ds), nil
}

// generate writes a journal folder of n migrations with k statements each.
func generate(dir string, n, k int) error {
	if err := os.MkdirAll(filepath.Join(dir, "meta"), 0o755); err != nil {
		return err
	}
	type entry struct {
		Idx         int    `json:"idx"`
		Version     string `json:"version"`
		When        int64  `json:"when"`
		Tag         string `json:"tag"`
		Breakpoints bool   `json:"breakpoints"`
	}
	var entries []entry
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("%04d_table_%d", i, i)
		entries = append(entries, entry{i, "7", base + int64(i)*1000, tag, true})
		stmts := []string{
			fmt.Sprintf("CREATE TABLE \"t%d\" (\n\t\"id\" serial PRIMARY KEY NOT NULL,\n\t\"name\" text NOT NULL,\n\t\"created_at\" timestamp DEFAULT now() NOT NULL\n);", i),
			fmt.Sprintf("CREATE INDEX \"t%d_name_idx\" ON \"t%d\" USING btree (\"name\");", i, i),
			fmt.Sprintf("INSERT INTO \"t%d\" (\"name\") VALUES ('row %d');", i, i),
		}
		if err := os.WriteFile(filepath.Join(dir, tag+".sql"), []byte(strings.Join(stmts[:k], "\n--> statement-breakpoint\n")), 0o644); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"version": "7", "dialect": "postgresql", "entries": entries}, "", "  ")
	return os.WriteFile(filepath.Join(dir, "meta", "_journal.json"), b, 0o644)
}

// lintFile writes n statements of the shapes drizzle-kit writes.
func lintFile(path string, n int) error {
	var b strings.Builder
	for i := 0; i < n/4; i++ {
		fmt.Fprintf(&b, "CREATE TABLE \"t%d\" (\n\t\"id\" serial PRIMARY KEY NOT NULL,\n\t\"user_id\" uuid NOT NULL,\n\t\"name\" text\n);\n--> statement-breakpoint\n", i)
		fmt.Fprintf(&b, "ALTER TABLE \"t%d\" ADD CONSTRAINT \"t%d_user_fk\" FOREIGN KEY (\"user_id\") REFERENCES \"public\".\"users\"(\"id\") ON DELETE cascade;\n--> statement-breakpoint\n", i, i)
		fmt.Fprintf(&b, "CREATE INDEX \"t%d_user_idx\" ON \"t%d\" USING btree (\"user_id\");\n--> statement-breakpoint\n", i, i)
		fmt.Fprintf(&b, "ALTER TABLE \"t%d\" ADD COLUMN \"c%d\" text DEFAULT 'x' NOT NULL;\n--> statement-breakpoint\n", i, i)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// concat writes the statements of the folder as one plain SQL file.
func concat(dir string, n int, out string) error {
	var b strings.Builder
	for i := 0; i < n; i++ {
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%04d_table_%d.sql", i, i)))
		if err != nil {
			return err
		}
		b.WriteString(strings.ReplaceAll(string(data), "--> statement-breakpoint", ""))
		b.WriteString("\n")
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

func exec1(bin, dbURL string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("upshift %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// settle runs VACUUM ANALYZE so that autovacuum is not busy analysing the
// tables just created while the next measurement runs on the same cores.
func settle(dbURL string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "VACUUM ANALYZE")
	return err
}

// timeRuns times fn n times (after setup, untimed) and returns the median.
// Without setup, two untimed runs warm the page cache first.
func timeRuns(n int, setup func() error, fn func() error) (time.Duration, error) {
	if setup == nil && n > 1 {
		for i := 0; i < 2; i++ {
			if err := fn(); err != nil {
				return 0, err
			}
		}
	}
	var ds []time.Duration
	for i := 0; i < n; i++ {
		if setup != nil {
			if err := setup(); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	return median(ds), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func numCPU() int { return runtime.NumCPU() }

func goVersion() string { return runtime.Version() }
