package migrate

import (
	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/drizzle/kitconfig"
	"github.com/upshift-dev/upshift/lint"
	"github.com/upshift-dev/upshift/migrate/result"
)

// Document starts the result document of a run on src: the folder, its
// warnings, and every list empty.
func Document(src *drizzle.Source, table drizzle.Table, dryRun bool) *result.Document {
	d := result.New()
	d.Dir, d.Layout, d.Table, d.DryRun = src.Dir, string(src.Layout), table.String(), dryRun
	for _, w := range src.Warnings {
		d.Warnings = append(d.Warnings, Warning(w))
	}
	return d
}

// Fill adds what the run found and did, as far as it got.
func (r *Report) Fill(d *result.Document) {
	if r == nil {
		return
	}
	if r.Pending != nil {
		d.Pending = r.Pending
	}
	for _, w := range r.Warnings {
		d.Warnings = append(d.Warnings, Warning(w))
	}
	outcome := map[string]drizzle.Outcome{}
	for _, m := range r.Migrations {
		outcome[m.Tag] = m.State
		d.Migrations = append(d.Migrations, result.Migration{Tag: m.Tag, State: string(m.State),
			StatementsCommitted: append([]int{}, m.Committed...), Note: m.Note})
	}
	for _, a := range r.Applied {
		if o, ok := outcome[a.Tag]; ok && o != drizzle.OutcomeApplied {
			continue // ran, then rolled back (or undone by a migration's own ROLLBACK)
		}
		d.Applied = append(d.Applied, result.Applied{Tag: a.Tag, File: a.File, Statements: a.Statements,
			NoTransaction: a.NoTransaction, DurationMS: float64(a.Duration.Microseconds()) / 1000})
	}
	// Every warning- and error-level finding, each saying whether its
	// table existed; a deploy's text shows those that do.
	for _, f := range r.Lint {
		d.Lint = append(d.Lint, Finding(f))
	}
	d.Script = r.Script
}

// Warning is a folder or table warning in the document.
func Warning(w drizzle.Warning) result.Warning {
	return result.Warning{Path: w.Path, Line: w.Line, Tag: w.Tag, Message: w.Msg}
}

// Finding is a lint finding in the document, with whether it contracts
// the schema a running older version uses.
func Finding(f lint.Finding) result.Finding {
	return result.Finding{Rule: f.Rule, Severity: string(f.Severity), File: f.File, Line: f.Line, Column: f.Column,
		Object: f.Object, Table: f.Table, Existing: f.Existing, Statement: f.Statement, Message: f.Message, Fix: f.Fix,
		Breaking: lint.Breaking(f.Rule)}
}

// Settings are where the folder, the table and the database came from,
// for the documents (never the URL itself: it may hold a password).
func Settings(s *kitconfig.Settings) map[string]result.Setting {
	out := map[string]result.Setting{}
	if s == nil {
		return out
	}
	out["dir"] = result.Setting{Value: s.Dir.Value, From: s.Dir.From}
	out["migrations_schema"] = result.Setting{Value: s.Schema.Value, From: s.Schema.From}
	out["migrations_table"] = result.Setting{Value: s.Table.Value, From: s.Table.From}
	if s.URL.From != "" {
		out["database_url"] = result.Setting{From: s.URL.From}
	}
	return out
}
