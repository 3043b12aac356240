// Package dockertest is the orchestrator's end-to-end harness: the real
// Docker engine, the real `docker compose` CLI (v2+), a real registry on
// 127.0.0.1:5000, and images built here without pulling anything (FROM
// scratch with static binaries; PostgreSQL from Debian's packages, made by
// .ci/docker-env). Tests are skipped when the engine, compose v2 or the
// registry is missing, unless CI or UPSHIFT_E2E=1 is set: then they fail,
// so that CI never passes by skipping them.
package dockertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Registry is where test images are pushed and pulled from.
const Registry = "127.0.0.1:5000"

// PostgresImage is made by .ci/docker-env from Debian's packages.
const PostgresImage = "upshift-test/postgres:15"

var (
	checkOnce sync.Once
	checkErr  error
)

// Require skips (or, under CI / UPSHIFT_E2E=1, fails) a test when the
// engine, compose v2+, the registry or the PostgreSQL image is missing.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker; skipped with -short")
	}
	checkOnce.Do(func() { checkErr = check() })
	if checkErr != nil {
		if os.Getenv("CI") != "" || os.Getenv("UPSHIFT_E2E") == "1" {
			t.Fatalf("end-to-end test needs Docker: %v (run .ci/docker-env)", checkErr)
		}
		t.Skipf("needs Docker: %v (run .ci/docker-env, or set UPSHIFT_E2E=1 to make this a failure)", checkErr)
	}
}

func check() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("no Docker engine: %v %s", err, bytes.TrimSpace(out))
	}
	out, err := exec.CommandContext(ctx, "docker", "compose", "version", "--short").CombinedOutput()
	if err != nil || strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "1.") {
		return fmt.Errorf("no docker compose v2+: %v %s", err, bytes.TrimSpace(out))
	}
	resp, err := http.Get("http://" + Registry + "/v2/")
	if err != nil {
		return fmt.Errorf("no registry on %s: %v", Registry, err)
	}
	resp.Body.Close()
	if out, err := exec.CommandContext(ctx, "docker", "image", "inspect", PostgresImage).CombinedOutput(); err != nil {
		return fmt.Errorf("no %s image: %s", PostgresImage, bytes.TrimSpace(out))
	}
	return nil
}

// Binaries are built once per test process.
type Binaries struct {
	Upshift       string // for the host
	UpshiftStatic string // static (cgo linked in), for FROM scratch images
	TestApp       string // static
}

var (
	binOnce sync.Once
	bins    Binaries
	binErr  error
	binDir  string
)

// KeepVolume is the engine state volume of this test process's upshift
// runs (UPSHIFT_STATE_VOLUME): every run of the process shares it, as
// every machine reaching one engine shares upshift-state, and Cleanup
// removes it with its keeper and locks, leaving the engine as it was.
var KeepVolume = RandomName("upshift-state-test")

// Build builds upshift and the test app. Call Cleanup from TestMain.
func Build(t testing.TB) Binaries {
	t.Helper()
	binOnce.Do(func() {
		os.Setenv("UPSHIFT_STATE_VOLUME", KeepVolume)
		binDir, binErr = os.MkdirTemp("", "upshift-e2e-bin-")
		if binErr != nil {
			return
		}
		root := moduleRoot()
		bins = Binaries{
			Upshift:       filepath.Join(binDir, "upshift"),
			UpshiftStatic: filepath.Join(binDir, "static", "upshift"),
			TestApp:       filepath.Join(binDir, "testapp", "testapp"),
		}
		build := func(env []string, args ...string) error {
			cmd := exec.Command("go", append([]string{"build", "-trimpath"}, args...)...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		}
		if binErr = build(nil, "-o", bins.Upshift, "./cmd/upshift"); binErr != nil {
			return
		}
		if binErr = build([]string{"CGO_ENABLED=1"}, "-tags", "netgo,osusergo", "-ldflags", `-s -w -linkmode external -extldflags "-static"`, "-o", bins.UpshiftStatic, "./cmd/upshift"); binErr != nil {
			return
		}
		binErr = build([]string{"CGO_ENABLED=0"}, "-ldflags", "-s -w", "-o", bins.TestApp, "./internal/cmd/testapp")
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return bins
}

// Cleanup removes what Build made, and the state the runs kept on the
// engine.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
		RemoveKeep(KeepVolume)
	}
	// The app images Release built once for the package's tests.
	var tags []string
	imageCache.Range(func(k, _ any) bool {
		tags = append(tags, k.(string))
		return true
	})
	if len(tags) > 0 {
		_, _ = RunErr("", nil, "docker", append([]string{"rmi", "-f"}, tags...)...)
	}
	leaveSwarm()
}

// RemoveKeep removes an engine state volume, its keeper, its locks and its
// journal entries (and the empty image they were made from, unless
// another keep uses it).
func RemoveKeep(volume string) {
	out, _ := RunErr("", nil, "docker", "ps", "-aq", "--filter", "label=io.upshift.keep="+volume)
	if ids := strings.Fields(out); len(ids) > 0 {
		_, _ = RunErr("", nil, "docker", append([]string{"rm", "-f"}, ids...)...)
	}
	_, _ = RunErr("", nil, "docker", "volume", "rm", "-f", volume)
	out, _ = RunErr("", nil, "docker", "volume", "ls", "-q", "--filter", "label=io.upshift.keep="+volume)
	if vols := strings.Fields(out); len(vols) > 0 {
		_, _ = RunErr("", nil, "docker", append([]string{"volume", "rm", "-f"}, vols...)...)
	}
	if out, _ := RunErr("", nil, "docker", "ps", "-aq", "--filter", "label=io.upshift.keep"); strings.TrimSpace(out) == "" {
		_, _ = RunErr("", nil, "docker", "rmi", "upshift.local/keep:1")
	}
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Run runs a command and returns its combined output; it fails the test on
// a non-zero exit.
func Run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr runs a command and returns its combined output and error.
func RunErr(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// RandomName is a short random lowercase name with a prefix.
func RandomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var buildMu sync.Mutex

// BuildImage builds an image from a Dockerfile of testdata/upgrade and files
// (name in the context → path on disk, or content when the name ends in
// ":inline"), with build args. The legacy builder is used: FROM scratch
// needs no pull and no buildx.
func BuildImage(t testing.TB, tag, dockerfile string, files map[string]string, buildArgs ...string) {
	t.Helper()
	dir := t.TempDir()
	df, err := os.ReadFile(filepath.Join(Testdata(), dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		dst := filepath.Join(dir, strings.TrimSuffix(name, ":inline"))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		var b []byte
		var err error
		if strings.HasSuffix(name, ":inline") {
			b = []byte(src)
		} else if b, err = os.ReadFile(src); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	args := []string{"build", "-q", "-t", tag}
	for _, a := range buildArgs {
		args = append(args, "--build-arg", a)
	}
	Run(t, dir, []string{"DOCKER_BUILDKIT=0"}, "docker", append(args, ".")...)
}

// Push tags local as remote and pushes it to the registry.
func Push(t testing.TB, local, remote string) {
	t.Helper()
	Run(t, "", nil, "docker", "tag", local, remote)
	Run(t, "", nil, "docker", "push", "-q", remote)
}

// Migration is one migration of a test release's db-setup image.
type Migration struct {
	Tag string
	SQL string
}

// App is one build of the test service.
type App struct {
	Version       string
	Mode          string // ok, unhealthy, crash
	RequireColumn string // table.column the version needs
	// Build makes the image's content (and id) unique to a test, so that
	// removing its tags cannot disturb other tests.
	Build string
}

// Project is a throwaway compose project shaped like the documented
// deployments: db (PostgreSQL), app (the test service, its port published on
// 127.0.0.1) and db-setup (upshift migrate) under profile setup.
type Project struct {
	t        testing.TB
	Name     string
	Dir      string
	File     string
	Repo     string // registry namespace of its images
	Port     int
	Host     string // where Port is published ("": 127.0.0.1)
	StateDir string
	Bins     Binaries
	down     sync.Once
}

// Testdata is the folder with the deployment's compose file and Dockerfiles.
func Testdata() string { return filepath.Join(moduleRoot(), "testdata", "upgrade") }

// NewProject makes a project from testdata/upgrade/compose.yaml in a
// temporary folder; it is taken down (with its volumes, images of its own
// and upshift's pins) when the test ends.
func NewProject(t testing.TB) *Project { return NewProjectFrom(t, "compose.yaml") }

// NewProjectFrom makes a project from another compose file of
// testdata/upgrade (rolling.yaml: the app behind a proxy).
func NewProjectFrom(t testing.TB, file string) *Project {
	t.Helper()
	Require(t)
	p := &Project{t: t, Name: RandomName("e2e"), Dir: t.TempDir(), Port: FreePort(t), Bins: Build(t)}
	p.Repo = Registry + "/" + p.Name
	p.StateDir = filepath.Join(p.Dir, ".upshift-state")
	p.File = filepath.Join(p.Dir, "compose.yaml")
	compose, err := os.ReadFile(filepath.Join(Testdata(), file))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.File, compose, 0o644); err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("COMPOSE_PROJECT_NAME=%s\nAPP_PORT=%d\nAPP_REPO=%s\n", p.Name, p.Port, p.Repo)
	if err := os.WriteFile(filepath.Join(p.Dir, ".env"), []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Down)
	return p
}

// Down takes the project down before the test ends (a benchmark's round,
// so that the next one runs on an engine as loaded as the first); the
// test's end does it otherwise.
func (p *Project) Down() { p.down.Do(p.destroy) }

func (p *Project) destroy() {
	if os.Getenv("UPSHIFT_E2E_KEEP") != "" {
		p.t.Logf("keeping project %s in %s", p.Name, p.Dir)
		return
	}
	_, _ = RunErr(p.Dir, nil, "docker", "compose", "--profile", "setup", "down", "-v", "--remove-orphans", "-t", "1")
	p.removeImages()
}

// removeImages removes the project's images and upshift's pins of them.
func (p *Project) removeImages() {
	out, _ := RunErr("", nil, "docker", "images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}")
	var refs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[0], p.Repo+"/") && !strings.HasPrefix(f[0], "upshift.local/"+p.Name+"/") {
			continue
		}
		switch {
		case f[1] != "<none>":
			refs = append(refs, f[0]+":"+f[1])
		case f[2] != "<none>":
			// A release the project's :latest moved off, pulled by
			// digest: only its reference goes (the image may be another
			// project's too).
			refs = append(refs, f[0]+"@"+f[2])
		}
	}
	if len(refs) > 0 {
		// --no-prune: untagged parent layers may be another test's build
		// cache at this very moment.
		_, _ = RunErr("", nil, "docker", append([]string{"rmi", "-f", "--no-prune"}, refs...)...)
	}
}

var imageCache sync.Map // local tag → struct{}

// Release builds and pushes the app and setup images of one release as
// :latest (and as :<version>) in the project's registry namespace, the way a
// CI pipeline publishes a release.
func (p *Project) Release(app App, migrations []Migration) {
	t := p.t
	t.Helper()
	appTag := AppTag(app)
	if _, done := imageCache.Load(appTag); !done {
		mode := app.Mode
		if mode == "" {
			mode = "ok"
		}
		BuildImage(t, appTag, "app.Dockerfile", map[string]string{"testapp": p.Bins.TestApp},
			"APP_VERSION="+app.Version, "APP_MODE="+mode, "REQUIRE_COLUMN="+app.RequireColumn, "APP_BUILD="+app.Build)
		imageCache.Store(appTag, struct{}{})
	}
	files := map[string]string{"upshift": p.Bins.UpshiftStatic}
	var entries []string
	for i, m := range migrations {
		files["drizzle/"+m.Tag+".sql:inline"] = m.SQL
		entries = append(entries, fmt.Sprintf(`{"idx":%d,"version":"7","when":%d,"tag":%q,"breakpoints":true}`, i, 1700000000000+int64(i)*1000, m.Tag))
	}
	files["drizzle/meta/_journal.json:inline"] = `{"version":"7","dialect":"postgresql","entries":[` + strings.Join(entries, ",") + `]}`
	setupTag := "upshift-e2e/setup:" + p.Name + "-" + app.Version + "-" + RandomName("")
	BuildImage(t, setupTag, "setup.Dockerfile", files, "BUILD_ID="+setupTag)
	for _, tag := range []string{"latest", app.Version} {
		Push(t, appTag, p.Repo+"/app:"+tag)
		Push(t, setupTag, p.Repo+"/setup:"+tag)
	}
	_, _ = RunErr("", nil, "docker", "rmi", "--no-prune", setupTag)
}

func imageKey(a App) string {
	k := a.Version + "-" + a.Mode + "-" + a.RequireColumn + "-" + a.Build
	return strings.NewReplacer(".", "-", "_", "-").Replace(strings.ToLower(k))
}

// Result is one run of the upshift binary.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

// Command prepares `upshift args…` in the project's folder.
func (p *Project) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(p.Bins.Upshift, args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), "UPSHIFT_STATE_DIR="+p.StateDir)
	return cmd
}

// Upshift runs upshift in the project's folder.
func (p *Project) Upshift(args ...string) Result {
	p.t.Helper()
	return RunUpshift(p.t, p.Bins, p.Dir, []string{"UPSHIFT_STATE_DIR=" + p.StateDir}, args...)
}

// RunUpshift runs upshift in dir with env added to the process's.
func RunUpshift(t testing.TB, bins Binaries, dir string, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bins.Upshift, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return Capture(t, cmd)
}

// Capture runs cmd and returns its exit code and output; it fails the test
// only when cmd cannot run at all.
func Capture(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

// HealthURL is the app's health endpoint on the host (through the proxy
// in rolling.yaml).
func (p *Project) HealthURL() string {
	host := p.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("http://%s:%d/health", host, p.Port)
}

// Health asks the app's health endpoint once.
func (p *Project) Health() (int, string) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(p.HealthURL())
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var body struct {
		Version string `json:"version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Version
}

// Compose runs docker compose in the project's folder.
func (p *Project) Compose(args ...string) string {
	p.t.Helper()
	return Run(p.t, p.Dir, nil, "docker", append([]string{"compose"}, args...)...)
}

// SQL runs a query in the project's database and returns psql's unaligned output.
func (p *Project) SQL(query string) string {
	p.t.Helper()
	return strings.TrimSpace(p.Compose("exec", "-T", "db", "psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", query))
}

// Running lists a service's running containers.
func (p *Project) Running(service string) []string {
	p.t.Helper()
	out := p.Compose("ps", "--format", "{{.Name}} {{.State}}", service)
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == "running" {
			names = append(names, f[0])
		}
	}
	return names
}

// AppTag is the local tag Release builds an app image under.
func AppTag(a App) string { return "upshift-e2e/app:" + imageKey(a) }
