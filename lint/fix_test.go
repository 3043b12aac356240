package lint_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/lint"
	"github.com/upshift-dev/upshift/pgsql"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture is a user's schema: names no rule's text knows.
const fixture = `
CREATE TYPE credit_kind AS ENUM ('grant', 'purchase');
CREATE TABLE accounts (id bigint PRIMARY KEY);
CREATE TABLE wallets (id bigint PRIMARY KEY);
CREATE TABLE credits (
  id bigint PRIMARY KEY, account_id bigint, wallet_id bigint, note text,
  amount int, external_id text, created_at timestamptz DEFAULT now()
);
CREATE SCHEMA billing;
CREATE TABLE billing."Invoices" (id bigint PRIMARY KEY, "customerId" bigint, total int);
CREATE TABLE billing."Payments" (id bigint, amount int);
INSERT INTO accounts SELECT g FROM generate_series(1, 10) g;
INSERT INTO wallets SELECT g FROM generate_series(1, 10) g;
INSERT INTO credits (id, account_id, wallet_id, note, amount, external_id)
SELECT g, g % 10 + 1, g % 10 + 1, 'note ' || g, g, 'ext-' || g FROM generate_series(1, 200) g;
INSERT INTO billing."Invoices" SELECT g, g % 10 + 1, g FROM generate_series(1, 50) g;
CREATE INDEX credits_note_idx ON credits (note);
CREATE INDEX credits_amount_idx ON credits (amount);`

// fixSQL is what a user pastes from a fix: its SQL lines, and the SQL that
// comment lines give for the next steps ("-- next migration: ALTER ..."),
// in order. Shell commands are left out; $1, a value the user chooses, is
// param, and lines that need one are left out when there is none.
func fixSQL(fix, param string) []string {
	var out []string
	for _, line := range strings.Split(fix, "\n")[1:] {
		line = strings.TrimSpace(line)
		if c, ok := strings.CutPrefix(line, "--"); ok {
			_, after, found := strings.Cut(c, ": ")
			if !found {
				continue
			}
			line = after
		}
		if strings.Contains(line, "$1") {
			if param == "" {
				continue
			}
			line = strings.ReplaceAll(line, "$1", param)
		}
		line, _, _ = strings.Cut(line, ";  --")
		if sts, err := pgsql.Parse(line); err == nil && len(sts) > 0 {
			for _, s := range sts {
				out = append(out, s.Text(line))
			}
		}
	}
	return out
}

// TestFixesAreTheUsersOwn: for each unsafe statement on the user's tables,
// the fix names the statement's own table and columns, pastes and runs on
// a real server in order, and no longer raises the finding it fixes.
func TestFixesAreTheUsersOwn(t *testing.T) {
	srv := pgtest.Shared(t)
	covered := map[string]bool{"parse-error": true, "invalid-index": true, "ignore-unknown-rule": true} // tested elsewhere
	defer func() {
		for _, r := range lint.Rules {
			if !covered[r.ID] {
				t.Errorf("rule %s has no case here", r.ID)
			}
		}
	}()
	for _, tc := range []struct {
		rule, stmt string
		names      []string // what the fix must name
		param      string   // the value a user puts for $1
		prose      bool     // steps outside SQL: nothing to run
	}{
		{"generated-stored-column", `ALTER TABLE "credits" ADD COLUMN "search" tsvector GENERATED ALWAYS AS (to_tsvector('simple', "note")) STORED;`, []string{"credits", "search", "note"}, "", false},
		{"create-index-non-concurrently", `CREATE INDEX "credits_account_idx" ON "credits" USING btree ("account_id");`, []string{"credits_account_idx", "credits", "account_id"}, "", false},
		{"create-index-non-concurrently", `CREATE INDEX "invoices_customer_idx" ON "billing"."Invoices" ("customerId");`, []string{`billing."Invoices"`, `"customerId"`}, "", false},
		{"drop-index-non-concurrently", `DROP INDEX "credits_note_idx", "credits_amount_idx";`, []string{"credits_note_idx", "credits_amount_idx"}, "", false},
		{"reindex-non-concurrently", `REINDEX INDEX "credits_note_idx";`, []string{"credits_note_idx"}, "", false},
		{"set-not-null", `ALTER TABLE "credits" ALTER COLUMN "account_id" SET NOT NULL;`, []string{"credits", "account_id"}, "", false},
		{"cascade-on-dependent", `ALTER TABLE "credits" ADD CONSTRAINT "credits_account_fk" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE cascade NOT VALID;`, []string{"credits", "account_id", "accounts"}, "1", false},
		{"fk-without-index", `ALTER TABLE "credits" ADD CONSTRAINT "credits_wallet_fk" FOREIGN KEY ("wallet_id") REFERENCES "wallets"("id") NOT VALID;`, []string{"credits", "wallet_id"}, "", false},
		{"concurrently-if-not-exists", `CREATE INDEX CONCURRENTLY IF NOT EXISTS "credits_wallet_idx" ON "credits" ("wallet_id");`, []string{"credits_wallet_idx", "credits", "wallet_id"}, "", false},
		{"constraint-missing-not-valid", `ALTER TABLE "credits" ADD CONSTRAINT "credits_account_fk" FOREIGN KEY ("account_id") REFERENCES "accounts"("id");`, []string{"credits_account_fk", "credits", "accounts"}, "", false},
		{"constraint-missing-not-valid", `ALTER TABLE "credits" ADD COLUMN "payer_id" bigint REFERENCES "accounts"("id");`, []string{"credits", "payer_id", "accounts"}, "", false},
		{"constraint-missing-not-valid", `ALTER TABLE "credits" ADD CONSTRAINT "credits_amount_positive" CHECK ("amount" > 0);`, []string{"credits_amount_positive", "amount"}, "", false},
		{"validate-same-migration", "ALTER TABLE \"credits\" ADD CONSTRAINT \"credits_amount_positive\" CHECK (\"amount\" > 0) NOT VALID;\n--> statement-breakpoint\nALTER TABLE \"credits\" VALIDATE CONSTRAINT \"credits_amount_positive\";", []string{"credits_amount_positive"}, "", false},
		{"volatile-default", `ALTER TABLE "credits" ADD COLUMN "public_id" uuid DEFAULT gen_random_uuid() NOT NULL;`, []string{"credits", "public_id", "gen_random_uuid()"}, "", false},
		{"volatile-default", `ALTER TABLE "credits" ADD COLUMN "position" bigserial;`, []string{"credits", "position"}, "", false},
		{"volatile-default", `ALTER TABLE "billing"."Invoices" ADD COLUMN "number" integer GENERATED ALWAYS AS IDENTITY;`, []string{`billing."Invoices"`, "number"}, "", false},
		{"column-type-change", `ALTER TABLE "credits" ALTER COLUMN "amount" SET DATA TYPE numeric(12, 2);`, []string{"credits", "amount", "numeric(12, 2)"}, "", false},
		{"column-type-change", `ALTER TABLE "credits" ALTER COLUMN "note" TYPE integer USING length("note");`, []string{"credits", "note", "length(note)"}, "", false},
		{"rename-column", `ALTER TABLE "credits" RENAME COLUMN "note" TO "memo";`, []string{"credits", "note", "memo"}, "", true},
		{"rename-table", `ALTER TABLE "credits" RENAME TO "ledger";`, []string{"credits", "ledger"}, "", false},
		{"drop-column", `ALTER TABLE "credits" DROP COLUMN "note";`, []string{"credits", "note"}, "", false},
		{"drop-table", `DROP TABLE "wallets" CASCADE;`, []string{"wallets"}, "", false},
		{"add-unique-constraint", `ALTER TABLE "credits" ADD CONSTRAINT "credits_external_id_unique" UNIQUE("external_id");`, []string{"credits_external_id_unique", "credits", "external_id"}, "", false},
		{"add-unique-constraint", `ALTER TABLE "billing"."Payments" ADD PRIMARY KEY ("id");`, []string{`billing."Payments"`, `"Payments_pkey"`}, "", false},
		{"not-null-without-default", `ALTER TABLE "credits" ADD COLUMN "status" text NOT NULL;`, []string{"credits", "status"}, "", false},
		{"not-null-without-default", `ALTER TABLE "credits" ADD COLUMN "kind" credit_kind NOT NULL;`, []string{"credits", "kind"}, "'grant'", false},
		{"truncate-cascade", `TRUNCATE "credits" CASCADE;`, []string{"credits"}, "", false},
		{"vacuum-full", `VACUUM FULL "credits";`, []string{"credits"}, "", false},
		{"cluster", `CLUSTER "credits" USING "credits_note_idx";`, []string{"credits", "credits_note_idx"}, "", true},
		{"prefer-identity", `CREATE TABLE "grants" ("id" serial PRIMARY KEY, "credit_id" bigint);`, []string{"grants", "credit_id"}, "", false},
		{"concurrently-mixed", "CREATE INDEX CONCURRENTLY \"credits_wallet_idx\" ON \"credits\" (\"wallet_id\");\n--> statement-breakpoint\nUPDATE \"credits\" SET \"amount\" = 0 WHERE \"amount\" IS NULL;", []string{"credits_wallet_idx", "wallet_id"}, "", false},
		{"transaction-control", "BEGIN;\nUPDATE \"credits\" SET \"amount\" = 0;\nCOMMIT;", []string{"BEGIN"}, "", true},
		{"enum-value-same-transaction", "ALTER TYPE \"credit_kind\" ADD VALUE 'refund';\n--> statement-breakpoint\nALTER TABLE \"credits\" ADD COLUMN \"kind\" \"credit_kind\" DEFAULT 'refund';", []string{"credit_kind", "'refund'"}, "", true},
		{"commit-before-concurrently", "COMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY \"credits_wallet_idx\" ON \"credits\" (\"wallet_id\");", nil, "", true},
		{"commit-before-validate", "ALTER TABLE \"credits\" ADD CONSTRAINT \"credits_amount_positive\" CHECK (\"amount\" > 0) NOT VALID;\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nALTER TABLE \"credits\" VALIDATE CONSTRAINT \"credits_amount_positive\";", nil, "", true},
		{"missing-lock-timeout", `ALTER TABLE "credits" ADD COLUMN "memo" text;`, []string{"credits"}, "", false},
	} {
		covered[tc.rule] = true
		t.Run(tc.rule, func(t *testing.T) {
			var f *lint.Finding
			for _, x := range lint.Lint([]lint.File{{Path: "drizzle/0007_user.sql", Text: tc.stmt}}, lint.Options{}) {
				if x.Rule == tc.rule {
					f = &x
					break
				}
			}
			if f == nil {
				t.Fatalf("no %s finding for %s", tc.rule, tc.stmt)
			}
			for _, name := range tc.names {
				if !strings.Contains(f.Fix, name) {
					t.Errorf("fix does not name %s:\n%s", name, f.Fix)
				}
			}
			for _, foreign := range []string{"events", "users", "idx_"} {
				if strings.Contains(f.Fix+f.Message, foreign) {
					t.Errorf("fix or message names %q, which is not the user's:\n%s\n%s", foreign, f.Message, f.Fix)
				}
			}
			if tc.prose {
				return
			}
			stmts := fixSQL(f.Fix, tc.param)
			if len(stmts) == 0 {
				t.Fatalf("fix has no SQL to paste:\n%s", f.Fix)
			}
			db := srv.NewDB(t)
			db.Exec(t, fixture)
			conn := db.Connect(t)
			for _, s := range stmts {
				// Each on its own: CONCURRENTLY refuses a transaction block.
				if _, err := conn.PgConn().Exec(context.Background(), s).ReadAll(); err != nil {
					t.Errorf("fix statement fails: %s\n  %v\nfix:\n%s", s, err, f.Fix)
				}
			}
			// Pasted (comments included, as a migration would hold them),
			// the fix does not raise what it fixes.
			var pasted []string
			for _, line := range strings.Split(f.Fix, "\n")[1:] {
				line = strings.TrimSpace(line)
				if strings.HasPrefix(line, "-- upshift:") || !strings.HasPrefix(line, "--") {
					pasted = append(pasted, line)
				}
			}
			for _, x := range lint.Lint([]lint.File{{Path: "fix.sql", Text: strings.Join(pasted, "\n")}}, lint.Options{}) {
				if x.Rule == tc.rule && tc.rule != "missing-lock-timeout" {
					t.Errorf("the fix raises %s again: %s\n%s", tc.rule, x, f.Fix)
				}
			}
		})
	}
}

// TestMessagesSayThingsOnce: no finding's message repeats a clause, and
// none cites where a rule came from.
func TestMessagesSayThingsOnce(t *testing.T) {
	for _, r := range lint.Rules {
		for _, banned := range []string{"incident", "outage", "lobu", "mana", "terragnos", "events"} {
			if strings.Contains(strings.ToLower(r.Why+r.Fix+r.Title), banned) {
				t.Errorf("rule %s cites %q", r.ID, banned)
			}
		}
	}
	text := "CREATE TABLE t (id serial PRIMARY KEY);\nALTER TABLE credits ADD COLUMN n int NOT NULL;\nDROP TABLE wallets;\nALTER TABLE credits ADD COLUMN p serial;"
	for _, f := range lint.Lint([]lint.File{{Path: "m.sql", Text: text}}, lint.Options{}) {
		words := strings.Fields(strings.NewReplacer(",", " ", ";", " ", ":", " ").Replace(f.Message))
		seen := map[string]bool{}
		for i := 0; i+4 <= len(words); i++ {
			k := strings.Join(words[i:i+4], " ")
			if seen[k] {
				t.Errorf("%s repeats %q: %s", f.Rule, k, f.Message)
			}
			seen[k] = true
		}
	}
}
