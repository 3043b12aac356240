// Package scaffold works out the files a project needs to deploy with
// upshift — the db-setup image's Dockerfile, the db-setup service to add to
// the compose file, the deploy and rollback workflows — from what the
// project already says: its compose files, drizzle.config and migrations
// folder. It writes nothing itself (`upshift init` does, never over a file
// that exists).
package scaffold

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/upshift-dev/upshift/compose"
)

// Runner is where the deploy workflow runs.
type Runner string

const (
	// SelfHosted: a runner on the deployment's host reaches its engine
	// through the local socket.
	SelfHosted Runner = "self-hosted"
	// SSH: a hosted runner reaches the engine with DOCKER_HOST=ssh://…,
	// the key and host from the repository's secrets.
	SSH Runner = "ssh"
)

// Options are what the project does not say.
type Options struct {
	// Project is the compose project.
	Project *compose.Project
	// DatabaseURLs are the services' DATABASE_URLs as the files write
	// them (compose.RawEnv), their ${PASSWORD}s still variables; nil:
	// the project's own values (a project loaded raw).
	DatabaseURLs map[string]string
	// Services are the services to upgrade; empty: those that reach the
	// database (a DATABASE_URL), but not the setup service.
	Services []string
	// Setup is the one-shot service that migrates (default db-setup).
	Setup string
	// Migrations is the migrations folder, absolute; Table and Schema
	// the migrations table when drizzle.config names one.
	Migrations    string
	Table, Schema string
	// Image is the migrator image the db-setup image is built on; Action
	// the upshift Action a workflow uses (owner/repo@ref).
	Image, Action string
	Runner        Runner
	// HealthURL is what the workflows poll; empty: none (the services'
	// own healthchecks and the containers running).
	HealthURL string
	// Branch is the branch whose pushes deploy (default main).
	Branch string
}

// File is one file to write, relative to the project's directory.
type File struct {
	Path    string
	Content string
	// What says what it is, for the output.
	What string
}

// Plan is what init would write and print.
type Plan struct {
	Files []File
	// Snippet is the db-setup service to add to the compose file ("" when
	// the project has its setup service already); SnippetFile the file it
	// belongs in.
	Snippet, SnippetFile string
	// Services are the services the workflows upgrade; Notes what was
	// chosen and why, and what the user still has to do.
	Services []string
	Notes    []string
}

// ErrNoServices: nothing in the project reaches a database, and no
// service was named.
var ErrNoServices = errors.New("no service of the project has a DATABASE_URL, so upshift cannot tell which to upgrade: name them with --service")

// Make works out the plan.
func Make(o Options) (*Plan, error) {
	p := o.Project
	if o.Setup == "" {
		o.Setup = "db-setup"
	}
	if o.Branch == "" {
		o.Branch = "main"
	}
	if o.Runner == "" {
		o.Runner = SelfHosted
	}
	plan := &Plan{}
	services, err := chooseServices(p, o)
	if err != nil {
		return nil, err
	}
	plan.Services = services
	dir := p.WorkingDir
	if setup, ok := p.Services[o.Setup]; ok {
		plan.Notes = append(plan.Notes, fmt.Sprintf("the project has its setup service %s already (image %s): no Dockerfile and no compose snippet written for it", o.Setup, cmp.Or(setup.Image, "built")))
	} else {
		if o.Migrations == "" {
			return nil, errors.New("no migrations folder: name it with --dir, or run init where drizzle.config.ts names it")
		}
		rel, err := filepath.Rel(dir, o.Migrations)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("the migrations folder %s is outside the project's directory %s, so a Dockerfile there cannot copy it: run init from a directory that holds both", o.Migrations, dir)
		}
		rel = filepath.ToSlash(rel)
		plan.Files = append(plan.Files, File{Path: o.Setup + ".Dockerfile", What: "the " + o.Setup + " image: upshift plus this release's migrations", Content: dockerfile(o, rel, services[0])})
		plan.SnippetFile = p.Files[0]
		plan.Snippet = snippet(p, o, services)
		if _, _, note := databaseURL(p, o.DatabaseURLs, services); note != "" {
			plan.Notes = append(plan.Notes, note)
		}
	}
	plan.Files = append(plan.Files,
		File{Path: ".github/workflows/deploy.yml", What: "upgrades " + strings.Join(services, ", ") + " on every push to " + o.Branch, Content: deployWorkflow(p, o, services)},
		File{Path: ".github/workflows/rollback.yml", What: "rolls a service back on demand, from the Actions tab", Content: rollbackWorkflow(p, o, services)})
	if o.Runner == SSH {
		plan.Notes = append(plan.Notes, "add the repository secrets DEPLOY_DOCKER_HOST (ssh://user@host), DEPLOY_SSH_KEY (a private key that user accepts) and DEPLOY_KNOWN_HOSTS (ssh-keyscan host)")
		if o.HealthURL == "" || isLoopback(o.HealthURL) {
			plan.Notes = append(plan.Notes, "a hosted runner polls the health URL from GitHub's network: give --health-url an address it can reach")
		}
	}
	return plan, nil
}

// chooseServices: the named ones (each must exist), else those with a
// DATABASE_URL that are neither the setup service nor a one-shot another
// waits for, nor behind a profile.
func chooseServices(p *compose.Project, o Options) ([]string, error) {
	if len(o.Services) > 0 {
		for _, s := range o.Services {
			if _, ok := p.Services[s]; !ok {
				return nil, fmt.Errorf("service %q is not in the project (%s)", s, strings.Join(p.ServiceNames(), ", "))
			}
		}
		return o.Services, nil
	}
	// One-shots other services wait for (migrations, config) are run by
	// an upgrade, not upgraded.
	oneShot := map[string]bool{o.Setup: true}
	for _, s := range p.Services {
		for _, c := range s.Completes {
			oneShot[c] = true
		}
	}
	var out []string
	for _, n := range p.ServiceNames() {
		s := p.Services[n]
		if oneShot[n] || !s.Enabled {
			continue
		}
		if _, ok := s.Env["DATABASE_URL"]; ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoServices
	}
	return out, nil
}

func isLoopback(u string) bool {
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := pu.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

func dockerfile(o Options, migrations, service string) string {
	env := "MIGRATIONS_DIR=/drizzle SERVICE=" + service
	if o.Table != "" {
		env += " MIGRATIONS_TABLE=" + o.Table
	}
	if o.Schema != "" {
		env += " MIGRATIONS_SCHEMA=" + o.Schema
	}
	return fmt.Sprintf(`# The %s image: upshift and this release's migrations (written by
# upshift init). Its command, the image's own, waits for PostgreSQL, creates
# the database if it is new, and migrates under %s's advisory lock, so that
# two replicas never migrate at once. Build it with each release.
FROM %s
COPY %s /drizzle
ENV %s
`, o.Setup, service, o.Image, migrations, env)
}
