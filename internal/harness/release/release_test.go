// Package release tests a release as users install it: the folder `make
// release` wrote (UPSHIFT_DIST; `make release-test` builds one and runs
// these), its archives and checksums, the arm64 binary under qemu-user, the
// npm packages installed offline into a fresh Node project, the docker CLI
// plugin, install.sh and the Action's own steps against a local server.
// Without UPSHIFT_DIST every test skips.
package release

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"debug/elf"
	"debug/macho"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type dist struct {
	dir, version string // version as tagged: v0.9.0
}

func (d dist) v() string { return strings.TrimPrefix(d.version, "v") }

func (d dist) archive(osArch string) string {
	return filepath.Join(d.dir, "upshift_"+d.v()+"_"+osArch+".tar.gz")
}

func needDist(t *testing.T) dist {
	t.Helper()
	dir, version := os.Getenv("UPSHIFT_DIST"), os.Getenv("UPSHIFT_DIST_VERSION")
	if dir == "" || version == "" {
		t.Skip("no release to test: make release-test builds one (UPSHIFT_DIST, UPSHIFT_DIST_VERSION)")
	}
	return dist{dir, version}
}

var platforms = []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"}

// unpack extracts an archive into a new folder and returns the names it held.
func unpack(t *testing.T, archive string) (string, []string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", archive, err)
	}
	dir := t.TempDir()
	var names []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", archive, err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s owned by %d:%d, want 0:0", archive, h.Name, h.Uid, h.Gid)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(h.Name)), b, os.FileMode(h.Mode)&0o777); err != nil {
			t.Fatal(err)
		}
	}
	return dir, names
}

// TestArchivesAndChecksums: checksums.txt covers every archive and package
// and sha256sum -c passes; every archive holds upshift, LICENSE and
// README.md; Linux binaries are static for their CPU, darwin ones Mach-O for
// theirs; the linux/amd64 binary says its version and commit.
func TestArchivesAndChecksums(t *testing.T) {
	d := needDist(t)
	dockertest.Run(t, d.dir, nil, "sha256sum", "--strict", "-c", "checksums.txt")
	sums, err := os.ReadFile(filepath.Join(d.dir, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		_, name, _ := strings.Cut(line, "  ")
		listed[name] = true
	}
	var want []string
	for _, p := range platforms {
		want = append(want, filepath.Base(d.archive(p)))
	}
	npms, _ := filepath.Glob(filepath.Join(d.dir, "npm", "*.tgz"))
	if len(npms) != 5 {
		t.Errorf("npm/: %d packages, want the main one and one per platform (5)", len(npms))
	}
	for _, p := range npms {
		want = append(want, "npm/"+filepath.Base(p))
	}
	want = append(want, "install.sh")
	for _, w := range want {
		if !listed[w] {
			t.Errorf("checksums.txt does not cover %s", w)
		}
	}

	license, _ := os.ReadFile("../../../LICENSE")
	if !strings.Contains(string(license), "Apache License") || !strings.Contains(string(license), "Version 2.0") {
		t.Fatal("LICENSE at the root is not the Apache License 2.0")
	}
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) {
			dir, names := unpack(t, d.archive(p))
			slices.Sort(names)
			if !slices.Equal(names, []string{"LICENSE", "README.md", "upshift"}) {
				t.Fatalf("archive holds %q, want LICENSE, README.md, upshift", names)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "LICENSE")); string(got) != string(license) {
				t.Error("the archive's LICENSE differs from the repository's")
			}
			bin := filepath.Join(dir, "upshift")
			goos, goarch, _ := strings.Cut(p, "_")
			if goos == "linux" {
				f, err := elf.Open(bin)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if m := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]; f.Machine != m {
					t.Errorf("machine %v, want %v", f.Machine, m)
				}
				for _, prog := range f.Progs {
					if prog.Type == elf.PT_INTERP {
						t.Error("dynamically linked (it has an interpreter): it would not run FROM scratch or on Alpine")
					}
				}
			} else {
				f, err := macho.Open(bin)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if m := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]; f.Cpu != m {
					t.Errorf("cpu %v, want %v", f.Cpu, m)
				}
			}
			if p == runtime.GOOS+"_"+runtime.GOARCH {
				var v map[string]string
				if err := json.Unmarshal([]byte(dockertest.Run(t, "", nil, bin, "version", "--format", "json")), &v); err != nil {
					t.Fatal(err)
				}
				head, _ := dockertest.RunErr("", nil, "git", "rev-parse", "HEAD")
				if v["version"] != d.version || v["commit"] != strings.TrimSpace(head) || v["date"] == "" || v["parser"] != "libpg_query (cgo)" {
					t.Errorf("version of the released binary: %v, want %s at commit %s with the cgo parser", v, d.version, head)
				}
			}
		})
	}
}

// goldenDir is the output of the real drizzle-kit 1.x, with the rows the
// real drizzle-orm wrote for it.
const goldenDir = "../../../testdata/drizzle-golden/v1-folders"

type goldenRow struct {
	ID        int64  `json:"id"`
	Hash      string `json:"hash"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"`
}

func goldenRows(t *testing.T) []goldenRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, "expected_migrations_table.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct{ Rows []goldenRow }
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g.Rows
}

func migrationRows(t *testing.T, db *pgtest.DB) []goldenRow {
	t.Helper()
	conn := db.Connect(t)
	rows, err := conn.Query(context.Background(), `SELECT id, hash, name, created_at FROM drizzle.__drizzle_migrations ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []goldenRow
	for rows.Next() {
		var r goldenRow
		if err := rows.Scan(&r.ID, &r.Hash, &r.Name, &r.CreatedAt); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	return got
}

// TestArm64UnderQemu: the linux/arm64 binary runs `upshift version` and
// `upshift status` against a real PostgreSQL under qemu-user.
func TestArm64UnderQemu(t *testing.T) {
	d := needDist(t)
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("qemu-aarch64 not found (apt-get install -y qemu-user)")
		}
		t.Skip("qemu-aarch64 not found (apt-get install -y qemu-user)")
	}
	dir, _ := unpack(t, d.archive("linux_arm64"))
	bin := filepath.Join(dir, "upshift")
	out := dockertest.Run(t, "", nil, qemu, bin, "version")
	if !strings.HasPrefix(out, "upshift "+d.version+"\n") || !strings.Contains(out, "linux/arm64") {
		t.Fatalf("upshift version under qemu: %q", out)
	}
	db := pgtest.Shared(t).NewDB(t)
	out, err = dockertest.RunErr("", []string{"DATABASE_URL=" + db.URL}, qemu, bin, "status", "--dir", filepath.Join(goldenDir, "drizzle"), "--exit-code")
	if code := exitCode(err); code != 4 || strings.Count(out, "pending") < 4 || !strings.Contains(out, "20261121131230_initial_schema") {
		t.Fatalf("status under qemu: exit %d, want 4 with four pending migrations named:\n%s", code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestNPMPackageOffline: a fresh Node project installs the packages from
// their tarballs with no registry (npm install --offline, an empty cache),
// and `npx upshift migrate` applies the project's drizzle-kit folder, found
// through its drizzle.config.ts, to a real PostgreSQL, writing exactly the
// rows the real drizzle-orm wrote. Once with install scripts (the binary
// replaces the node launcher) and once with --ignore-scripts (the launcher
// runs it).
func TestNPMPackageOffline(t *testing.T) {
	d := needDist(t)
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm not installed")
	}
	cpu := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	tarballs := []string{
		filepath.Join(d.dir, "npm", "upshift-"+d.v()+".tgz"),
		filepath.Join(d.dir, "npm", "upshift-dev-upshift-"+runtime.GOOS+"-"+cpu+"-"+d.v()+".tgz"),
	}
	for _, mode := range []string{"scripts", "ignore-scripts"} {
		t.Run(mode, func(t *testing.T) {
			project := t.TempDir()
			write(t, filepath.Join(project, "package.json"), `{"name": "app", "version": "1.0.0", "private": true, "scripts": {"db:migrate": "upshift migrate --service app"}}`)
			write(t, filepath.Join(project, "drizzle.config.ts"), `import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema.ts",
  out: "./src/db/migrations",
  dbCredentials: { url: process.env.DATABASE_URL! },
});
`)
			if err := os.CopyFS(filepath.Join(project, "src", "db", "migrations"), os.DirFS(filepath.Join(goldenDir, "drizzle"))); err != nil {
				t.Fatal(err)
			}
			args := []string{"install", "--offline", "--cache", filepath.Join(t.TempDir(), "npm-cache"), "--no-audit", "--no-fund", "--save-dev"}
			if mode == "ignore-scripts" {
				args = append(args, "--ignore-scripts")
			}
			dockertest.Run(t, project, nil, "npm", append(args, tarballs...)...)
			launcher, err := os.ReadFile(filepath.Join(project, "node_modules", "upshift", "bin", "upshift"))
			if err != nil {
				t.Fatal(err)
			}
			if isNode := strings.HasPrefix(string(launcher), "#!/usr/bin/env node"); isNode != (mode == "ignore-scripts") {
				t.Errorf("node_modules/upshift/bin/upshift is the node launcher: %v; want the launcher only when install scripts did not run", isNode)
			}

			db := pgtest.Shared(t).NewDB(t)
			env := []string{"DATABASE_URL=" + db.URL}
			out := dockertest.Run(t, project, env, "npx", "--offline", "upshift", "migrate")
			if !strings.Contains(out, "from drizzle.config.ts") || !strings.Contains(out, "20261121131240_backfill_credits") {
				t.Errorf("npx upshift migrate did not say it took the folder from drizzle.config.ts and applied the project's migrations:\n%s", out)
			}
			got, want := migrationRows(t, db), goldenRows(t)
			if !slices.Equal(got, want) {
				t.Fatalf("rows written through the npm package:\n%v\nwant drizzle-orm's:\n%v", got, want)
			}
			// npm run, as a project's script runs it: nothing pending now.
			if out := dockertest.Run(t, project, env, "npm", "run", "--silent", "db:migrate"); !strings.Contains(out, "nothing to migrate") {
				t.Errorf("npm run db:migrate on an up-to-date database: %s", out)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDockerCLIPlugin: the linux binary copied to cli-plugins/docker-upshift
// is listed by docker and runs as `docker upshift …`; the context docker is
// given is the engine upshift uses.
func TestDockerCLIPlugin(t *testing.T) {
	d := needDist(t)
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI")
	}
	dir, _ := unpack(t, d.archive(runtime.GOOS+"_"+runtime.GOARCH))
	config := t.TempDir()
	plugins := filepath.Join(config, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "upshift"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "docker-upshift"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"DOCKER_CONFIG=" + config}
	// The compose plugin the user has, seen from this config folder too.
	home, _ := os.UserHomeDir()
	for _, p := range []string{filepath.Join(home, ".docker", "cli-plugins", "docker-compose"), "/usr/local/lib/docker/cli-plugins/docker-compose",
		"/usr/libexec/docker/cli-plugins/docker-compose", "/usr/lib/docker/cli-plugins/docker-compose"} {
		if _, err := os.Stat(p); err == nil {
			if err := os.Symlink(p, filepath.Join(plugins, "docker-compose")); err != nil {
				t.Fatal(err)
			}
			break
		}
	}

	if out := dockertest.Run(t, "", env, docker, "upshift", "version"); !strings.HasPrefix(out, "upshift "+d.version+"\n") {
		t.Fatalf("docker upshift version: %q", out)
	}
	if out := dockertest.Run(t, "", env, docker, "--help"); !strings.Contains(out, "upshift*") && !strings.Contains(out, "upshift ") {
		t.Errorf("docker --help does not list the plugin:\n%s", out)
	}
	// A context pointing at an engine that is not there: upshift must use
	// it (and say so), not the default engine docker would otherwise reach.
	sock := filepath.Join(t.TempDir(), "nothing.sock")
	dockertest.Run(t, "", env, docker, "context", "create", "upshift-plugin-test", "--docker", "host=unix://"+sock)
	project := t.TempDir()
	write(t, filepath.Join(project, "compose.yaml"), "services:\n  api:\n    image: 127.0.0.1:5000/nothing/api:1\n")
	out, err := dockertest.RunErr(project, env, docker, "--context", "upshift-plugin-test", "upshift", "upgrade", "--service", "api")
	if code := exitCode(err); code != 2 || !strings.Contains(out, "upshift-plugin-test") || !strings.Contains(out, sock) {
		t.Fatalf("docker --context upshift-plugin-test upshift upgrade: exit %d, want 2 naming the context and its engine:\n%s", code, out)
	}
}

// server serves a release folder as GitHub serves a release's files and
// counts the archives it hands out.
func server(t *testing.T, dir string) (*httptest.Server, *atomic.Int32) {
	var archives atomic.Int32
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".tar.gz") {
			archives.Add(1)
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &archives
}

// tampered is a copy of the release whose archive for this machine is not
// the one checksums.txt names.
func tampered(t *testing.T, d dist) string {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(d.dir)); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, filepath.Base(d.archive(runtime.GOOS+"_"+runtime.GOARCH)))
	f, err := os.OpenFile(archive, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	f.Close()
	return dir
}

// TestInstallScript: install.sh as `curl … | sh` runs it, against a server
// holding the release: the binary lands in the folder and runs; a second run
// verifies and downloads nothing; an archive that does not match
// checksums.txt is refused and nothing is installed.
func TestInstallScript(t *testing.T) {
	d := needDist(t)
	script, err := os.ReadFile(filepath.Join(d.dir, "install.sh"))
	if err != nil {
		t.Fatal(err)
	}
	srv, archives := server(t, d.dir)
	install := func(url, dir, version string) (string, error) {
		cmd := exec.Command("sh")
		cmd.Stdin = strings.NewReader(string(script))
		cmd.Env = append(os.Environ(), "UPSHIFT_DOWNLOAD_URL="+url, "UPSHIFT_INSTALL_DIR="+dir, "UPSHIFT_VERSION="+version)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	dir := filepath.Join(t.TempDir(), "bin")
	if out, err := install(srv.URL, dir, d.version); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	if out := dockertest.Run(t, "", nil, filepath.Join(dir, "upshift"), "version"); !strings.HasPrefix(out, "upshift "+d.version+"\n") {
		t.Fatalf("installed binary: %q", out)
	}
	if out, err := install(srv.URL, dir, "latest"); err != nil || archives.Load() != 1 || !strings.Contains(out, "already") {
		t.Fatalf("second install (latest): %v, %d archives downloaded in all, want 1:\n%s", err, archives.Load(), out)
	}
	if out, err := install(srv.URL, dir, "v0.0.1"); exitCode(err) != 1 || !strings.Contains(out, "not v0.0.1") {
		t.Errorf("a release folder of another version: exit %d, want 1 saying so:\n%s", exitCode(err), out)
	}

	bad, _ := server(t, tampered(t, d))
	dir2 := filepath.Join(t.TempDir(), "bin")
	out, err := install(bad.URL, dir2, d.version)
	if exitCode(err) != 1 || !strings.Contains(out, "checksum mismatch") || !strings.Contains(out, "nothing installed") {
		t.Fatalf("a tampered archive: exit %d, want 1 with a checksum mismatch:\n%s", exitCode(err), out)
	}
	if _, err := os.Stat(filepath.Join(dir2, "upshift")); err == nil {
		t.Fatal("a tampered archive was installed")
	}
}
