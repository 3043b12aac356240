package lint_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/internal/harness/realworld"
	"github.com/upshift-dev/upshift/lint"
	"github.com/upshift-dev/upshift/migrate"
)

// aboutData are the rules whose error-level findings claim that a
// statement locks or rewrites a table holding data.
var aboutData = map[string]bool{
	"create-index-non-concurrently": true, "set-not-null": true, "constraint-missing-not-valid": true,
	"volatile-default": true, "column-type-change": true, "add-unique-constraint": true,
	"generated-stored-column": true, "not-null-without-default": true, "vacuum-full": true, "cluster": true,
}

// TestRealworldLintIsRight: on the real folders, linted as `upshift lint`
// does (each migration judged as the deploy that applied it), every
// error-level finding is either about a table that really existed before
// its migration — checked on a real database that has applied the
// migrations before it — or is sim's one COMMIT that splits a
// transactional migration. None of the false positives the corpus showed
// (another enum's label, the COMMIT idiom, CONCURRENTLY IF NOT EXISTS as
// an error) is back.
func TestRealworldLintIsRight(t *testing.T) {
	srv := pgtest.Shared(t)
	for _, name := range realworld.Folders {
		t.Run(name, func(t *testing.T) {
			whole, err := drizzle.Load(realworld.Path(t, "drizzle", name))
			if err != nil {
				t.Fatal(err)
			}
			files := lint.Prepare(migrate.Files(whole, whole.Migrations))
			findings := lint.Lint(files, lint.Options{PerMigration: true})
			byFile := map[string][]lint.Finding{}
			commits := 0
			var validates []lint.Finding
			for _, f := range findings {
				switch {
				case f.Rule == "enum-value-same-transaction":
					t.Errorf("drizzle-orm applies this in one transaction without error: %s", f)
				case f.Rule == "concurrently-mixed":
					t.Errorf("%s", f)
				case f.Rule == "commit-before-concurrently":
					commits++
				case f.Rule == "transaction-control":
					t.Errorf("%s", f)
				case f.Rule == "commit-before-validate":
					validates = append(validates, f)
				case f.Severity == lint.Error && f.Rule != "transaction-control":
					if !aboutData[f.Rule] || !f.Existing || f.Table == "" {
						t.Errorf("an error-level finding not about a table with data: %s", f)
					}
					byFile[f.File] = append(byFile[f.File], f)
				}
			}
			if want := map[string]int{"sim": 23}[name]; commits != want {
				t.Errorf("%d COMMITs before CONCURRENTLY statements recognised, want %d", commits, want)
			}
			// sim 0276 commits on purpose so that VALIDATE CONSTRAINT runs
			// outside the transaction: a warning with its consequence.
			if name == "sim" && (len(validates) != 1 || !strings.HasSuffix(validates[0].File, "0276_drop_legacy_folder_tables.sql") || validates[0].Severity != lint.Warning) {
				t.Errorf("sim 0276's COMMIT before VALIDATE CONSTRAINT: %v, want one warning", validates)
			} else if name != "sim" && len(validates) != 0 {
				t.Errorf("%v", validates)
			}
			// The claim behind each: the table is there before the
			// migration runs.
			src, err := drizzle.Load(realworld.Applicable(t, name))
			if err != nil {
				t.Fatal(err)
			}
			db := srv.NewDB(t)
			conn := db.Connect(t)
			ctx := context.Background()
			checked := 0
			for _, m := range src.Migrations {
				// The tables before the migration, by identity: a table
				// the migration renames is still the one that held data.
				var before []uint32
				if err := conn.QueryRow(ctx, "SELECT coalesce(array_agg(oid::int8), '{}') FROM pg_class WHERE relkind IN ('r', 'p')").Scan(&before); err != nil {
					t.Fatal(err)
				}
				pending := byFile[whole.Path(m.File)]
				for i, st := range m.Statements {
					end := len(m.Text)
					if i+1 < len(m.Statements) {
						end = m.Statements[i+1].Offset
					}
					first, _ := drizzle.LineCol(m.Text, st.Offset)
					last, _ := drizzle.LineCol(m.Text, end)
					for _, f := range pending {
						if f.Line < first || f.Line > last || f.Line == last && i+1 < len(m.Statements) {
							continue
						}
						var oid *uint32
						schema, table, _ := strings.Cut(f.Table, ".")
						if err := conn.QueryRow(ctx, "SELECT to_regclass(format('%I.%I', $1::text, $2::text))::oid::int8", schema, table).Scan(&oid); err != nil {
							t.Fatal(err)
						}
						if oid == nil || !slices.Contains(before, *oid) {
							t.Errorf("%s: %s did not exist before %s", f, f.Table, m.Tag)
						}
						checked++
					}
					if st.Blank() {
						continue
					}
					if _, err := conn.PgConn().Exec(ctx, st.SQL).ReadAll(); err != nil {
						t.Fatalf("applying %s: %v", m.Tag, err)
					}
				}
			}
			t.Logf("%s: %d findings, %d error-level ones checked against the database", name, len(findings), checked)
		})
	}
}

// TestRealworldFreshDeployIsQuiet: migrating a fresh database shows no
// finding (every table is new) and says once what it checked.
func TestRealworldFreshDeployIsQuiet(t *testing.T) {
	srv := pgtest.Shared(t)
	for _, name := range realworld.Folders {
		t.Run(name, func(t *testing.T) {
			src, err := drizzle.Load(realworld.Applicable(t, name))
			if err != nil {
				t.Fatal(err)
			}
			db := srv.NewDB(t)
			var shown []string
			var sums []migrate.LintSummary
			_, err = migrate.Run(context.Background(), db.Connect(t), migrate.Config{
				Source: src, Table: drizzle.DefaultTable, Lock: 42, LockWait: 10e9,
				OnEvent: func(e migrate.Event) {
					switch e.Kind {
					case migrate.EventLint:
						shown = append(shown, e.Finding.String())
					case migrate.EventLintChecked:
						sums = append(sums, e.Lint)
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(shown) > 0 || len(sums) != 1 || sums[0].Checked != len(src.Migrations) || sums[0].Shown != 0 {
				t.Fatalf("shown %d: %s\nsummaries %+v", len(shown), strings.Join(shown, "\n"), sums)
			}
		})
	}
}

// The deploy-time line count for a database that already has the tables:
// the findings about them are shown, the advice about new ones is not.
func TestDeployShowsExistingTablesOnly(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	db.Exec(t, `CREATE TABLE jobs (id bigint PRIMARY KEY, name text); INSERT INTO jobs SELECT g, 'n' || g FROM generate_series(1, 100) g; ANALYZE jobs;`)
	dir := t.TempDir()
	src := &drizzle.Source{Dir: dir, Layout: drizzle.LayoutJournal}
	for i, sql := range []string{
		`CREATE TABLE "runs" ("id" bigint PRIMARY KEY, "job_id" bigint REFERENCES "jobs"("id") ON DELETE CASCADE);`,
		`CREATE INDEX "jobs_name_idx" ON "jobs" ("name");`,
	} {
		tag := fmt.Sprintf("000%d_x", i)
		src.Migrations = append(src.Migrations, &drizzle.Migration{Tag: tag, File: tag + ".sql", Text: sql, CreatedAt: int64(i + 1), Hash: fmt.Sprint(i), Statements: drizzle.Split(sql)})
	}
	var shown []lint.Finding
	var sum migrate.LintSummary
	_, err := migrate.Run(context.Background(), db.Connect(t), migrate.Config{Source: src, Table: drizzle.DefaultTable, Lock: 43, LockWait: 10e9, DryRun: true,
		OnEvent: func(e migrate.Event) {
			if e.Kind == migrate.EventLint {
				shown = append(shown, e.Finding)
			}
			if e.Kind == migrate.EventLintChecked {
				sum = e.Lint
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range shown {
		rules = append(rules, f.Rule)
	}
	if !slices.Equal(rules, []string{"create-index-non-concurrently"}) || sum.Shown != 1 || sum.Errors != 1 || sum.Checked != 2 {
		t.Fatalf("shown %v, summary %+v", rules, sum)
	}
}
