// Package maint is the monthly database routine as functions: ANALYZE,
// VACUUM (never FULL unless asked), and a bloat report that says, table by
// table, whether autovacuum keeps up and what to do when it does not.
package maint

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Table names a table as schema.name (or name, resolved by search_path),
// each part as it is spelled (public.Events) or quoted as SQL quotes it
// (public."Events", "my.schema".t).
type Table string

func (t Table) ident() (string, error) {
	var parts []string
	var cur strings.Builder
	quoted, inQuotes := false, false
	s := string(t)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' && inQuotes && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			inQuotes, quoted = !inQuotes, true
		case c == '.' && !inQuotes:
			parts = append(parts, cur.String())
			cur.Reset()
			quoted = false
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	if inQuotes || len(parts) > 2 || slices.Contains(parts, "") && !quoted {
		return "", fmt.Errorf("%q is not a table name (schema.table or table)", s)
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// Result is one maintenance statement that ran.
type Result struct {
	SQL        string  `json:"sql"`
	DurationMS float64 `json:"duration_ms"`
}

// Analyze runs ANALYZE on the tables (the whole database when none).
func Analyze(ctx context.Context, conn *pgx.Conn, tables []Table) ([]Result, error) {
	return run(ctx, conn, "ANALYZE", tables)
}

// VacuumOptions say which VACUUM.
type VacuumOptions struct {
	Analyze bool
	// Full rewrites every table under an ACCESS EXCLUSIVE lock: reads and
	// writes wait for the whole rewrite. Only on request.
	Full   bool
	Tables []Table
}

// Vacuum runs VACUUM [(FULL, ANALYZE)] on the tables (the whole database
// when none). VACUUM cannot run inside a transaction: conn must be idle.
func Vacuum(ctx context.Context, conn *pgx.Conn, o VacuumOptions) ([]Result, error) {
	var opts []string
	if o.Full {
		opts = append(opts, "FULL")
	}
	if o.Analyze {
		opts = append(opts, "ANALYZE")
	}
	verb := "VACUUM"
	if len(opts) > 0 {
		verb += " (" + strings.Join(opts, ", ") + ")"
	}
	return run(ctx, conn, verb, o.Tables)
}

func run(ctx context.Context, conn *pgx.Conn, verb string, tables []Table) ([]Result, error) {
	var sqls []string
	if len(tables) == 0 {
		sqls = []string{verb}
	}
	for _, t := range tables {
		id, err := t.ident()
		if err != nil {
			return nil, err
		}
		sqls = append(sqls, verb+" "+id)
	}
	var out []Result
	for _, sql := range sqls {
		start := time.Now()
		if _, err := conn.Exec(ctx, sql); err != nil {
			return out, fmt.Errorf("%s: %w", sql, err)
		}
		out = append(out, Result{SQL: sql, DurationMS: float64(time.Since(start).Microseconds()) / 1000})
	}
	return out, nil
}

// TableStat is one table's dead tuples, size, maintenance history and the
// autovacuum threshold that applies to it.
type TableStat struct {
	Schema          string     `json:"schema"`
	Table           string     `json:"table"`
	LiveTuples      int64      `json:"live_tuples"`
	DeadTuples      int64      `json:"dead_tuples"`
	DeadRatio       float64    `json:"dead_ratio"`
	SizeBytes       int64      `json:"size_bytes"`
	Size            string     `json:"size"`
	LastVacuum      *time.Time `json:"last_vacuum"`
	LastAutovacuum  *time.Time `json:"last_autovacuum"`
	LastAnalyze     *time.Time `json:"last_analyze"`
	LastAutoanalyze *time.Time `json:"last_autoanalyze"`
	// VacuumThreshold is the dead tuples at which autovacuum vacuums it:
	// autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor ×
	// reltuples, with the table's own storage parameters where set.
	VacuumThreshold float64 `json:"vacuum_threshold"`
	OwnSettings     bool    `json:"own_settings"` // the table sets its own autovacuum parameters
	Suggestion      string  `json:"suggestion"`
}

// Bloat lists the tables with at least minDead dead tuples, most first:
// the guide's query, plus each table's autovacuum threshold and a
// suggestion.
func Bloat(ctx context.Context, conn *pgx.Conn, minDead int64) ([]TableStat, error) {
	var baseThreshold, baseScale float64
	var autovacuum string
	err := conn.QueryRow(ctx, `SELECT current_setting('autovacuum_vacuum_threshold')::float8,
       current_setting('autovacuum_vacuum_scale_factor')::float8, current_setting('autovacuum')`).Scan(&baseThreshold, &baseScale, &autovacuum)
	if err != nil {
		return nil, fmt.Errorf("read autovacuum settings: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup,
       pg_catalog.pg_total_relation_size(s.relid), pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size(s.relid)),
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       greatest(c.reltuples, 0)::float8, coalesce(c.reloptions, '{}')
FROM pg_catalog.pg_stat_user_tables s
JOIN pg_catalog.pg_class c ON c.oid = s.relid
WHERE s.n_dead_tup >= $1
ORDER BY s.n_dead_tup DESC, s.schemaname, s.relname`, minDead)
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_user_tables: %w", err)
	}
	type raw struct {
		TableStat
		reltuples float64
		options   []string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (raw, error) {
		var x raw
		err := r.Scan(&x.Schema, &x.Table, &x.LiveTuples, &x.DeadTuples, &x.SizeBytes, &x.Size,
			&x.LastVacuum, &x.LastAutovacuum, &x.LastAnalyze, &x.LastAutoanalyze, &x.reltuples, &x.options)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_user_tables: %w", err)
	}
	out := make([]TableStat, 0, len(list))
	for _, x := range list {
		t := x.TableStat
		threshold, scale := baseThreshold, baseScale
		enabled := autovacuum == "on"
		for _, o := range x.options {
			k, v, _ := strings.Cut(o, "=")
			f, perr := strconv.ParseFloat(v, 64)
			switch k {
			case "autovacuum_vacuum_threshold":
				if perr == nil {
					threshold, t.OwnSettings = f, true
				}
			case "autovacuum_vacuum_scale_factor":
				if perr == nil {
					scale, t.OwnSettings = f, true
				}
			case "autovacuum_enabled":
				enabled = v == "true" || v == "on"
				t.OwnSettings = true
			}
		}
		t.VacuumThreshold = threshold + scale*x.reltuples
		if total := t.LiveTuples + t.DeadTuples; total > 0 {
			t.DeadRatio = float64(t.DeadTuples) / float64(total)
		}
		t.Suggestion = suggest(t, enabled)
		out = append(out, t)
	}
	return out, nil
}

// suggest says what to do about one table.
func suggest(t TableStat, autovacuum bool) string {
	name := pgx.Identifier{t.Schema, t.Table}.Sanitize()
	switch {
	case !autovacuum:
		return fmt.Sprintf("autovacuum is off for this table: VACUUM (ANALYZE) %s, and turn it back on (ALTER TABLE %s RESET (autovacuum_enabled))", name, name)
	case float64(t.DeadTuples) > t.VacuumThreshold && t.DeadRatio > 0.2:
		return fmt.Sprintf("autovacuum is behind (%.0f%% dead): VACUUM (ANALYZE) %s now; if it keeps falling behind, let it start sooner: ALTER TABLE %s SET (autovacuum_vacuum_scale_factor = 0.05)", 100*t.DeadRatio, name, name)
	case float64(t.DeadTuples) > t.VacuumThreshold:
		return fmt.Sprintf("over autovacuum's threshold; it should run soon (or: VACUUM (ANALYZE) %s)", name)
	case t.LastAnalyze == nil && t.LastAutoanalyze == nil:
		return fmt.Sprintf("never analyzed: the planner guesses its row counts; ANALYZE %s", name)
	}
	return "autovacuum keeps up; nothing to do"
}

// Latest is the later of a manual and an automatic run, for people:
// "2026-11-30 01:00 (auto)", or "never".
func Latest(manual, auto *time.Time) string {
	var t *time.Time
	kind := ""
	switch {
	case manual != nil && (auto == nil || manual.After(*auto)):
		t, kind = manual, ""
	case auto != nil:
		t, kind = auto, " (auto)"
	}
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04") + kind
}
