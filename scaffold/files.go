package scaffold

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/upshift-dev/upshift/compose"
)

// yamlString quotes s for YAML (double quotes, which keep ${VARIABLES}
// for compose to interpolate).
func yamlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// databaseURL is the DATABASE_URL db-setup gets: the first upgraded
// service's, as written (its ${PASSWORD} a variable still), or a variable
// of its own where the file holds a password in the clear, which init
// does not copy.
func databaseURL(p *compose.Project, urls map[string]string, services []string) (value, host string, note string) {
	for _, n := range services {
		raw, ok := p.Services[n].Env["DATABASE_URL"]
		if urls != nil {
			raw, ok = urls[n]
		}
		if !ok {
			continue
		}
		// The value as written, and each ${NAME:-default}'s default: a
		// password in the clear in either is not copied.
		clear := false
		for i, v := range append([]string{raw}, variableDefaults(raw)...) {
			u, err := url.Parse(withoutVariables(v))
			if err != nil {
				continue
			}
			if i == 0 {
				host = u.Hostname()
			}
			if pw, set := u.User.Password(); set && pw != "variable" {
				clear = true
			}
		}
		if clear {
			return "${DATABASE_URL}", host, fmt.Sprintf("%s's DATABASE_URL holds its password in the clear, which init does not copy: set DATABASE_URL for %s in the environment or .env (better, put the password in a variable for both)", n, "db-setup")
		}
		return raw, host, ""
	}
	return "${DATABASE_URL}", "", "no upgraded service has a DATABASE_URL: set it for db-setup in the environment or .env"
}

// variableDefaults are the defaults of s's ${NAME:-default} and
// ${NAME-default}.
func variableDefaults(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return out
		}
		body := s[i+2 : i+end]
		if j := strings.IndexAny(body, ":-"); j >= 0 {
			def := strings.TrimPrefix(strings.TrimPrefix(body[j:], ":"), "-")
			if body[j] == '-' || strings.HasPrefix(body[j:], ":-") {
				out = append(out, def)
			}
		}
		s = s[i+end+1:]
	}
}

// withoutVariables stands a word in for each ${…} and $NAME, so that a
// URL with its password in a variable parses.
func withoutVariables(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] != '$' || i+1 == len(s):
			b.WriteByte(s[i])
		case s[i+1] == '$':
			b.WriteString("$$")
			i++
		case s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString("variable")
			i += end
		default:
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			b.WriteString("variable")
			i = j - 1
		}
	}
	return b.String()
}

func snippet(p *compose.Project, o Options, services []string) string {
	dburl, host, _ := databaseURL(p, o.DatabaseURLs, services)
	var b strings.Builder
	fmt.Fprintf(&b, `# The one-shot that migrates (written by upshift init; add it to %s,
# which init never edits). upshift upgrade runs it once per deploy, after the
# new images are in and before the new version starts; the profile keeps
# docker compose up from starting it on its own.
services:
  %s:
    build:
      context: .
      dockerfile: %s.Dockerfile
    profiles: [setup]
    environment:
      DATABASE_URL: %s
`, filepath.Base(p.Files[0]), o.Setup, o.Setup, yamlString(dburl))
	if db, ok := p.Services[host]; ok {
		cond := "service_started"
		if db.Healthcheck {
			cond = "service_healthy"
		}
		fmt.Fprintf(&b, "    depends_on:\n      %s:\n        condition: %s\n", host, cond)
	}
	return b.String()
}

// composeArgs name the project as the deployment runs it, wherever the
// workflow's checkout is: its files, relative to the project's directory,
// and its name.
func composeArgs(p *compose.Project) string {
	var args []string
	for _, f := range p.Files {
		rel, err := filepath.Rel(p.WorkingDir, f)
		if err != nil {
			rel = f
		}
		args = append(args, "-f", filepath.ToSlash(rel))
	}
	args = append(args, "-p", p.Name)
	return strings.Join(args, " ")
}

func healthArgs(o Options) string {
	if o.HealthURL == "" {
		return ""
	}
	return " --health-url " + o.HealthURL
}

// jobHead is a job's runner, environment and first steps: the checkout,
// the Action, and for a hosted runner the ssh key and host.
func jobHead(o Options) string {
	var b strings.Builder
	if o.Runner == SSH {
		b.WriteString(`    runs-on: ubuntu-latest
    env:
      # ssh://user@host: upshift and every docker compose it runs reach the
      # deployment's engine there; the lock, journal and history stay on it.
      DOCKER_HOST: ${{ secrets.DEPLOY_DOCKER_HOST }}
`)
	} else {
		b.WriteString(`    # A runner on the deployment's host: upshift reaches its engine
    # through the local socket.
    runs-on: self-hosted
`)
	}
	fmt.Fprintf(&b, `    steps:
      - uses: actions/checkout@v4
      - uses: %s
`, o.Action)
	if o.Runner == SSH {
		b.WriteString(`      - name: the ssh key and host of the deployment
        env:
          SSH_KEY: ${{ secrets.DEPLOY_SSH_KEY }}
          KNOWN_HOSTS: ${{ secrets.DEPLOY_KNOWN_HOSTS }}
        run: |
          install -d -m 700 ~/.ssh
          printf '%s\n' "$SSH_KEY" > ~/.ssh/id_ed25519
          chmod 600 ~/.ssh/id_ed25519
          printf '%s\n' "$KNOWN_HOSTS" >> ~/.ssh/known_hosts
`)
	}
	return b.String()
}

func deployWorkflow(p *compose.Project, o Options, services []string) string {
	var svc []string
	for _, s := range services {
		svc = append(svc, "--service "+s)
	}
	return fmt.Sprintf(`# Deploys %s on every push to %s, and on demand (written by upshift
# init). upshift pulls or builds the new images, runs %s once, swaps the
# containers with the least downtime the project allows, checks that they
# answer, and puts the previous images back by itself when they do not.
# Exit codes: 0 deployed; 1 failed before anything changed; 2 a bad project
# or engine; 3 another deploy holds the lock; 5 rolled back, the previous
# version answers; 6 the rollback failed too (page someone).
name: deploy
on:
  push:
    branches: [%s]
  workflow_dispatch: {}
concurrency:
  group: deploy-%s
  cancel-in-progress: false
jobs:
  deploy:
%s      - name: upgrade
        run: upshift upgrade %s %s%s
`, strings.Join(services, ", "), o.Branch, o.Setup, o.Branch, p.Name, jobHead(o), composeArgs(p), strings.Join(svc, " "), healthArgs(o))
}

func rollbackWorkflow(p *compose.Project, o Options, services []string) string {
	return fmt.Sprintf(`# The incident button (written by upshift init): Actions → rollback →
# Run workflow puts the chosen service back on the images it ran before its
# latest upgrade — whichever machine ran that upgrade — and checks that it
# answers. Exit codes: 0 rolled back; 1 nothing to roll back to; 3 a deploy
# holds the lock; 6 the rollback failed (page someone).
name: rollback
on:
  workflow_dispatch:
    inputs:
      service:
        description: the service to put back on its previous version
        type: choice
        required: true
        options: [%s]
concurrency:
  group: deploy-%s
  cancel-in-progress: false
jobs:
  rollback:
%s      - name: rollback
        env:
          SERVICE: ${{ inputs.service }}
        run: upshift rollback %s --service "$SERVICE"%s
`, strings.Join(services, ", "), p.Name, jobHead(o), composeArgs(p), healthArgs(o))
}
