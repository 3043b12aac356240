package main

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// examples end each command's --help: real invocations, verbatim.
var examples = map[string][]string{
	"status": {
		"upshift status --dir apps/mana-auth/drizzle",
		"upshift status --exit-code          # boot-time or CI gate: exit 4 unless up to date",
		"upshift status --format json | jq '.migrations[] | select(.state != \"applied\")'",
	},
	"migrate": {
		"upshift migrate --dir ./drizzle --service mana-auth",
		"upshift migrate --wait 60s --create-database   # a db-setup container's whole job",
		"upshift migrate --dry-run                      # the plan and the exact SQL; changes nothing",
	},
	"lint": {
		"upshift lint --dir ./drizzle",
		"upshift lint --database-url \"$STAGING_DATABASE_URL\"   # only what is pending, with table sizes",
		"upshift lint --format github                         # annotations on a pull request",
	},
	"mark-applied": {
		"upshift mark-applied 0007_backfill_credits   # finished by hand",
		"upshift mark-applied --all                   # baseline a database whose schema already matches",
	},
	"wait": {
		"upshift wait --timeout 60s && node dist/server.js",
		"upshift wait --database-url \"$DATABASE_URL\" --timeout 2m --format json",
	},
	"db create": {
		"DATABASE_URL=postgres://app@db:5432/mana upshift db create",
		"upshift db create --database-url postgres://app@db:5432/mana --maintenance-db template1",
	},
	"db analyze": {
		"upshift db analyze",
		"upshift db analyze --table public.events",
	},
	"db vacuum": {
		"upshift db vacuum --analyze --table public.events",
		"upshift db vacuum --full --table public.audit_log   # maintenance window only: ACCESS EXCLUSIVE",
	},
	"db bloat": {
		"upshift db bloat",
		"upshift db bloat --min-dead 100000 --format json",
	},
	"locks": {
		"upshift locks                 # every advisory lock in the database, with its session",
		"upshift locks --format json",
	},
	"unlock": {
		"upshift unlock --service mana-auth           # who holds it",
		"upshift unlock --service mana-auth --force   # end that session",
	},
	"lockids": {
		"upshift lockids mana-auth chat-backend",
		"upshift lockids --format json",
	},
	"upgrade": {
		"upshift upgrade --service mana-auth --health-url http://127.0.0.1:3000/v1/health/ready --expect-version 2.4.0",
		"upshift upgrade --service api --service worker --backup --dry-run",
		"upshift upgrade --strategy rolling --service api --health-url http://api:3000/v1/health/ready --drain 10s",
	},
	"rollback": {
		"upshift rollback --service mana-auth --health-url http://127.0.0.1:3000/v1/health/ready",
		"upshift rollback -p mana --service api --service worker --dry-run",
	},
	"history": {
		"upshift history",
		"upshift history --service mana-auth --limit 5 --format json",
	},
	"backup": {
		"upshift backup",
		"upshift backup --backup-dir /srv/backups --backup-via host --backup-url \"$DATABASE_URL\"",
	},
	"completion": {
		"upshift completion bash > /etc/bash_completion.d/upshift",
		"upshift completion zsh > \"${fpath[1]}/_upshift\"",
		"upshift completion fish > ~/.config/fish/completions/upshift.fish",
	},
	"version": {
		"upshift version",
		"upshift version --format json",
	},
}

// helpWithExamples prints kong's help, then the selected command's examples.
func helpWithExamples(options kong.HelpOptions, ctx *kong.Context) error {
	if err := kong.DefaultHelpPrinter(options, ctx); err != nil {
		return err
	}
	node := ctx.Selected()
	if node == nil {
		return nil
	}
	ex := examples[strings.TrimPrefix(node.FullPath(), ctx.Model.Name+" ")]
	if len(ex) == 0 {
		return nil
	}
	fmt.Fprintln(ctx.Stdout, "\nExamples:")
	for _, e := range ex {
		fmt.Fprintln(ctx.Stdout, "  $ "+e)
	}
	return nil
}

// helpValue is kong's help text for a flag plus, where the text does not say
// them already, its default and its allowed values.
func helpValue(value *kong.Value) string {
	help := kong.DefaultHelpValueFormatter(value)
	var extra []string
	if value.Enum != "" && !strings.Contains(help, "One of") {
		extra = append(extra, "One of: "+strings.Join(value.EnumSlice(), ", ")+".")
	}
	if value.HasDefault && value.Default != "" && !value.IsBool() && !strings.Contains(help, "Default") {
		extra = append(extra, "Default: "+value.Default+".")
	}
	if len(extra) == 0 {
		return help
	}
	if help != "" && !strings.HasSuffix(help, ".") {
		help += "."
	}
	return strings.TrimSpace(help + " " + strings.Join(extra, " "))
}
