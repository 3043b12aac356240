package compose_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	err := (&compose.CLI{Docker: docker}).Run(context.Background(), func(l string) { lines = append(lines, l) }, "pull", "api")
	var ee *compose.ExitError
	if !errors.As(err, &ee) || ee.Code != 17 {
		t.Fatalf("error %v, want an ExitError with code 17", err)
	}
	if len(lines) != 8 || !strings.Contains(err.Error(), "line 7 / oops") || strings.Contains(err.Error(), "line 1 ") {
		t.Errorf("lines %v, error %v", lines, err)
	}
}
