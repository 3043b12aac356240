package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/drizzle/kitconfig"
	"github.com/upshift-dev/upshift/internal/ghactions"
	"github.com/upshift-dev/upshift/lint"
	"github.com/upshift-dev/upshift/migrate"
	"github.com/upshift-dev/upshift/redact"
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
				return usage(err, "name .sql files by a path relative to the current folder or an absolute one; without files, lint reads the migrations folder (--dir)")
			}
			files = append(files, lint.File{Path: p, Text: drizzle.OwnText(b)})
		}
	}
	req := migrate.LintRequest{Files: files, Table: c.Table(), All: c.All, MinRows: c.MinRows, Level: lint.Severity(c.Level), From: c.From, Latest: c.Latest}
	switch {
	case c.From != "" && c.Latest > 0:
		return &exitError{code: ExitUsage, err: fmt.Errorf("--from and --latest both say which migrations to report: pass one")}
	case c.Latest < 0:
		return &exitError{code: ExitUsage, err: fmt.Errorf("--latest %d: must not be negative", c.Latest)}
	}
	if files == nil {
		var err error
		if req.Source, err = c.Load(env); err != nil {
			return err
		}
	}
	red := &redact.Set{}
	if c.DatabaseURL != "" {
		flags := DBFlags{DatabaseURL: c.DatabaseURL, ConnectWindow: cliutil.Seconds(10 * time.Second), ConnectBackoff: cliutil.Seconds(250 * time.Millisecond)}
		conn, cfg, err := flags.Connect(ctx, env)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		req.Conn, red = conn, cfg.Redactor()
	}
	rep, err := migrate.Lint(ctx, req)
	var ute *migrate.UnknownTagError
	switch {
	case errors.As(err, &ute):
		return usage(fmt.Errorf("--from %s: %w", c.From, err), "name a migration's tag as the journal has it (`upshift status` lists them)")
	case err != nil && c.From != "" && req.Source == nil:
		return &exitError{code: ExitUsage, err: fmt.Errorf("--from %s: %w; name only the files to report", c.From, err)}
	case err != nil:
		return redactErr(red, err)
	}
	shown, nerr := rep.Findings, rep.Errors
	switch c.Format {
	case "json":
		if err := writeJSON(env.Stdout, map[string]any{"findings": shown, "files": rep.Files, "errors": nerr, "settings": migrate.Settings(settings)}); err != nil {
			return err
		}
	case "github":
		for _, f := range shown {
			fmt.Fprintln(env.Stdout, f.Annotation())
		}
	default:
		lint.WriteFindings(env.Stdout, shown, true)
		linted := plural(rep.Files, "file") + " linted"
		if rep.Reported < rep.Files {
			linted += fmt.Sprintf(", the last %d reported", rep.Reported)
		}
		fmt.Fprintf(env.Stdout, "%s: %s\n", linted, lint.Count(shown))
	}
	// In a workflow, annotations on the pull request's lines and a summary,
	// whatever the format (--format github prints them already).
	if gh := ghactions.New(env.Stderr); gh.On {
		if c.Format != "github" {
			for _, f := range shown {
				fmt.Fprintln(env.Stderr, f.Annotation())
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "### upshift lint: %s in %s\n\n", lint.Count(shown), plural(rep.Files, "file"))
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
		gh.Output("findings", fmt.Sprint(len(shown)), "errors", fmt.Sprint(nerr))
	}
	if nerr > 0 {
		return &exitError{code: ExitFailed, err: fmt.Errorf("%s at error level; fix them, or silence one with `-- upshift:ignore RULE_ID reason` on the line above it", plural(nerr, "finding"))}
	}
	return nil
}
