package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/drizzle/kitconfig"
	"github.com/upshift-dev/upshift/internal/ghactions"
	"github.com/upshift-dev/upshift/lint"
	"github.com/upshift-dev/upshift/migrate"
)

// LintCmd checks migrations for statements that lock or rewrite busy
// tables.
type LintCmd struct {
	FolderFlags
	TableFlags
	Files       []string `arg:"" optional:"" name:"file" help:"Plain .sql files to lint, in order (instead of the migrations folder). Printed as given."`
	DatabaseURL string   `name:"database-url" placeholder:"URL" help:"Lint only the pending migrations, as the deploy will apply them: tables the database has are judged by their real size, tables the pending set creates are new. Also reports invalid indexes."`
	All         bool     `name:"all" help:"With --database-url, lint every migration of the folder, not only the pending ones."`
	From        string   `name:"from" placeholder:"TAG" help:"Report only the migrations from TAG on; the earlier ones still say which tables exist (a pull request's new migrations: --from its first tag)."`
	Latest      int      `name:"latest" placeholder:"N" help:"Report only the newest N migrations; the earlier ones still say which tables exist (--latest 1 in a pull-request check)."`
	MinRows     float64  `name:"min-rows" default:"0" help:"With --database-url, let tables with fewer estimated rows pass the rules about existing tables."`
	Format      string   `name:"format" enum:"text,json,github" default:"text" help:"text, json, or github (workflow annotations for pull requests)."`
	Level       string   `name:"level" enum:"info,warning,error" default:"warning" help:"Lowest severity to report."`
}

func (c *LintCmd) Run(ctx context.Context, env *Env) error {
	var settings *kitconfig.Settings
	if len(c.Files) == 0 {
		// The database is --database-url's alone: lint connects only
		// when asked to.
		var err error
		if settings, err = resolveSettings(env, &c.FolderFlags, &c.TableFlags, nil, c.Format == "json"); err != nil {
			return err
		}
	}
	var files []lint.File
	if len(c.Files) > 0 {
		for _, p := range c.Files {
			b, err := os.ReadFile(p)
			if err != nil {
				return &exitError{code: ExitUsage, err: fmt.Errorf("%w\n  hint: name .sql files by a path relative to the current folder or an absolute one; without files, lint reads the migrations folder (--dir)", err)}
			}
			files = append(files, lint.File{Path: p, Text: drizzle.OwnText(b)})
		}
	}
	var opts lint.Options
	var extra []lint.Finding
	var src *drizzle.Source
	if c.DatabaseURL != "" {
		flags := DBFlags{DatabaseURL: c.DatabaseURL, ConnectWindow: Seconds(10 * time.Second), ConnectBackoff: Seconds(250 * time.Millisecond)}
		conn, cfg, err := flags.Connect(ctx, env)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		if files == nil {
			if src, files, err = c.folderFiles(ctx, env, conn); err != nil {
				return redactErr(cfg.Redactor(), err)
			}
		}
		files = lint.Prepare(files)
		if opts, extra, err = dbLintOptions(ctx, conn, files, c.MinRows); err != nil {
			return redactErr(cfg.Redactor(), err)
		}
	} else if files == nil {
		var err error
		if src, err = c.Load(env); err != nil {
			return err
		}
		files = migrate.Files(src, src.Migrations)
	}
	opts.Level = lint.Severity(c.Level)
	// Without a database, and with --all, each migration is judged as the
	// deploy that applied it: what the earlier ones created exists.
	opts.PerMigration = c.DatabaseURL == "" || c.All
	switch {
	case c.From != "" && c.Latest > 0:
		return &exitError{code: ExitUsage, err: fmt.Errorf("--from and --latest both say which migrations to report: pass one")}
	case c.From != "":
		from, err := fromIndex(src, files, c.From)
		if err != nil {
			return err
		}
		opts.From = from
	case c.Latest < 0:
		return &exitError{code: ExitUsage, err: fmt.Errorf("--latest %d: must not be negative", c.Latest)}
	case c.Latest > 0:
		opts.From = max(0, len(files)-c.Latest)
	}
	if c.DatabaseURL == "" {
		files = lint.Prepare(files)
	}
	findings := append(extra, lint.Lint(files, opts)...)
	var shown []lint.Finding
	errors := 0
	for _, f := range findings {
		if f.Severity == lint.Error {
			errors++
		}
		if f.Severity.AtLeast(lint.Severity(c.Level)) {
			shown = append(shown, f)
		}
	}
	switch c.Format {
	case "json":
		if shown == nil {
			shown = []lint.Finding{}
		}
		if err := writeJSON(env.Stdout, map[string]any{"findings": shown, "files": len(files), "errors": errors, "settings": settingsJSON(settings)}); err != nil {
			return err
		}
	case "github":
		for _, f := range shown {
			fmt.Fprintln(env.Stdout, githubAnnotation(f))
		}
	default:
		printFindings(env.Stdout, shown, true)
		linted := plural(len(files), "file") + " linted"
		if opts.From > 0 {
			linted += fmt.Sprintf(", the last %d reported", len(files)-opts.From)
		}
		fmt.Fprintf(env.Stdout, "%s: %s\n", linted, countBySeverity(shown))
	}
	// In a workflow, annotations on the pull request's lines and a summary,
	// whatever the format (--format github prints them already).
	if gh := ghactions.New(env.Stderr); gh.On {
		if c.Format != "github" {
			for _, f := range shown {
				fmt.Fprintln(env.Stderr, githubAnnotation(f))
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "### upshift lint: %s in %s\n\n", countBySeverity(shown), plural(len(files), "file"))
		if len(shown) > 0 {
			b.WriteString("| where | rule | severity | finding |\n|---|---|---|---|\n")
			for _, f := range shown {
				where := fmt.Sprintf("%s:%d", f.File, f.Line)
				if f.File == "" {
					where = f.Object
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", ghactions.Cell(where), f.Rule, f.Severity, ghactions.Cell(f.Message))
			}
			b.WriteString("\n")
		}
		gh.Summarize(b.String())
		gh.Output("findings", fmt.Sprint(len(shown)), "errors", fmt.Sprint(errors))
	}
	if errors > 0 {
		return &exitError{code: ExitFailed, err: fmt.Errorf("%s at error level; fix them, or silence one with `-- upshift:ignore RULE_ID reason` on the line above it", plural(errors, "finding"))}
	}
	return nil
}

// folderFiles are the pending migrations (or all, with --all).
func (c *LintCmd) folderFiles(ctx context.Context, env *Env, conn *pgx.Conn) (*drizzle.Source, []lint.File, error) {
	src, err := c.Load(env)
	if err != nil {
		return nil, nil, err
	}
	if c.All {
		return src, migrate.Files(src, src.Migrations), nil
	}
	shape, rows, err := drizzle.ReadTable(ctx, conn, c.Table())
	if err != nil {
		return nil, nil, err
	}
	var ms []*drizzle.Migration
	for _, e := range drizzle.NewPlan(src, c.Table(), shape, rows).Pending(true) {
		ms = append(ms, e.Migration)
	}
	return src, migrate.Files(src, ms), nil
}

// fromIndex is the position of migration tag among the files linted (past
// them all when it is applied, with --database-url: none is reported).
func fromIndex(src *drizzle.Source, files []lint.File, tag string) (int, error) {
	if src == nil {
		return 0, &exitError{code: ExitUsage, err: fmt.Errorf("--from %s: --from names a migration of the folder; with .sql files as arguments, name only the files to report", tag)}
	}
	var tags []string
	for _, m := range src.Migrations {
		if m.Tag == tag {
			for i, f := range files {
				if f.Path == src.Path(m.File) {
					return i, nil
				}
			}
			return len(files), nil
		}
		tags = append(tags, m.Tag)
	}
	hint := "name a migration's tag as the journal has it (`upshift status` lists them)"
	if len(tags) > 0 {
		hint += "; the newest is " + tags[len(tags)-1]
	}
	return 0, &exitError{code: ExitUsage, err: fmt.Errorf("--from %s: no migration of %s has that tag\n  hint: %s", tag, src.Dir, hint)}
}

// dbLintOptions gives the linter the database's view of the touched tables
// and reports indexes that are already invalid.
func dbLintOptions(ctx context.Context, conn *pgx.Conn, files []lint.File, minRows float64) (lint.Options, []lint.Finding, error) {
	opts, err := lint.Load(ctx, conn, files)
	if err != nil {
		return lint.Options{}, nil, err
	}
	invalid, err := lint.InvalidIndexes(ctx, conn)
	if err != nil {
		return lint.Options{}, nil, err
	}
	opts.MinRows = minRows
	return opts, invalid, nil
}

func printFindings(w io.Writer, fs []lint.Finding, withFix bool) {
	for _, f := range fs {
		fmt.Fprintln(w, f)
		if withFix && f.Fix != "" {
			for _, l := range strings.Split("fix: "+f.Fix, "\n") {
				fmt.Fprintln(w, "    "+l)
			}
		}
	}
}

func countBySeverity(fs []lint.Finding) string {
	n := map[lint.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	out := joinNonEmpty(countPart(n[lint.Error], "error"), countPart(n[lint.Warning], "warning"), countPart(n[lint.Info], "info"))
	if out == "" {
		return "no findings"
	}
	return out
}

func countPart(n int, word string) string {
	if n == 0 {
		return ""
	}
	return plural(n, word)
}

// githubAnnotation is a workflow command that GitHub shows on the pull
// request's diff.
var annotationLevel = map[lint.Severity]string{lint.Error: "error", lint.Warning: "warning", lint.Info: "notice"}

func githubAnnotation(f lint.Finding) string {
	if f.File == "" { // a finding about the database: no line to annotate
		return fmt.Sprintf("::%s title=%s::%s", annotationLevel[f.Severity], ghactions.EscapeProperty("upshift "+f.Rule+" ("+f.Object+")"),
			ghactions.EscapeData(f.Message+"\nfix: "+f.Fix))
	}
	return fmt.Sprintf("::%s file=%s,line=%d,col=%d,title=%s::%s", annotationLevel[f.Severity], ghactions.EscapeProperty(f.File), f.Line, f.Column,
		ghactions.EscapeProperty("upshift "+f.Rule), ghactions.EscapeData(f.Message+"\nfix: "+f.Fix))
}
