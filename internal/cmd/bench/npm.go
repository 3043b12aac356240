package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/drizzlejs"
)

// npmBench: the no-op migrate of a Node project that installed upshift from
// the release's npm packages (offline, from their tarballs), against the
// same project's drizzle-orm migrate script (node migrate.mjs), interleaved,
// on one database with 500 applied. node_modules/.bin/upshift is what a
// package.json script runs; npx adds npm's own start to it. Installed with
// scripts, the binary itself is the command; with --ignore-scripts, the node
// launcher runs it.
func npmBench(s *server, npmDir, work, dir500 string) error {
	v, tarballs, err := npmTarballs(npmDir)
	if err != nil {
		return err
	}
	dbURL, err := s.newDB("bench_npm")
	if err != nil {
		return err
	}
	install := func(name string, extra ...string) (string, error) {
		dir := filepath.Join(work, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"app","version":"1.0.0","private":true}`), 0o644); err != nil {
			return "", err
		}
		args := append([]string{"install", "--offline", "--cache", filepath.Join(work, "npm-cache"), "--no-audit", "--no-fund", "--save-dev"}, extra...)
		cmd := exec.Command("npm", append(args, tarballs...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm install of upshift %s: %v\n%s", v, err, out)
		}
		return dir, nil
	}
	withScripts, err := install("npm-scripts")
	if err != nil {
		return err
	}
	launcherOnly, err := install("npm-ignore-scripts", "--ignore-scripts")
	if err != nil {
		return err
	}
	in := func(dir, name string, args ...string) func() error {
		return func() error {
			cmd := exec.Command(name, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
			}
			return nil
		}
	}
	if err := in(withScripts, "node_modules/.bin/upshift", "migrate", "--dir", dir500)(); err != nil {
		return err
	}
	if err := settle(dbURL); err != nil {
		return err
	}
	script, err := drizzlejs.Install("0.45.4")
	if err != nil {
		fmt.Printf("| `npx upshift migrate`, 500 applied (npm package) | — | drizzle-orm not available (%v) | — | ≥ 3x faster |\n", firstLine(err.Error()))
		return nil
	}
	sides := []struct {
		label string
		fn    func() error
		times []time.Duration
	}{
		{label: "`npm run` script → `node_modules/.bin/upshift migrate` (installed with scripts: the binary)", fn: in(withScripts, "node_modules/.bin/upshift", "migrate", "--dir", dir500)},
		{label: "the same installed with `--ignore-scripts` (the node launcher runs the binary)", fn: in(launcherOnly, "node_modules/.bin/upshift", "migrate", "--dir", dir500)},
		{label: "`npx upshift migrate` (npm's own start included)", fn: in(withScripts, "npx", "--offline", "upshift", "migrate", "--dir", dir500)},
		{label: "drizzle-orm", fn: func() error {
			if out, err := drizzlejs.Command(script, dbURL, dir500).CombinedOutput(); err != nil {
				return fmt.Errorf("drizzle-orm: %v\n%s", err, out)
			}
			return nil
		}},
	}
	for i := -2; i < *runs; i++ {
		for j := range sides {
			d, err := timeRuns(1, nil, sides[j].fn)
			if err != nil {
				return err
			}
			sides[j].times = append(sides[j].times, d)
		}
	}
	dz := median(sides[3].times[2:])
	for _, side := range sides[:3] {
		up := median(side.times[2:])
		target := "—"
		if strings.HasPrefix(side.label, "`npx") {
			target = "≥ 3x faster"
		}
		fmt.Printf("| npm package %s: %s, 500 applied, nothing pending | %s | `node migrate.mjs` (drizzle-orm 0.45.4 `migrate()`): %s | %s | %s |\n",
			v, side.label, ms(up), ms(dz), speedup(up, dz), target)
	}
	return nil
}

// npmTarballs finds the main package and this platform's in a release's npm folder.
func npmTarballs(dir string) (version string, tarballs []string, err error) {
	if dir, err = filepath.Abs(dir); err != nil {
		return "", nil, err
	}
	mains, _ := filepath.Glob(filepath.Join(dir, "upshift-[0-9]*.tgz"))
	if len(mains) != 1 {
		return "", nil, fmt.Errorf("%s: want one upshift-X.Y.Z.tgz (make release), found %d", dir, len(mains))
	}
	version = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(mains[0]), "upshift-"), ".tgz")
	cpu := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	platform := filepath.Join(dir, "upshift-dev-upshift-"+runtime.GOOS+"-"+cpu+"-"+version+".tgz")
	if _, err := os.Stat(platform); err != nil {
		return "", nil, err
	}
	return version, []string{mains[0], platform}, nil
}

// speedup says how much faster (or slower) d is than ref.
func speedup(d, ref time.Duration) string {
	if d <= ref {
		return fmt.Sprintf("%.1fx faster", float64(ref)/float64(d))
	}
	return fmt.Sprintf("%.1fx slower", float64(d)/float64(ref))
}
