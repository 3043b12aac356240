package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// parserBench: lint of a real history (sim's 298 migrations) with the
// released binary (libpg_query with cgo) against the pure-Go build
// (CGO_ENABLED=0: libpg_query as WebAssembly, as darwin releases and go
// install without gcc have it), interleaved: why Linux releases keep cgo.
func parserBench(bin, pureGo, folder string) error {
	lint := func(b string) func() error {
		return func() error {
			cmd := exec.Command(b, "lint", "--dir", folder, "--level", "error")
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
				err = nil // findings
			}
			if err != nil {
				return fmt.Errorf("%s lint: %v\n%s", b, err, out)
			}
			return nil
		}
	}
	var cg, wz []time.Duration
	for i := -1; i < 5; i++ {
		d, err := timeRuns(1, nil, lint(bin))
		if err != nil {
			return err
		}
		cg = append(cg, d)
		if d, err = timeRuns(1, nil, lint(pureGo)); err != nil {
			return err
		}
		wz = append(wz, d)
	}
	c, w := median(cg[1:]), median(wz[1:])
	fmt.Printf("| `lint` of %s (%s), released binary: libpg_query with cgo | %s | the pure-Go build (WebAssembly parser): %s | %.1fx faster | ≤ 1.5x the WebAssembly-free binary |\n",
		filepath.Base(folder), "a real history", ms(c), ms(w), float64(w)/float64(c))
	return nil
}
