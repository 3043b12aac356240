package upgrade

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/compose"
)

// TestStackPreflightInterrupted: a signal while a stack's preflight waits
// for the engine reads as an interruption before anything changed, as a
// compose project's does.
func TestStackPreflightInterrupted(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte("services:\n  api:\n    image: 127.0.0.1:5000/shop/api:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "no-engine.sock"))
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := OpenStack(ctx, Options{Project: compose.Options{Files: []string{filepath.Join(dir, "stack.yaml")}, WorkingDir: dir}, StateDir: t.TempDir()}, "shop")
	if err == nil || !strings.HasPrefix(err.Error(), "interrupted before anything was changed") || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want an interruption before anything was changed", err)
	}
}
