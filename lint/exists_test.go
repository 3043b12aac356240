package lint_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/lint"
)

func find(fs []lint.Finding, rule string) *lint.Finding {
	for i := range fs {
		if fs[i].Rule == rule {
			return &fs[i]
		}
	}
	return nil
}

func files(texts ...string) []lint.File {
	var out []lint.File
	for i, t := range texts {
		out = append(out, lint.File{Path: string(rune('a'+i)) + ".sql", Text: t})
	}
	return out
}

// A value added by ALTER TYPE ... ADD VALUE is flagged where it is used as
// a value of that type, and only there.
func TestEnumValueAndType(t *testing.T) {
	const add = "ALTER TYPE \"public\".\"mood\" ADD VALUE 'meh';\n--> statement-breakpoint\n"
	moodColumn := lint.Options{Tables: map[string]*lint.TableInfo{"public.events": {Rows: 10, EnumColumns: map[string]string{"mood": "public.mood"}}}}
	textColumn := lint.Options{Tables: map[string]*lint.TableInfo{"public.events": {Rows: 10}}}
	for _, tc := range []struct {
		name string
		sql  []string
		opts lint.Options
		want bool
	}{
		{"cast to the type", []string{add + "UPDATE events SET note = 'meh'::mood;"}, lint.Options{}, true},
		{"a column of the type, from the database", []string{add + "UPDATE events SET mood = 'meh' WHERE mood IS NULL;"}, moodColumn, true},
		{"a column of the type, created in the set", []string{"CREATE TABLE t (m mood);\n--> statement-breakpoint\n" + add + "INSERT INTO t (m) VALUES ('meh');"}, lint.Options{}, true},
		{"a column added with the type and the value as default", []string{add + "ALTER TABLE events ADD COLUMN m \"mood\" DEFAULT 'meh';"}, lint.Options{}, true},
		{"used in the next migration of the same transaction", []string{add, "UPDATE events SET mood = 'meh'::mood;"}, lint.Options{}, true},
		// dokploy's 0088: 'compose' was added to serviceType earlier.
		{"another enum's label", []string{add + "CREATE TYPE \"public\".\"scheduleType\" AS ENUM('application', 'meh', 'server');"}, lint.Options{}, false},
		{"a text column", []string{add + "UPDATE events SET note = 'meh';"}, textColumn, false},
		{"a column of another type", []string{add + "UPDATE events SET mood = 'meh';"}, textColumn, false},
		{"after a COMMIT", []string{add + "COMMIT;\n--> statement-breakpoint\nUPDATE events SET mood = 'meh'::mood;"}, lint.Options{}, false},
		{"a later migration, each its own deploy", []string{add, "UPDATE events SET mood = 'meh'::mood;"}, lint.Options{PerMigration: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := lint.Lint(files(tc.sql...), tc.opts)
			f := find(fs, "enum-value-same-transaction")
			if (f != nil) != tc.want {
				t.Fatalf("finding %v, want %v: %v", f, tc.want, rulesOf(fs))
			}
			if f != nil && !strings.Contains(f.Fix, "--tx each") || f != nil && strings.Contains(f.Fix, "each (the default)") {
				t.Errorf("the fix gets the default wrong: %s", f.Fix)
			}
		})
	}
}

// sim and latitude's way out of drizzle-orm's transaction is recognised;
// a COMMIT that splits a transactional migration is not.
func TestCommitBeforeConcurrently(t *testing.T) {
	idiom := `ALTER TABLE "events" ADD COLUMN IF NOT EXISTS "cost_total" numeric;--> statement-breakpoint
COMMIT;--> statement-breakpoint
SET lock_timeout = 0;--> statement-breakpoint
CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_cost_idx" ON "events" USING btree ("cost_total");--> statement-breakpoint
SET lock_timeout = '5s';`
	fs := lint.Lint(files(idiom), lint.Options{})
	got := rulesOf(fs)
	for _, wrong := range []string{"transaction-control", "concurrently-mixed"} {
		if slices.Contains(got, wrong) {
			t.Errorf("the idiom is reported as %s: %v", wrong, got)
		}
	}
	f := find(fs, "commit-before-concurrently")
	if f == nil || f.Severity != lint.Info || f.Line != 2 {
		t.Fatalf("commit-before-concurrently: %+v (all: %v)", f, got)
	}
	if !strings.Contains(f.Message, "unnecessary") || !strings.Contains(f.Message, "harmless") || strings.Contains(f.Message, "cannot run it at all") {
		t.Errorf("message: %s", f.Message)
	}
	split := "UPDATE events SET n = 1;\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nUPDATE events SET n = 2;"
	if f := find(lint.Lint(files(split), lint.Options{}), "transaction-control"); f == nil || f.Severity != lint.Error {
		t.Errorf("a COMMIT that splits a transactional migration: %+v", f)
	}
	// The same way out of the transaction for a VALIDATE CONSTRAINT scan
	// (sim 0276): a warning that says what it costs, not an error.
	validate := "UPDATE events SET n = 1;\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nALTER TABLE events VALIDATE CONSTRAINT c;"
	fs = lint.Lint(files(validate), lint.Options{})
	if f := find(fs, "commit-before-validate"); f == nil || f.Severity != lint.Warning || find(fs, "transaction-control") != nil {
		t.Errorf("COMMIT before VALIDATE CONSTRAINT: %+v (all: %v)", f, rulesOf(fs))
	}
}

// Findings about locks and rewrites apply to tables that exist before the
// statements run: in the database, or created by an earlier migration
// when each migration is judged as its own deploy.
func TestJudgesWhatExists(t *testing.T) {
	create := `CREATE TABLE "jobs" ("id" bigint PRIMARY KEY, "account_id" bigint, "name" varchar(50));`
	index := `CREATE INDEX "jobs_name_idx" ON "jobs" ("name");`
	t.Run("one pending set: a table it creates is new", func(t *testing.T) {
		if fs := lint.Lint(files(create, index), lint.Options{}); find(fs, "create-index-non-concurrently") != nil {
			t.Errorf("%v", rulesOf(fs))
		}
	})
	t.Run("each migration its own deploy: an earlier one's table exists", func(t *testing.T) {
		f := find(lint.Lint(files(create, index), lint.Options{PerMigration: true}), "create-index-non-concurrently")
		if f == nil || f.File != "b.sql" || f.Table != "public.jobs" || !f.Existing || !f.Deploy() {
			t.Errorf("%+v", f)
		}
	})
	t.Run("From leaves earlier migrations unreported", func(t *testing.T) {
		fs := lint.Lint(files(index, create, index), lint.Options{PerMigration: true, From: 1})
		for _, f := range fs {
			if f.File == "a.sql" {
				t.Errorf("a context file is reported: %s", f)
			}
		}
		if find(fs, "create-index-non-concurrently") == nil {
			t.Errorf("the reported file lost its finding: %v", rulesOf(fs))
		}
	})
	t.Run("a renamed new table stays new", func(t *testing.T) {
		fs := lint.Lint(files(create+"\nALTER TABLE \"jobs\" RENAME TO \"tasks\";\nCREATE INDEX ON \"tasks\" (\"name\");"), lint.Options{})
		if find(fs, "create-index-non-concurrently") != nil {
			t.Errorf("%v", rulesOf(fs))
		}
	})
	t.Run("DROP INDEX: judged by the index's table", func(t *testing.T) {
		fs := lint.Lint(files(create+"\n"+index+"\nDROP INDEX \"jobs_name_idx\";"), lint.Options{})
		if find(fs, "drop-index-non-concurrently") != nil {
			t.Errorf("an index of a new table: %v", rulesOf(fs))
		}
		db := lint.Options{Indexes: map[string]string{"public.jobs_name_idx": "public.jobs"}, Tables: map[string]*lint.TableInfo{"public.jobs": {Rows: 5e6}}}
		f := find(lint.Lint(files(`DROP INDEX "jobs_name_idx";`), db), "drop-index-non-concurrently")
		if f == nil || f.Table != "public.jobs" || !f.Existing {
			t.Errorf("an index of a table the database has: %+v", f)
		}
		if f := find(lint.Lint(files(`DROP INDEX "unknown_idx";`), lint.Options{}), "drop-index-non-concurrently"); f == nil || !f.Existing {
			t.Errorf("an index nobody knows is taken to be on a table with data: %+v", f)
		}
	})
	t.Run("CONCURRENTLY IF NOT EXISTS on a new table", func(t *testing.T) {
		fs := lint.Lint(files(create+"\nCREATE INDEX CONCURRENTLY IF NOT EXISTS \"x\" ON \"jobs\" (\"name\");"), lint.Options{})
		if find(fs, "concurrently-if-not-exists") != nil {
			t.Errorf("%v", rulesOf(fs))
		}
	})
	t.Run("varchar to text rewrites nothing", func(t *testing.T) {
		for stmt, want := range map[string]bool{
			`ALTER TABLE "jobs" ALTER COLUMN "name" SET DATA TYPE text;`:          false,
			`ALTER TABLE "jobs" ALTER COLUMN "name" SET DATA TYPE varchar(80);`:   false,
			`ALTER TABLE "jobs" ALTER COLUMN "name" SET DATA TYPE varchar;`:       false,
			`ALTER TABLE "jobs" ALTER COLUMN "name" SET DATA TYPE varchar(20);`:   true,
			`ALTER TABLE "jobs" ALTER COLUMN "name" TYPE text USING upper(name);`: true,
			`ALTER TABLE "jobs" ALTER COLUMN "account_id" SET DATA TYPE text;`:    true,
		} {
			fs := lint.Lint(files(create, stmt), lint.Options{PerMigration: true})
			if got := find(fs, "column-type-change") != nil; got != want {
				t.Errorf("%s: finding %v, want %v", stmt, got, want)
			}
		}
	})
}

// An unindexed or cascading foreign key is schema advice: a note, and a
// warning only on an existing table that is large.
func TestForeignKeyAdviceSeverity(t *testing.T) {
	fk := `ALTER TABLE "jobs" ADD CONSTRAINT "jobs_account_fk" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE cascade NOT VALID;`
	for _, tc := range []struct {
		name string
		sql  []string
		opts lint.Options
		want lint.Severity
	}{
		{"a table the set creates", []string{`CREATE TABLE "jobs" ("id" bigint, "account_id" bigint);`, fk}, lint.Options{}, lint.Info},
		{"a small existing table", []string{fk}, lint.Options{Tables: map[string]*lint.TableInfo{"public.jobs": {Rows: 40, Bytes: 8192}}}, lint.Info},
		{"a large existing table", []string{fk}, lint.Options{Tables: map[string]*lint.TableInfo{"public.jobs": {Rows: 2e6, Bytes: 300 << 20}}}, lint.Warning},
		{"an existing table of unknown size", []string{fk}, lint.Options{}, lint.Warning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := lint.Lint(files(tc.sql...), tc.opts)
			for _, rule := range []string{"cascade-on-dependent", "fk-without-index"} {
				if f := find(fs, rule); f == nil || f.Severity != tc.want {
					t.Errorf("%s: %+v, want %s", rule, f, tc.want)
				}
			}
			tc.opts.Level = lint.Warning
			kept := lint.Lint(files(tc.sql...), tc.opts)
			if (find(kept, "fk-without-index") != nil) != (tc.want == lint.Warning) {
				t.Errorf("at --level warning: %v", rulesOf(kept))
			}
		})
	}
}
