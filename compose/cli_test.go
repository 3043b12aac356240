package compose_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersionRefusesComposeV1(t *testing.T) {
	dir := t.TempDir()
	// A docker CLI without the compose plugin, and Debian's docker-compose 1.29.
	docker := script(t, dir, "docker", "echo \"docker: unknown command: docker compose\" >&2; exit 1\n")
	script(t, dir, "docker-compose", "echo 1.29.2\n")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	_, err := (&compose.CLI{Docker: docker}).Version(context.Background())
	if !errors.Is(err, compose.ErrComposeV1) || !strings.Contains(err.Error(), "1.29.2") || !strings.Contains(err.Error(), "cli-plugins") {
		t.Errorf("error %v: want ErrComposeV1 naming 1.29.2 and how to install the plugin", err)
	}
	// A plugin that reports itself as v1.
	old := script(t, dir, "docker-old", "echo v1.27.4\n")
	if _, err := (&compose.CLI{Docker: old}).Version(context.Background()); !errors.Is(err, compose.ErrComposeV1) {
		t.Errorf("a v1 plugin: %v", err)
	}
	v2 := script(t, dir, "docker-v2", "echo v2.29.1\n")
	if v, err := (&compose.CLI{Docker: v2}).Version(context.Background()); err != nil || v != "2.29.1" {
		t.Errorf("v2: %q %v", v, err)
	}
}

func TestRunReportsExitCodeAndLastLines(t *testing.T) {
	dir := t.TempDir()
	docker := script(t, dir, "docker", "for i in 1 2 3 4 5 6 7; do echo line $i; done; echo oops >&2; exit 17\n")
	var lines []string
	err := (&compose.CLI{Docker: docker}).Pull(context.Background(), compose.PullOptions{Services: []string{"api"}}, func(l string) { lines = append(lines, l) })
	var ee *compose.ExitError
	if !errors.As(err, &ee) || ee.Code != 17 {
		t.Fatalf("error %v, want an ExitError with code 17", err)
	}
	if len(lines) != 8 || !strings.Contains(err.Error(), "line 7 / oops") || strings.Contains(err.Error(), "line 1 ") {
		t.Errorf("lines %v, error %v", lines, err)
	}
}

// Every verb's command line, in the one place that builds them.
func TestVerbArgv(t *testing.T) {
	p := &compose.Project{Name: "shop", WorkingDir: "/srv/shop", Files: []string{"/srv/shop/compose.yaml"}}
	base := "-f /srv/shop/compose.yaml -p shop --project-directory /srv/shop "
	for _, tc := range []struct {
		verb compose.Verb
		want string
	}{
		{compose.PullOptions{Services: []string{"api", "db-setup"}, Profiles: []string{"setup"}}, "--profile setup pull api db-setup"},
		{compose.BuildOptions{Services: []string{"api", "worker"}}, "build api worker"},
		{compose.StopOptions{Services: []string{"api"}}, "stop api"},
		{compose.UpOptions{Services: []string{"api"}, NoDeps: true}, "up -d --no-deps --pull never api"},
		{compose.UpOptions{Services: []string{"api"}, NoDeps: true, NoRecreate: true, Scale: map[string]int{"api": 4}}, "up -d --no-deps --no-recreate --pull never --scale api=4 api"},
		{compose.RunOptions{Service: "db-setup", Profiles: []string{"setup"}, Env: []string{"UPSHIFT_RESULT=line"}, Command: []string{"--dry-run"}}, "--profile setup run --rm -T -e UPSHIFT_RESULT=line db-setup --dry-run"},
		{compose.RunOptions{Service: "mana-auth", NoDeps: true, Command: []string{"pnpm", "run", "db:migrate"}}, "run --rm -T --no-deps mana-auth pnpm run db:migrate"},
		{compose.ExecOptions{Service: "db", SecretEnv: []string{"PGPASSWORD=s3cret"}, Command: []string{"pg_dump", "-Fc"}}, "exec -T -e PGPASSWORD db pg_dump -Fc"},
		{compose.LogsOptions{Services: []string{"api"}, Tail: 5}, "logs --no-color --no-log-prefix --tail 5 api"},
	} {
		if got := strings.Join(compose.Argv(p, tc.verb), " "); got != base+tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.verb.Name(), got, base+tc.want)
		}
	}
	up := compose.UpOptions{Services: []string{"api"}, NoDeps: true, Overrides: []string{"/state/override.yaml"}}
	if got := strings.Join(compose.Argv(p, up), " "); !strings.HasPrefix(got, "-f /srv/shop/compose.yaml -f /state/override.yaml -p shop") {
		t.Errorf("overrides come after the project's files: %s", got)
	}
	if got := (&compose.CLI{Project: p}).Command(compose.StopOptions{Services: []string{"my api"}}); got != "docker compose "+base+"stop 'my api'" {
		t.Errorf("Command: %s", got)
	}
}

// A secret reaches exec through the environment, never the command line.
func TestExecSecretEnv(t *testing.T) {
	dir := t.TempDir()
	docker := script(t, dir, "docker", "echo \"args: $*\" >&2; printf %s \"$PGPASSWORD\"\n")
	var stdout strings.Builder
	var lines []string
	err := (&compose.CLI{Docker: docker}).Exec(context.Background(), compose.ExecOptions{Service: "db", SecretEnv: []string{"PGPASSWORD=s3cret"}, Command: []string{"pg_dump"}, Stdout: &stdout},
		func(l string) { lines = append(lines, l) })
	if err != nil || stdout.String() != "s3cret" || len(lines) != 1 || strings.Contains(lines[0], "s3cret") || !strings.Contains(lines[0], "-e PGPASSWORD db pg_dump") {
		t.Errorf("%v stdout %q lines %q", err, stdout.String(), lines)
	}
}

// A signal while `docker compose version` runs is a cancellation, not a
// missing compose (it was read as "not installed" before).
func TestVersionCancelledIsNotMissing(t *testing.T) {
	dir := t.TempDir()
	docker := script(t, dir, "docker", "sleep 5\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := (&compose.CLI{Docker: docker}).Version(ctx)
	if err == nil || errors.Is(err, compose.ErrComposeV1) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("%v", err)
	}
}
