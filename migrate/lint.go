package migrate

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/lint"
)

// LintRequest is a review of migrations (`upshift lint`): a folder, or
// plain files, with or without the database they are for.
type LintRequest struct {
	Source *drizzle.Source // the folder; nil when Files are given
	Files  []lint.File     // plain .sql files instead of a folder
	// Conn, when set, is the database: only the pending migrations are
	// linted (every one with All), tables are judged by their real size,
	// and indexes already INVALID are reported.
	Conn    *pgx.Conn
	Table   drizzle.Table
	All     bool
	MinRows float64
	Level   lint.Severity
	// From (a tag) or Latest (a count) report only the newest migrations;
	// the earlier ones still say which tables exist.
	From   string
	Latest int
}

// LintReport is what a review found.
type LintReport struct {
	Files    int            // files linted
	Reported int            // of which reported (From, Latest)
	Findings []lint.Finding // at Level or above
	Errors   int            // error-level findings, whatever Level
}

// UnknownTagError is a From that names no migration of the folder.
type UnknownTagError struct {
	Tag, Dir, Newest string
}

func (e *UnknownTagError) Error() string {
	return fmt.Sprintf("no migration of %s has the tag %s (the newest is %s)", e.Dir, e.Tag, e.Newest)
}

// Lint reviews the migrations as the request says. Without a database each
// migration is judged as the deploy that applied it: what the earlier ones
// created exists; with one, the pending set is judged as the deploy that
// will apply it.
func Lint(ctx context.Context, req LintRequest) (*LintReport, error) {
	files := req.Files
	if files == nil && req.Source != nil {
		ms := req.Source.Migrations
		if req.Conn != nil && !req.All {
			shape, rows, err := drizzle.ReadTable(ctx, req.Conn, req.Table)
			if err != nil {
				return nil, err
			}
			ms = nil
			for _, e := range drizzle.NewPlan(req.Source, req.Table, shape, rows).Pending(true) {
				ms = append(ms, e.Migration)
			}
		}
		files = Files(req.Source, ms)
	}
	files = lint.Prepare(files)
	opts := lint.Options{PerMigration: req.Conn == nil || req.All}
	var extra []lint.Finding
	if req.Conn != nil {
		var err error
		if opts, err = lint.Load(ctx, req.Conn, files); err != nil {
			return nil, err
		}
		if extra, err = lint.InvalidIndexes(ctx, req.Conn); err != nil {
			return nil, err
		}
		opts.MinRows, opts.PerMigration = req.MinRows, req.All
	}
	opts.Level = req.Level
	switch {
	case req.From != "":
		from, err := fromTag(req.Source, files, req.From)
		if err != nil {
			return nil, err
		}
		opts.From = from
	case req.Latest > 0:
		opts.From = max(0, len(files)-req.Latest)
	}
	rep := &LintReport{Files: len(files), Reported: len(files) - opts.From, Findings: []lint.Finding{}}
	for _, f := range append(extra, lint.Lint(files, opts)...) {
		if f.Severity == lint.Error {
			rep.Errors++
		}
		if f.Severity.AtLeast(req.Level) {
			rep.Findings = append(rep.Findings, f)
		}
	}
	return rep, nil
}

// fromTag is the position of migration tag among the files linted (past
// them all when it is applied already: none is reported).
func fromTag(src *drizzle.Source, files []lint.File, tag string) (int, error) {
	if src == nil {
		return 0, fmt.Errorf("a tag names a migration of a folder, and these are plain files")
	}
	newest := ""
	for _, m := range src.Migrations {
		newest = m.Tag
		if m.Tag != tag {
			continue
		}
		for i, f := range files {
			if f.Path == src.Path(m.File) {
				return i, nil
			}
		}
		return len(files), nil
	}
	return 0, &UnknownTagError{Tag: tag, Dir: src.Dir, Newest: newest}
}
