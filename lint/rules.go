package lint

// Severity of a finding. Only errors fail `upshift lint` and, with
// --strict, `upshift migrate`.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case Error:
		return 3
	case Warning:
		return 2
	}
	return 1
}

// AtLeast reports whether s is as severe as min.
func (s Severity) AtLeast(min Severity) bool { return s.rank() >= min.rank() }

// Rule documents one dangerous shape. IDs are stable: they appear in
// `-- upshift:ignore` comments and CI configuration.
type Rule struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Lock     string   `json:"lock"`
	Why      string   `json:"why"`
	Fix      string   `json:"fix"`
}

// Rules is the catalogue, in the order of the README's lint section.
var Rules = []Rule{
	{ID: "generated-stored-column", Severity: Error, Title: "stored generated column added to an existing table",
		Lock: "ACCESS EXCLUSIVE for a full table rewrite",
		Why:  "every row is rewritten while reads and writes wait, which on a large table outlasts statement_timeout",
		Fix:  "add a plain column that a trigger keeps filled, and backfill the existing rows in batches outside the migration"},
	{ID: "create-index-non-concurrently", Severity: Error, Title: "CREATE INDEX without CONCURRENTLY on an existing table",
		Lock: "SHARE: blocks INSERT, UPDATE and DELETE for the whole build",
		Why:  "writes to the table wait until the index is built",
		Fix:  "the same CREATE INDEX with CONCURRENTLY, in a migration of its own (upshift runs it outside a transaction)"},
	{ID: "drop-index-non-concurrently", Severity: Warning, Title: "DROP INDEX without CONCURRENTLY",
		Lock: "ACCESS EXCLUSIVE on the index's table",
		Why:  "reads and writes of the table wait behind the drop, and behind any long query before it",
		Fix:  "DROP INDEX CONCURRENTLY IF EXISTS, one index per statement, in a migration of its own"},
	{ID: "reindex-non-concurrently", Severity: Warning, Title: "REINDEX without CONCURRENTLY",
		Lock: "ACCESS EXCLUSIVE on the index (SHARE on the table) for the rebuild",
		Why:  "queries using the index and writes to the table wait for the whole rebuild",
		Fix:  "the same REINDEX with (CONCURRENTLY), in a migration of its own"},
	{ID: "set-not-null", Severity: Error, Title: "SET NOT NULL without a validated CHECK staged first",
		Lock: "ACCESS EXCLUSIVE while every row is scanned",
		Why:  "PostgreSQL scans the whole table for NULLs with reads and writes blocked, unless a validated CHECK (column IS NOT NULL) already proves there are none",
		Fix:  "over three migrations: add CHECK (column IS NOT NULL) NOT VALID; validate it; then SET NOT NULL (now instant) and drop the check"},
	{ID: "cascade-on-dependent", Severity: Info, Title: "foreign key with ON DELETE CASCADE / SET NULL / SET DEFAULT (a warning on a large existing table)",
		Lock: "row locks on every dependent row, taken inside the parent's DELETE",
		Why:  "deleting one parent row updates or deletes all its dependents in the same statement, which on a wide dependent table takes seconds per delete",
		Fix:  "index the referencing columns, and clear the dependents in batches before deleting the parent"},
	{ID: "fk-without-index", Severity: Info, Title: "foreign key whose referencing columns have no index (a warning on a large existing table)",
		Lock: "—",
		Why:  "every delete or key update of a parent row scans the whole referencing table to find dependents",
		Fix:  "CREATE INDEX CONCURRENTLY on the referencing columns, in a migration of its own"},
	{ID: "concurrently-mixed", Severity: Error, Title: "CONCURRENTLY together with transactional statements in one migration",
		Lock: "—",
		Why:  "the migration cannot run in one transaction, so if a later statement fails the earlier ones stay applied (drizzle-orm, which runs every migration in its transaction, fails on the first such statement)",
		Fix:  "move each statement that must run outside a transaction to a migration of its own (drizzle-kit generate --custom)"},
	{ID: "concurrently-if-not-exists", Severity: Warning, Title: "CREATE INDEX CONCURRENTLY IF NOT EXISTS on an existing table",
		Lock: "—",
		Why:  "a failed concurrent build leaves an INVALID index under that name; upshift drops it and builds it again when the migration is rerun, but any other runner (drizzle-orm, psql) skips it because of IF NOT EXISTS, and the planner never uses it",
		Fix:  "DROP INDEX CONCURRENTLY IF EXISTS first, then CREATE INDEX CONCURRENTLY without IF NOT EXISTS, each in a migration of its own"},
	{ID: "constraint-missing-not-valid", Severity: Error, Title: "FOREIGN KEY or CHECK constraint added without NOT VALID",
		Lock: "SHARE ROW EXCLUSIVE (FK) or ACCESS EXCLUSIVE (CHECK) while every row is checked",
		Why:  "every existing row is checked while writes wait",
		Fix:  "add it NOT VALID, and VALIDATE CONSTRAINT in the next migration"},
	{ID: "validate-same-migration", Severity: Warning, Title: "constraint validated in the migration that added it NOT VALID",
		Lock: "the ADD's lock is still held while VALIDATE scans",
		Why:  "in one transaction the lock taken by the ADD is held through the whole VALIDATE scan, as if NOT VALID were not there",
		Fix:  "move the VALIDATE CONSTRAINT to the next migration"},
	{ID: "volatile-default", Severity: Error, Title: "column added with a volatile DEFAULT",
		Lock: "ACCESS EXCLUSIVE for a full table rewrite",
		Why:  "a volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval(), serial, identity) is computed per row, so the whole table is rewritten while reads and writes wait",
		Fix:  "add the column without a default, set the default for new rows, backfill the others in batches"},
	{ID: "column-type-change", Severity: Error, Title: "column type changed",
		Lock: "ACCESS EXCLUSIVE, usually with a table rewrite and index rebuilds",
		Why:  "most type changes rewrite the table and its indexes while reads and writes wait",
		Fix:  "add a column of the new type, write both, backfill in batches, switch reads, drop the old column later"},
	{ID: "rename-column", Severity: Warning, Title: "column renamed",
		Lock: "ACCESS EXCLUSIVE (brief)",
		Why:  "instances of the release still running use the old name and fail until they are replaced",
		Fix:  "add the new column, write both, backfill, switch reads, drop the old one in a later release"},
	{ID: "rename-table", Severity: Warning, Title: "table renamed",
		Lock: "ACCESS EXCLUSIVE (brief)",
		Why:  "instances of the release still running use the old name and fail until they are replaced",
		Fix:  "rename it and leave an updatable view under the old name until the next release"},
	{ID: "drop-column", Severity: Warning, Title: "column dropped",
		Lock: "ACCESS EXCLUSIVE (brief)",
		Why:  "the release still running may read or write it, and its data is gone for good",
		Fix:  "release code that no longer uses it first, then drop it in a later migration"},
	{ID: "drop-table", Severity: Warning, Title: "table dropped",
		Lock: "ACCESS EXCLUSIVE",
		Why:  "the release still running may use it, and its data is gone for good",
		Fix:  "release code that no longer uses it first, then drop it in a later migration"},
	{ID: "add-unique-constraint", Severity: Error, Title: "PRIMARY KEY or UNIQUE constraint added to an existing table",
		Lock: "ACCESS EXCLUSIVE while the unique index is built",
		Why:  "reads and writes of the table wait while the unique index is built",
		Fix:  "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX"},
	{ID: "not-null-without-default", Severity: Error, Title: "NOT NULL column added without a DEFAULT",
		Lock: "ACCESS EXCLUSIVE",
		Why:  "the statement fails on any table that has rows",
		Fix:  "give it a constant default (instant since PostgreSQL 11), or add it nullable, backfill, and stage NOT NULL"},
	{ID: "truncate-cascade", Severity: Warning, Title: "TRUNCATE ... CASCADE",
		Lock: "ACCESS EXCLUSIVE on every table reached",
		Why:  "every table that references these is emptied too, recursively, whether or not you meant it",
		Fix:  "name every table to empty, without CASCADE"},
	{ID: "vacuum-full", Severity: Error, Title: "VACUUM FULL",
		Lock: "ACCESS EXCLUSIVE for a full rewrite",
		Why:  "the table can be neither read nor written until the rewrite ends",
		Fix:  "plain VACUUM, or pg_repack outside the migration"},
	{ID: "cluster", Severity: Error, Title: "CLUSTER",
		Lock: "ACCESS EXCLUSIVE for a full rewrite",
		Why:  "the table can be neither read nor written until the rewrite ends",
		Fix:  "pg_repack outside the migration"},
	{ID: "transaction-control", Severity: Error, Title: "BEGIN, COMMIT or ROLLBACK inside a migration",
		Lock: "—",
		Why:  "the migrator already runs each migration in a transaction, and a COMMIT inside ends it early, so a later failure leaves the migration half applied and unrecorded",
		Fix:  "delete the statement; statements that cannot run in a transaction are run outside one already"},
	{ID: "enum-value-same-transaction", Severity: Error, Title: "new enum value used in the transaction that adds it",
		Lock: "—",
		Why:  "PostgreSQL refuses a value added by ALTER TYPE ... ADD VALUE until the adding transaction commits (with the default --tx all, every pending migration is one transaction, as with drizzle-orm)",
		Fix:  "add the value in one migration and use it in a later one, applied in a later deploy or with upshift migrate --tx each"},
	{ID: "commit-before-concurrently", Severity: Info, Title: "COMMIT that ends drizzle-orm's transaction before CONCURRENTLY statements",
		Lock: "—",
		Why:  "drizzle-orm runs every migration in one transaction, and a COMMIT before CREATE INDEX CONCURRENTLY is the known way out of it; upshift runs a migration with such statements outside a transaction already, one statement at a time (resuming at a failed one), so the COMMIT is unnecessary there and harmless (PostgreSQL answers it with a warning that no transaction is in progress)",
		Fix:  "nothing to do while drizzle-orm may run this folder; once only upshift does, the COMMIT can go"},
	{ID: "commit-before-validate", Severity: Warning, Title: "COMMIT that ends the migration's transaction before VALIDATE CONSTRAINT",
		Lock: "—",
		Why:  "a deliberate way to validate a NOT VALID constraint without holding the transaction's locks during the scan; but the statements before the COMMIT are committed at once and those after it each run on their own, so a failure after the COMMIT leaves the migration applied up to it and unrecorded, and a rerun runs the statements before it again",
		Fix:  "keep every statement before the COMMIT safe to run twice (guards such as IF NOT EXISTS, or DO blocks that ignore duplicate_object); or move the VALIDATE CONSTRAINT statements into a migration of their own, which needs no COMMIT"},
	{ID: "missing-lock-timeout", Severity: Info, Title: "no lock_timeout before DDL on an existing table",
		Lock: "—",
		Why:  "while the table is busy the statement waits for its lock, and every query on the table queues behind it",
		Fix:  "SET lock_timeout first in the migration, or upshift migrate --lock-timeout"},
	{ID: "prefer-identity", Severity: Info, Title: "serial column",
		Lock: "—",
		Why:  "an identity column does the same with standard SQL, and its sequence follows the column's permissions and ownership",
		Fix:  "declare it GENERATED ALWAYS AS IDENTITY"},
	{ID: "parse-error", Severity: Error, Title: "statement PostgreSQL's parser rejects",
		Lock: "—",
		Why:  "the server would refuse the migration",
		Fix:  "correct the statement at the line and column given"},
	{ID: "ignore-unknown-rule", Severity: Warning, Title: "upshift:ignore names a rule that does not exist",
		Lock: "—",
		Why:  "it silences nothing, so the finding it was meant for is still reported, or the comment hides a typo",
		Fix:  "name an existing rule id"},
	{ID: "invalid-index", Severity: Error, Title: "index already INVALID in the database",
		Lock: "—",
		Why:  "a failed concurrent build left it behind: queries do not use it, yet every write still maintains it",
		Fix:  "drop it concurrently and build it again"},
}

// RuleByID finds a rule.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// breaking are the rules whose statements contract the schema that the
// release still running reads and writes: a column or table dropped or
// renamed, a type changed, NOT NULL added to an existing column. A rolling
// or migrate-first upgrade, which migrates while the old release serves,
// refuses them: they belong in a later, contracting release.
var breaking = map[string]bool{
	"drop-column": true, "drop-table": true, "rename-column": true, "rename-table": true,
	"column-type-change": true, "set-not-null": true,
}

// Breaking reports whether findings of the rule break the running release.
func Breaking(ruleID string) bool { return breaking[ruleID] }
