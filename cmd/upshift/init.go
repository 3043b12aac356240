//go:build !migrator

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/drizzle/kitconfig"
	"github.com/upshift-dev/upshift/scaffold"
)

type InitCmd struct {
	File        []string `short:"f" name:"file" placeholder:"FILE" help:"Compose file (repeatable). Default: COMPOSE_FILE, else compose.yaml (or docker-compose.yml) in the working directory or a parent."`
	ProjectName string   `short:"p" name:"project-name" placeholder:"NAME" help:"Project name as the deployment runs it. Default: COMPOSE_PROJECT_NAME, the file's top-level name, else the directory's name."`
	Service     []string `name:"service" placeholder:"NAME" help:"Service the workflows upgrade (repeatable). Default: every service with a DATABASE_URL, but the setup service."`
	Setup       string   `name:"setup-service" default:"db-setup" placeholder:"NAME" help:"The one-shot service that migrates. Default: db-setup."`
	Dir         string   `name:"dir" placeholder:"DIR" help:"Migrations folder. Default: the out of drizzle.config.* in the project's directory."`
	Image       string   `name:"image" placeholder:"REF" help:"Image the db-setup image is built on. Default: ghcr.io/upshift-dev/upshift at this upshift's version."`
	Runner      string   `name:"runner" enum:"self-hosted,ssh" default:"self-hosted" help:"Where the workflows run: self-hosted (a runner on the deployment's host) or ssh (a hosted runner, DOCKER_HOST=ssh://… from the repository's secrets)."`
	HealthURL   string   `name:"health-url" placeholder:"URL" help:"URL the workflows' upgrade and rollback poll until it answers 200. Default: none."`
	Branch      string   `name:"branch" default:"main" help:"Branch whose pushes deploy."`
	DryRun      bool     `name:"dry-run" help:"Print each file instead of writing it."`
	Force       bool     `name:"force" help:"Replace files that exist (each is named)."`
}

func (c *InitCmd) Run(env *Env) error {
	ctx := context.Background()
	// As written, so that required variables need not be set here; a file
	// whose typed fields need its variables (a port of ${APP_PORT}) is
	// read as docker compose reads it.
	p, err := compose.Load(ctx, compose.Options{Files: c.File, ProjectName: c.ProjectName, Raw: true})
	if err != nil {
		p, err = compose.Load(ctx, compose.Options{Files: c.File, ProjectName: c.ProjectName})
	}
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	urls := map[string]string{}
	for name := range p.Services {
		if raw, ok := compose.RawEnv(p.Files, name, "DATABASE_URL"); ok {
			urls[name] = raw
		}
	}
	o := scaffold.Options{Project: p, DatabaseURLs: urls, Services: c.Service, Setup: c.Setup, Image: c.Image, Runner: scaffold.Runner(c.Runner),
		HealthURL: c.HealthURL, Branch: c.Branch, Action: "upshift-dev/upshift@main"}
	if ref, ok := releaseRef(); ok {
		o.Action = "upshift-dev/upshift@" + ref
	}
	if o.Image == "" {
		ref, _ := releaseRef()
		o.Image = "ghcr.io/upshift-dev/upshift:" + strings.TrimPrefix(ref, "v")
	}
	if err := c.migrations(p, &o); err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	plan, err := scaffold.Make(o)
	if err != nil {
		return &exitError{code: ExitUsage, err: err, hint: "upshift init --service NAME names the services to upgrade"}
	}
	out := env.Stdout
	fmt.Fprintf(out, "upshift init: project %s (%s), upgrading %s\n", p.Name, strings.Join(p.Files, ", "), strings.Join(plan.Services, ", "))
	wrote := 0
	for _, f := range plan.Files {
		path := filepath.Join(p.WorkingDir, filepath.FromSlash(f.Path))
		_, statErr := os.Stat(path)
		exists := statErr == nil
		switch {
		case c.DryRun:
			fmt.Fprintf(out, "\n--- %s (%s)%s\n%s", f.Path, f.What, map[bool]string{true: " — exists, kept", false: ""}[exists && !c.Force], f.Content)
			continue
		case exists && !c.Force:
			fmt.Fprintf(out, "kept      %s (it exists; --force replaces it)\n", f.Path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(f.Content), 0o644); err != nil {
			return err
		}
		wrote++
		if exists {
			fmt.Fprintf(out, "replaced  %s: %s\n", f.Path, f.What)
		} else {
			fmt.Fprintf(out, "wrote     %s: %s\n", f.Path, f.What)
		}
	}
	if plan.Snippet != "" {
		fmt.Fprintf(out, "\nadd to %s (init does not edit it):\n\n%s", filepath.Base(plan.SnippetFile), plan.Snippet)
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
	if !c.DryRun && wrote == 0 {
		fmt.Fprintln(out, "nothing written: every file exists")
	}
	return nil
}

// migrations finds the folder: --dir, else drizzle.config's out, read
// from the project's directory; and the table it names.
func (c *InitCmd) migrations(p *compose.Project, o *scaffold.Options) error {
	if c.Dir != "" {
		abs, err := filepath.Abs(c.Dir)
		o.Migrations = abs
		return err
	}
	path := kitconfig.Find(p.WorkingDir)
	if path == "" {
		return nil // only an error where a Dockerfile must copy it
	}
	cfg, err := kitconfig.Load(path)
	if err != nil {
		return err
	}
	if !cfg.Out.HasLiteral {
		return errors.New(path + " does not name its out folder as a string: name the migrations folder with --dir")
	}
	o.Migrations = filepath.Join(filepath.Dir(path), cfg.Out.Literal)
	if cfg.Table.HasLiteral {
		o.Table = cfg.Table.Literal
	}
	if cfg.Schema.HasLiteral {
		o.Schema = cfg.Schema.Literal
	}
	return nil
}

// releaseRef is the release this upshift is (v0.9.0); a build that is
// none gets "latest" (the image's tag) and false (the Action's main).
func releaseRef() (string, bool) {
	v := buildVersion()
	if strings.HasPrefix(v, "v") && !strings.ContainsAny(v, "-+") {
		return v, true
	}
	return "latest", false
}
