package compose_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// BenchmarkLargeComposeVerb: one compose verb (a stop of a service that
// is not running: the parse is all of it) on a 10 MB compose project, read
// from the files as every verb did, against the resolved copy of the
// run's services that a run now writes once. Needs docker compose.
func BenchmarkLargeComposeVerb(b *testing.B) {
	if exec.Command("docker", "compose", "version").Run() != nil {
		b.Skip("docker compose is not installed")
	}
	dir := b.TempDir()
	var f strings.Builder
	f.WriteString("services:\n  app:\n    image: busybox\n    depends_on: [db]\n  db:\n    image: busybox\n")
	for i := 0; f.Len() < 10<<20; i++ {
		fmt.Fprintf(&f, "  extra-%d:\n    image: busybox\n    profiles: [extra]\n    environment:\n", i)
		for j := range 4 {
			fmt.Fprintf(&f, "      VAR_%d: %q\n", j, strings.Repeat("x", 2000))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(f.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	p, err := compose.Load(ctx, compose.Options{WorkingDir: dir, ProjectName: "upshift-bench-large"})
	if err != nil {
		b.Fatal(err)
	}
	stop := compose.StopOptions{Services: []string{"app"}}
	measure := func(cli *compose.CLI) time.Duration {
		start := time.Now()
		for range b.N {
			if err := cli.Stop(ctx, stop, nil); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(b.N)
	}
	files := measure(&compose.CLI{Project: p})
	cli := &compose.CLI{Project: p}
	done, err := cli.UseResolved(filepath.Join(dir, "resolved.yml"), []string{"app"})
	if err != nil {
		b.Fatal(err)
	}
	defer done()
	resolved := measure(cli)
	b.ReportMetric(float64(files.Milliseconds()), "ms/verb-files")
	b.ReportMetric(float64(resolved.Milliseconds()), "ms/verb-resolved")
	b.ReportMetric(float64(resolved)/float64(files), "resolved/files")
}
