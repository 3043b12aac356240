package lint_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/lint"
)

func rulesOf(fs []lint.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

// TestRules: every rule fires on its unsafe shape and stays quiet on the
// safe one. "events" is an existing table; "fresh" is created in the set.
func TestRules(t *testing.T) {
	const fresh = "CREATE TABLE fresh (id bigint PRIMARY KEY, user_id bigint, email text, n int);\n"
	for _, tc := range []struct {
		rule   string
		unsafe string
		safe   string
	}{
		{"generated-stored-column",
			`ALTER TABLE events ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED;`,
			fresh + `ALTER TABLE fresh ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', email)) STORED;`},
		{"create-index-non-concurrently",
			`CREATE INDEX idx_events_at ON events (created_at);`,
			`CREATE INDEX CONCURRENTLY idx_events_at ON events (created_at);`},
		{"drop-index-non-concurrently", `DROP INDEX idx_events_at;`, `DROP INDEX CONCURRENTLY IF EXISTS idx_events_at;`},
		{"reindex-non-concurrently", `REINDEX INDEX idx_events_at;`, `REINDEX INDEX CONCURRENTLY idx_events_at;`},
		{"set-not-null",
			`ALTER TABLE events ALTER COLUMN user_id SET NOT NULL;`,
			`ALTER TABLE events ADD CONSTRAINT events_user_id_nn CHECK (user_id IS NOT NULL) NOT VALID;
--> statement-breakpoint
ALTER TABLE events VALIDATE CONSTRAINT events_user_id_nn;
--> statement-breakpoint
ALTER TABLE events ALTER COLUMN user_id SET NOT NULL;`},
		{"cascade-on-dependent",
			fresh + `ALTER TABLE fresh ADD CONSTRAINT fresh_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE; CREATE INDEX ON fresh (user_id);`,
			fresh + `ALTER TABLE fresh ADD CONSTRAINT fresh_user_fk FOREIGN KEY (user_id) REFERENCES users (id); CREATE INDEX ON fresh (user_id);`},
		{"fk-without-index",
			fresh + `ALTER TABLE fresh ADD CONSTRAINT fresh_user_fk FOREIGN KEY (user_id) REFERENCES users (id);`,
			fresh + `ALTER TABLE fresh ADD CONSTRAINT fresh_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
CREATE INDEX fresh_user_id_idx ON fresh (user_id, email);`},
		{"concurrently-mixed",
			`CREATE INDEX CONCURRENTLY idx_a ON events (a);
--> statement-breakpoint
UPDATE events SET a = 1 WHERE a IS NULL;`,
			`CREATE INDEX CONCURRENTLY idx_a ON events (a);
--> statement-breakpoint
CREATE INDEX CONCURRENTLY idx_b ON events (b);`},
		{"concurrently-if-not-exists",
			`CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON events (a);`,
			`CREATE INDEX CONCURRENTLY idx_a ON events (a);`},
		{"constraint-missing-not-valid",
			`ALTER TABLE events ADD CONSTRAINT events_user_fk FOREIGN KEY (user_id) REFERENCES users (id);`,
			`ALTER TABLE events ADD CONSTRAINT events_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;`},
		{"constraint-missing-not-valid",
			`ALTER TABLE events ADD CONSTRAINT events_n_positive CHECK (n > 0);`,
			`ALTER TABLE events ADD CONSTRAINT events_n_positive CHECK (n > 0) NOT VALID;`},
		{"validate-same-migration",
			`ALTER TABLE events ADD CONSTRAINT c CHECK (n > 0) NOT VALID;
--> statement-breakpoint
ALTER TABLE events VALIDATE CONSTRAINT c;`,
			`ALTER TABLE events VALIDATE CONSTRAINT c;`},
		{"volatile-default",
			`ALTER TABLE events ADD COLUMN public_id uuid DEFAULT gen_random_uuid();`,
			`ALTER TABLE events ADD COLUMN created_at timestamp DEFAULT now() NOT NULL;`},
		{"volatile-default",
			`ALTER TABLE events ADD COLUMN seq serial;`,
			fresh + `ALTER TABLE fresh ADD COLUMN seq serial;`},
		{"column-type-change",
			`ALTER TABLE events ALTER COLUMN n TYPE bigint;`,
			fresh + `ALTER TABLE fresh ALTER COLUMN n TYPE bigint;`},
		{"rename-column", `ALTER TABLE events RENAME COLUMN body TO text;`, fresh + `ALTER TABLE fresh RENAME COLUMN email TO mail;`},
		{"rename-table", `ALTER TABLE events RENAME TO happenings;`, fresh + `ALTER TABLE fresh RENAME TO fresher;`},
		{"drop-column", `ALTER TABLE events DROP COLUMN body;`, fresh + `ALTER TABLE fresh DROP COLUMN email;`},
		{"drop-table", `DROP TABLE events;`, fresh + `DROP TABLE fresh;`},
		{"add-unique-constraint",
			`ALTER TABLE events ADD CONSTRAINT events_ext_key UNIQUE (external_id);`,
			`ALTER TABLE events ADD CONSTRAINT events_ext_key UNIQUE USING INDEX events_ext_key;`},
		{"add-unique-constraint",
			`ALTER TABLE events ADD PRIMARY KEY (id);`,
			fresh + `CREATE TABLE other (id int); ALTER TABLE other ADD PRIMARY KEY (id);`},
		{"not-null-without-default",
			`ALTER TABLE events ADD COLUMN status text NOT NULL;`,
			`ALTER TABLE events ADD COLUMN status text NOT NULL DEFAULT 'new';`},
		{"truncate-cascade", `TRUNCATE events CASCADE;`, `TRUNCATE events;`},
		{"vacuum-full", `VACUUM FULL events;`, `VACUUM events;`},
		{"cluster", `CLUSTER events USING idx_events_at;`, `ANALYZE events;`},
		{"transaction-control", "BEGIN;\nUPDATE events SET n = 1;\nCOMMIT;", `UPDATE events SET n = 1;`},
		{"enum-value-same-transaction",
			`ALTER TYPE mood ADD VALUE 'meh';
--> statement-breakpoint
UPDATE events SET mood = 'meh'::mood WHERE mood IS NULL;`,
			`ALTER TYPE mood ADD VALUE 'meh';
--> statement-breakpoint
UPDATE events SET mood = 'ok'::mood WHERE mood IS NULL;`},
		{"commit-before-concurrently",
			"COMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY idx_a ON events (a);",
			"CREATE INDEX CONCURRENTLY idx_a ON events (a);"},
		{"missing-lock-timeout",
			`ALTER TABLE events ADD COLUMN note text;`,
			"SET lock_timeout = '5s';\nALTER TABLE events ADD COLUMN note text;"},
		{"prefer-identity", `CREATE TABLE t (id serial PRIMARY KEY);`, `CREATE TABLE t (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY);`},
		{"parse-error", `ALTER TABLE events ADD COLUMN;`, `ALTER TABLE events ADD COLUMN x int;`},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			got := rulesOf(lint.Lint([]lint.File{{Path: "m.sql", Text: tc.unsafe}}, lint.Options{}))
			if !slices.Contains(got, tc.rule) {
				t.Errorf("unsafe case: %v, want %s\n%s", got, tc.rule, tc.unsafe)
			}
			got = rulesOf(lint.Lint([]lint.File{{Path: "m.sql", Text: tc.safe}}, lint.Options{}))
			if slices.Contains(got, tc.rule) {
				t.Errorf("safe case: %v contains %s\n%s", got, tc.rule, tc.safe)
			}
		})
	}
}

// TestEveryRuleTested keeps TestRules complete as rules are added.
func TestEveryRuleHasDocs(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range lint.Rules {
		if seen[r.ID] {
			t.Errorf("duplicate rule id %s", r.ID)
		}
		seen[r.ID] = true
		if r.Why == "" || r.Fix == "" || r.Title == "" || r.Severity == "" {
			t.Errorf("rule %s lacks documentation", r.ID)
		}
	}
}

func TestPositionsAndSuppression(t *testing.T) {
	text := "SET lock_timeout = '5s';\n--> statement-breakpoint\n  CREATE INDEX idx_a ON events (a);\n--> statement-breakpoint\n-- upshift:ignore create-index-non-concurrently events is tiny in every environment\nCREATE INDEX idx_b ON events (b);\n"
	fs := lint.Lint([]lint.File{{Path: "drizzle/0004_idx.sql", Text: text}}, lint.Options{})
	if len(fs) != 1 {
		t.Fatalf("findings: %v", fs)
	}
	f := fs[0]
	if f.String()[:len("drizzle/0004_idx.sql:3:3: error create-index-non-concurrently: ")] != "drizzle/0004_idx.sql:3:3: error create-index-non-concurrently: " {
		t.Errorf("%s", f)
	}
	if f.Statement != "CREATE INDEX idx_a ON events (a)" || !strings.Contains(f.Fix, "CREATE INDEX CONCURRENTLY") {
		t.Errorf("%+v", f)
	}
}

// TestNewTablesAcrossFiles: a table created in an earlier migration of the
// set is new in later ones.
func TestNewTablesAcrossFiles(t *testing.T) {
	fs := lint.Lint([]lint.File{
		{Path: "0000.sql", Text: `CREATE TABLE "sessions" ("id" serial PRIMARY KEY NOT NULL, "user_id" uuid NOT NULL);`},
		{Path: "0001.sql", Text: `CREATE INDEX "sessions_user_id_idx" ON "sessions" USING btree ("user_id");`},
	}, lint.Options{})
	for _, f := range fs {
		if f.Severity == lint.Error {
			t.Errorf("%s", f)
		}
	}
}

// TestTableSizes: with the database's view, messages carry the size, and
// --min-rows lets small tables pass.
func TestTableSizes(t *testing.T) {
	opts := lint.Options{Tables: map[string]*lint.TableInfo{
		"public.events": {Rows: 1_150_000, Bytes: 3_650_722_201},
		"public.tiny":   {Rows: 12, Bytes: 16384},
	}, MinRows: 1000}
	var errs []lint.Finding
	for _, f := range lint.Lint([]lint.File{{Path: "m.sql", Text: "CREATE INDEX a ON events (x);\nCREATE INDEX b ON tiny (x);"}}, opts) {
		if f.Severity == lint.Error {
			errs = append(errs, f)
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "public.events (~1.1M rows, 3.4 GB)") {
		t.Errorf("%v", errs)
	}
}

// TestGoldenCorpusCleanAtErrorLevel: drizzle-kit's own output raises no
// error-level finding.
func TestGoldenCorpusCleanAtErrorLevel(t *testing.T) {
	for _, name := range []string{"v0-journal", "v1-folders", "v0-upgraded-to-v1"} {
		src, err := drizzle.Load(filepath.Join("../testdata/drizzle-golden", name, "drizzle"))
		if err != nil {
			t.Fatal(err)
		}
		var files []lint.File
		for _, m := range src.Migrations {
			files = append(files, lint.File{Path: src.Path(m.File), Text: m.Text})
		}
		for _, f := range lint.Lint(files, lint.Options{}) {
			if f.Severity == lint.Error {
				t.Errorf("%s: %s", name, f)
			}
		}
	}
}

func FuzzLint(f *testing.F) {
	f.Add("ALTER TABLE events ADD COLUMN x int GENERATED ALWAYS AS (1) STORED;")
	f.Add("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a); UPDATE t SET a = 1;")
	f.Add("-- upshift:ignore all\nALTER TYPE e ADD VALUE 'x'; SELECT 'x';")
	f.Fuzz(func(t *testing.T, text string) {
		for _, fd := range lint.Lint([]lint.File{{Path: "f.sql", Text: text}}, lint.Options{}) {
			if fd.Line < 1 || fd.Column < 1 {
				t.Fatalf("bad position %d:%d", fd.Line, fd.Column)
			}
			if _, ok := lint.RuleByID(fd.Rule); !ok {
				t.Fatalf("unknown rule %s", fd.Rule)
			}
		}
	})
}

// BenchmarkLint10k: 10,000 statements of the shapes drizzle-kit writes.
func BenchmarkLint10k(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&sb, "CREATE TABLE \"t%d\" (\n\t\"id\" serial PRIMARY KEY NOT NULL,\n\t\"user_id\" uuid NOT NULL,\n\t\"name\" text\n);\n--> statement-breakpoint\n", i)
		fmt.Fprintf(&sb, "ALTER TABLE \"t%d\" ADD CONSTRAINT \"t%d_user_fk\" FOREIGN KEY (\"user_id\") REFERENCES \"public\".\"users\"(\"id\") ON DELETE cascade;\n--> statement-breakpoint\n", i, i)
		fmt.Fprintf(&sb, "CREATE INDEX \"t%d_user_idx\" ON \"t%d\" USING btree (\"user_id\");\n--> statement-breakpoint\n", i, i)
		fmt.Fprintf(&sb, "ALTER TABLE \"events\" ADD COLUMN \"c%d\" text DEFAULT 'x' NOT NULL;\n--> statement-breakpoint\n", i)
	}
	files := []lint.File{{Path: "big.sql", Text: sb.String()}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lint.Lint(lint.Prepare(files), lint.Options{Level: lint.Error}) // as `upshift lint --level error`
	}
}

func TestBreakingRules(t *testing.T) {
	var got []string
	for _, r := range lint.Rules {
		if lint.Breaking(r.ID) {
			got = append(got, r.ID)
		}
	}
	want := "set-not-null column-type-change rename-column rename-table drop-column drop-table"
	if strings.Join(got, " ") != want {
		t.Errorf("breaking rules in the catalogue: %v, want %s", got, want)
	}
}

// TestIgnoreUnknownRule: a typo in an ignore comment is reported where it
// is, with the rule it probably meant, and silences nothing.
func TestIgnoreUnknownRule(t *testing.T) {
	text := "-- upshift:ignore drop-colum the column is unused\nALTER TABLE credits DROP COLUMN note;\n-- upshift:ignore drop-column,all checked\nALTER TABLE credits DROP COLUMN memo;"
	fs := lint.Lint([]lint.File{{Path: "drizzle/0003_drop.sql", Text: text}}, lint.Options{})
	if got := rulesOf(fs); !slices.Equal(got, []string{"ignore-unknown-rule", "drop-column", "missing-lock-timeout"}) {
		t.Fatalf("findings: %v", fs)
	}
	if f := fs[0]; f.Line != 1 || !strings.Contains(f.Message, `"drop-colum"`) || !strings.Contains(f.Fix, "-- upshift:ignore drop-column the column is unused") {
		t.Errorf("%+v", f)
	}
	if fs[1].Line != 2 {
		t.Errorf("the typo silenced nothing, so line 2 is reported: %+v", fs[1])
	}
}

// TestPrepareChangesNothing: parsed ahead or as linting goes, the same
// findings at the same places, the same touched tables, parse errors too.
func TestPrepareChangesNothing(t *testing.T) {
	files := []lint.File{
		{Path: "0000.sql", Text: "CREATE TABLE credits (id serial PRIMARY KEY, user_id int)\n--> statement-breakpoint\nCREATE INDEX credits_user_idx ON credits (user_id);"},
		{Path: "0001.sql", Text: "ALTER TABLE events ADD COLUMN n int NOT NULL;\n--> statement-breakpoint\n-- upshift:ignore drop-colum typo\nALTER TABLE events DROP COLUMN body;\nINSERT INTO events (n) VALUES (1);"},
		{Path: "0002.sql", Text: "SELECT 1;\nALTER TABLE events ADD COLUMN;\n"},
		{Path: "0003.sql", Text: strings.Repeat("INSERT INTO events (n) VALUES (1);\n", 3000) + "--> statement-breakpoint\nALTER TABLE events ALTER COLUMN n SET NOT NULL;"},
	}
	for _, level := range []lint.Severity{"", lint.Warning} {
		plain := lint.Lint(files, lint.Options{Level: level})
		ahead := lint.Lint(lint.Prepare(files), lint.Options{Level: level})
		if fmt.Sprint(plain) != fmt.Sprint(ahead) || len(plain) < 5 {
			t.Errorf("level %q:\n%v\n%v", level, plain, ahead)
		}
	}
	if a, b := lint.Touched(files), lint.Touched(lint.Prepare(files)); !slices.Equal(a, b) || len(a) != 2 {
		t.Errorf("touched: %v, ahead %v", a, b)
	}
}
