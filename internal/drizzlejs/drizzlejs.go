// Package drizzlejs installs and runs the real drizzle-orm migrator with
// node, for compatibility tests and benchmarks. Nothing here is needed to
// use upshift.
package drizzlejs

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

//go:embed migrate.mjs
var script []byte

// Install makes sure drizzle-orm@version and pg are installed in a cache
// folder and returns the path of a migrate.mjs that uses them.
func Install(version string) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("node is not installed")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "upshift", "drizzle-orm-"+version)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "drizzle-orm", "package.json")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private":true,"type":"module"}`), 0o644); err != nil {
			return "", err
		}
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--silent", "drizzle-orm@"+version, "pg@8")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm install drizzle-orm@%s: %v\n%s", version, err, out)
		}
	}
	path := filepath.Join(dir, "migrate.mjs")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// Command returns the command that runs drizzle-orm's migrate() on folder.
func Command(script, databaseURL, folder string) *exec.Cmd {
	cmd := exec.Command("node", script, folder)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL)
	return cmd
}
