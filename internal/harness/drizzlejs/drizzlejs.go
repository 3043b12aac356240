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
	"runtime"
)

//go:embed migrate.mjs
var script []byte

// Packed is where the installed copies of the pinned releases are kept for
// machines where npm cannot reach its registry (../shared/drizzle-orm beside
// the checkout); $DRIZZLE_ORM_PACKED overrides it.
func Packed() string {
	if d := os.Getenv("DRIZZLE_ORM_PACKED"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "drizzle-orm")
}

// Install makes sure drizzle-orm@version and pg are installed in a cache
// folder and returns the path of a migrate.mjs that uses them: from the
// packed copy when there is one (the same bytes npm installed), else with
// npm.
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
		if tgz := filepath.Join(Packed(), "drizzle-orm-"+version+".tgz"); fileExists(tgz) {
			if out, err := exec.Command("tar", "xzf", tgz, "-C", dir).CombinedOutput(); err != nil {
				return "", fmt.Errorf("unpack %s: %v\n%s", tgz, err, out)
			}
			// The pack holds its own package.json without "type": module.
			if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private":true,"type":"module"}`), 0o644); err != nil {
				return "", err
			}
		} else {
			// No retries: where the registry is out of reach, npm's default
			// backoff spent over a minute per version before giving up.
			cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--silent", "--fetch-retries=0", "--fetch-timeout=30000", "drizzle-orm@"+version, "pg@8")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("npm install drizzle-orm@%s: %v\n%s", version, err, out)
			}
		}
	}
	path := filepath.Join(dir, "migrate.mjs")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Command returns the command that runs drizzle-orm's migrate() on folder.
func Command(script, databaseURL, folder string) *exec.Cmd {
	cmd := exec.Command("node", script, folder)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL)
	return cmd
}
