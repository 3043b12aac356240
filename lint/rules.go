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
		Why:  "every row is rewritten while reads and writes wait; on a large table this outlasts statement_timeout (the 2026-05-16 outage)",
		Fix:  "add a plain nullable column, keep it filled by a trigger, backfill in batches outside the migration:\n  ALTER TABLE events ADD COLUMN search tsvector;\n  CREATE FUNCTION events_search() RETURNS trigger AS $$ BEGIN NEW.search := to_tsvector('simple', NEW.body); RETURN NEW; END $$ LANGUAGE plpgsql;\n  CREATE TRIGGER events_search BEFORE INSERT OR UPDATE ON events FOR EACH ROW EXECUTE FUNCTION events_search();\n  -- then, in batches: UPDATE events SET search = to_tsvector('simple', body) WHERE id BETWEEN $1 AND $2 AND search IS NULL;"},
	{ID: "create-index-non-concurrently", Severity: Error, Title: "CREATE INDEX without CONCURRENTLY on an existing table",
		Lock: "SHARE: blocks INSERT, UPDATE and DELETE for the whole build",
		Why:  "writes to the table wait until the index is built",
		Fix:  "build it concurrently, alone in its migration (upshift runs it outside a transaction):\n  CREATE INDEX CONCURRENTLY idx_events_created_at ON events (created_at);"},
	{ID: "drop-index-non-concurrently", Severity: Warning, Title: "DROP INDEX without CONCURRENTLY",
		Lock: "ACCESS EXCLUSIVE on the index's table",
		Why:  "reads and writes of the table wait behind the drop, and behind any long query before it",
		Fix:  "DROP INDEX CONCURRENTLY IF EXISTS idx_events_old;"},
	{ID: "reindex-non-concurrently", Severity: Warning, Title: "REINDEX without CONCURRENTLY",
		Lock: "ACCESS EXCLUSIVE on the index (SHARE on the table) for the rebuild",
		Why:  "queries using the index and writes to the table wait for the whole rebuild",
		Fix:  "REINDEX INDEX CONCURRENTLY idx_events_user_id;"},
	{ID: "set-not-null", Severity: Error, Title: "SET NOT NULL without a validated CHECK staged first",
		Lock: "ACCESS EXCLUSIVE while every row is scanned",
		Why:  "PostgreSQL scans the whole table to prove no NULL exists, with reads and writes blocked; a validated CHECK (col IS NOT NULL) lets it skip the scan",
		Fix:  "stage it over three migrations:\n  ALTER TABLE events ADD CONSTRAINT events_user_id_not_null CHECK (user_id IS NOT NULL) NOT VALID;\n  ALTER TABLE events VALIDATE CONSTRAINT events_user_id_not_null;  -- next migration: SHARE UPDATE EXCLUSIVE, writes go on\n  ALTER TABLE events ALTER COLUMN user_id SET NOT NULL;               -- now instant\n  ALTER TABLE events DROP CONSTRAINT events_user_id_not_null;"},
	{ID: "cascade-on-dependent", Severity: Warning, Title: "foreign key with ON DELETE CASCADE / SET NULL / SET DEFAULT",
		Lock: "row locks on every dependent row, taken inside the parent's DELETE",
		Why:  "deleting one parent row updates or deletes all its dependents in the same statement; onto a wide dependent table that is seconds per delete (13 s per call in the lobu incident)",
		Fix:  "index the referencing column, and null or delete dependents in batches before deleting the parent:\n  CREATE INDEX CONCURRENTLY idx_events_connection_id ON events (connection_id);\n  -- app/job: UPDATE events SET connection_id = NULL WHERE id IN (SELECT id FROM events WHERE connection_id = $1 LIMIT 1000);"},
	{ID: "fk-without-index", Severity: Warning, Title: "foreign key whose referencing columns have no index",
		Lock: "—",
		Why:  "every delete or key update of a parent row scans the whole referencing table to find dependents (cascades fall back to sequential scans)",
		Fix:  "CREATE INDEX CONCURRENTLY idx_events_connection_id ON events (connection_id);"},
	{ID: "concurrently-mixed", Severity: Error, Title: "CONCURRENTLY together with transactional statements in one migration",
		Lock: "—",
		Why:  "the migration cannot run in one transaction: if a later statement fails, the earlier ones stay applied and the migration is half done (drizzle-orm cannot run it at all)",
		Fix:  "put each CONCURRENTLY statement in a migration of its own (drizzle-kit generate --custom)"},
	{ID: "concurrently-if-not-exists", Severity: Error, Title: "CREATE INDEX CONCURRENTLY IF NOT EXISTS",
		Lock: "—",
		Why:  "a failed concurrent build leaves an INVALID index with that name; IF NOT EXISTS then skips the rebuild forever and the planner never uses it (upshift drops such indexes before a rerun; other tools do not)",
		Fix:  "drop a leftover first, then build:\n  DROP INDEX CONCURRENTLY IF EXISTS idx_events_created_at;\n  CREATE INDEX CONCURRENTLY idx_events_created_at ON events (created_at);"},
	{ID: "constraint-missing-not-valid", Severity: Error, Title: "FOREIGN KEY or CHECK constraint added without NOT VALID",
		Lock: "SHARE ROW EXCLUSIVE (FK) or ACCESS EXCLUSIVE (CHECK) while every row is checked",
		Why:  "the whole table is scanned to validate existing rows with writes blocked",
		Fix:  "add it NOT VALID, validate it in a later migration:\n  ALTER TABLE events ADD CONSTRAINT events_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n  ALTER TABLE events VALIDATE CONSTRAINT events_user_fk;  -- next migration"},
	{ID: "validate-same-migration", Severity: Warning, Title: "constraint validated in the migration that added it NOT VALID",
		Lock: "the ADD's lock is still held while VALIDATE scans",
		Why:  "in one transaction, NOT VALID + VALIDATE blocks writes for the whole scan, as if NOT VALID were not there",
		Fix:  "move ALTER TABLE ... VALIDATE CONSTRAINT ... to the next migration"},
	{ID: "volatile-default", Severity: Error, Title: "column added with a volatile DEFAULT",
		Lock: "ACCESS EXCLUSIVE for a full table rewrite",
		Why:  "a volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval(), serial) must be computed per row, so the table is rewritten",
		Fix:  "add the column without a default, set the default for new rows, backfill in batches:\n  ALTER TABLE events ADD COLUMN public_id uuid;\n  ALTER TABLE events ALTER COLUMN public_id SET DEFAULT gen_random_uuid();\n  -- in batches: UPDATE events SET public_id = gen_random_uuid() WHERE public_id IS NULL AND id BETWEEN $1 AND $2;"},
	{ID: "column-type-change", Severity: Error, Title: "column type changed",
		Lock: "ACCESS EXCLUSIVE, usually with a table rewrite and index rebuilds",
		Why:  "most type changes rewrite the table and its indexes with reads and writes blocked",
		Fix:  "add a column of the new type, dual-write, backfill in batches, switch reads, drop the old column later"},
	{ID: "rename-column", Severity: Warning, Title: "column renamed",
		Lock: "ACCESS EXCLUSIVE (brief)",
		Why:  "running instances of the previous release still use the old name and fail until they are replaced",
		Fix:  "add the new column, dual-write, backfill, switch reads, drop the old one in a later release"},
	{ID: "rename-table", Severity: Warning, Title: "table renamed",
		Lock: "ACCESS EXCLUSIVE (brief)",
		Why:  "running instances of the previous release still use the old name and fail until they are replaced",
		Fix:  "create the new table (or a view with the old name) and move over in steps"},
	{ID: "drop-column", Severity: Warning, Title: "column dropped",
		Lock: "ACCESS EXCLUSIVE (brief)",
		Why:  "the previous release may still read or write it; data is gone for good",
		Fix:  "stop using it in code first, release, wait, then drop it"},
	{ID: "drop-table", Severity: Warning, Title: "table dropped",
		Lock: "ACCESS EXCLUSIVE",
		Why:  "the previous release may still use it; data is gone for good",
		Fix:  "stop using it in code first, release, wait, then drop it"},
	{ID: "add-unique-constraint", Severity: Error, Title: "PRIMARY KEY or UNIQUE constraint added to an existing table",
		Lock: "ACCESS EXCLUSIVE while the unique index is built",
		Why:  "building the index blocks reads and writes of the table",
		Fix:  "build the index concurrently, then attach it:\n  CREATE UNIQUE INDEX CONCURRENTLY events_external_id_key ON events (external_id);\n  ALTER TABLE events ADD CONSTRAINT events_external_id_key UNIQUE USING INDEX events_external_id_key;"},
	{ID: "not-null-without-default", Severity: Error, Title: "NOT NULL column added without a DEFAULT",
		Lock: "ACCESS EXCLUSIVE",
		Why:  "it fails on any table that has rows",
		Fix:  "give it a constant default (instant since PostgreSQL 11), or add it nullable, backfill, and stage SET NOT NULL:\n  ALTER TABLE events ADD COLUMN status text NOT NULL DEFAULT 'new';"},
	{ID: "truncate-cascade", Severity: Warning, Title: "TRUNCATE ... CASCADE",
		Lock: "ACCESS EXCLUSIVE on every table reached",
		Why:  "it also empties every table that references this one, recursively",
		Fix:  "truncate the intended tables by name"},
	{ID: "vacuum-full", Severity: Error, Title: "VACUUM FULL",
		Lock: "ACCESS EXCLUSIVE for a full rewrite",
		Why:  "the table is unreadable and unwritable until the rewrite ends",
		Fix:  "use plain VACUUM, or pg_repack outside the migration"},
	{ID: "cluster", Severity: Error, Title: "CLUSTER",
		Lock: "ACCESS EXCLUSIVE for a full rewrite",
		Why:  "the table is unreadable and unwritable until the rewrite ends",
		Fix:  "use pg_repack outside the migration"},
	{ID: "transaction-control", Severity: Error, Title: "BEGIN, COMMIT or ROLLBACK inside a migration",
		Lock: "—",
		Why:  "the migrator already runs migrations in a transaction; a COMMIT inside ends it early, so a later failure leaves the migration half applied and unrecorded",
		Fix:  "remove them; for statements that cannot run in a transaction, start the file with -- upshift:no-transaction"},
	{ID: "enum-value-same-transaction", Severity: Error, Title: "new enum value used in the transaction that adds it",
		Lock: "—",
		Why:  "PostgreSQL refuses to use a value added by ALTER TYPE ... ADD VALUE before the adding transaction commits (with --tx all, all pending migrations are one transaction)",
		Fix:  "add the value in one migration and use it in a later one applied with --tx each, or in a later deploy"},
	{ID: "missing-lock-timeout", Severity: Info, Title: "no lock_timeout before DDL on an existing table",
		Lock: "—",
		Why:  "if the table is busy, the ALTER waits for its lock and every query behind it queues too",
		Fix:  "SET lock_timeout = '5s';  -- first statement of the migration, or upshift migrate --lock-timeout 5s"},
	{ID: "prefer-identity", Severity: Info, Title: "serial column",
		Lock: "—",
		Why:  "identity columns are the SQL-standard replacement with clearer permissions and ownership",
		Fix:  "id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
	{ID: "parse-error", Severity: Error, Title: "statement PostgreSQL's parser rejects",
		Lock: "—",
		Why:  "the migration would fail on the server",
		Fix:  "fix the syntax"},
	{ID: "invalid-index", Severity: Error, Title: "index already INVALID in the database",
		Lock: "—",
		Why:  "a failed CONCURRENTLY build left it behind; queries do not use it, writes still maintain it",
		Fix:  "DROP INDEX CONCURRENTLY IF EXISTS <index>; then build it again"},
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
