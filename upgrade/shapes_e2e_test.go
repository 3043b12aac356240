package upgrade_test

// The deployment shapes of issue 18 on the real engine: images built on the
// host, one-shot chains named by the compose file, migrations through the
// app's own image.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/dockertest"
)

// buildProject is testdata/upgrade/build.yaml with the app's build context
// (the test service binary and its Dockerfile) at version.
func buildProject(t testing.TB) *dockertest.Project {
	t.Helper()
	p := dockertest.NewProjectFrom(t, "build.yaml")
	ctxDir := filepath.Join(p.Dir, "app")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	df, _ := os.ReadFile(filepath.Join(dockertest.Testdata(), "app.Dockerfile"))
	bin, err := os.ReadFile(p.Bins.TestApp)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"Dockerfile": df, "testapp": bin} {
		if err := os.WriteFile(filepath.Join(ctxDir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = dockertest.RunErr("", nil, "docker", "rmi", "--no-prune", p.Name+"-app:local") })
	return p
}

func setVersion(t testing.TB, p *dockertest.Project, version, column string) {
	t.Helper()
	env, _ := os.ReadFile(filepath.Join(p.Dir, ".env"))
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		if !strings.HasPrefix(l, "APP_VERSION=") && !strings.HasPrefix(l, "REQUIRE_COLUMN=") {
			keep = append(keep, l)
		}
	}
	keep = append(keep, "APP_VERSION="+version, "REQUIRE_COLUMN="+column)
	if err := os.WriteFile(filepath.Join(p.Dir, ".env"), []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Mana's shape: built on the host, container_name, fixed port. The upgrade
// builds (nothing is pulled for the app), the rollback returns to the
// previous build, and a broken Dockerfile changes nothing.
func TestBuildOnTheHost(t *testing.T) {
	t.Parallel()
	p := buildProject(t)
	p.Release(v1, []dockertest.Migration{mUsers}) // db-setup from the registry
	setVersion(t, p, "v1", "users.name")
	if r := p.Upshift("upgrade", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1"); r.Code != 0 {
		t.Fatalf("first deploy: %s", r)
	}
	expectServing(t, p, "v1")
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	setVersion(t, p, "v2", "users.nickname")

	dry := p.Upshift("upgrade", "--service", "app", "--dry-run")
	if !strings.Contains(dry.Stdout, "build app") || strings.Contains(dry.Stdout, "pull app") {
		t.Errorf("the dry run does not show the build:\n%s", dry)
	}
	doc := succeeded(t, p, defaultArgs(p, "v2", "--format", "json")...)
	expectServing(t, p, "v2")
	names := stepNames(doc)
	// container_name and a fixed port: the default migrates first.
	if got := strings.Join(names, " "); got != "pin pull build gate setup start verify" {
		t.Errorf("steps %s", got)
	}
	if running := p.Running("app"); len(running) != 1 || running[0] != p.Name+"-app" {
		t.Errorf("container %v, want %s-app (its container_name)", running, p.Name)
	}

	if r := p.Upshift("rollback", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1"); r.Code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	expectServing(t, p, "v1")

	// A Dockerfile that does not build: exit 1 before anything stopped.
	// (It fails at a COPY: a failed RUN leaves the classic builder's
	// container behind on the engine.)
	before := imageOf(t, p)
	df := filepath.Join(p.Dir, "app", "Dockerfile")
	good, _ := os.ReadFile(df)
	if err := os.WriteFile(df, append(good, []byte("COPY no-such-file /no-such-file\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	r := p.Upshift(upgradeArgs(p, "v2")...)
	if r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, "nothing was stopped") {
		t.Errorf("broken build: %s", r)
	}
	expectServing(t, p, "v1")
	if imageOf(t, p) != before {
		t.Errorf("a failed build changed the running image")
	}
}

// A chain migrate → seed → app, in order, with no setup flag: the seed's
// row sees the migrated table.
func TestSetupChainFromTheComposeFile(t *testing.T) {
	t.Parallel()
	p := dockertest.NewProjectFrom(t, "chain.yaml")
	p.Release(v1, []dockertest.Migration{mUsers})
	r := p.Upshift("upgrade", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v1")
	if r.Code != 0 {
		t.Fatalf("first deploy: %s", r)
	}
	if !strings.Contains(r.Stdout, "    migrate | ") || !strings.Contains(r.Stdout, "    seed | INSERT 0 1") {
		t.Errorf("the chain's output is not prefixed by its steps:\n%s", r.Stdout)
	}
	if i, j := strings.Index(r.Stdout, "run migrate once"), strings.Index(r.Stdout, "run seed once"); i < 0 || j < i {
		t.Errorf("migrate does not run before seed:\n%s", r.Stdout)
	}
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	if r := p.Upshift(upgradeArgs(p, "v2")...); r.Code != 0 {
		t.Fatalf("upgrade: %s", r)
	}
	expectServing(t, p, "v2")
	if got := p.SQL("SELECT count(*) FROM seeds"); got != "2" {
		t.Errorf("seed ran %s times, want 2 (once per upgrade)", got)
	}
	if out := strings.TrimSpace(p.Compose("ps", "-a", "-q", "migrate", "seed")); out != "" {
		t.Errorf("the one-shots left containers: %s", out)
	}
}

// Migrations through the app's own image: the app's image carries upshift
// too, and --setup-command runs it in a new app container on the new image.
func TestSetupCommandInTheAppsImage(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	bin := dockertest.Build(t)
	files := map[string]string{"testapp": bin.TestApp, "upshift": bin.UpshiftStatic,
		"drizzle/0000_users.sql:inline": mUsers.SQL, "drizzle/0001_nickname.sql:inline": mNickname.SQL,
		"drizzle/meta/_journal.json:inline": `{"version":"7","dialect":"postgresql","entries":[{"idx":0,"version":"7","when":1700000000000,"tag":"0000_users","breakpoints":true},{"idx":1,"version":"7","when":1700000001000,"tag":"0001_nickname","breakpoints":true}]}`}
	local := "upshift-e2e/combined:" + p.Name
	dockertest.BuildImage(t, local, "combined.Dockerfile", files, "APP_VERSION=v2", "REQUIRE_COLUMN=users.nickname")
	dockertest.Push(t, local, p.Repo+"/app:latest")
	_, _ = dockertest.RunErr("", nil, "docker", "rmi", "--no-prune", local)
	r := p.Upshift(upgradeArgs(p, "v2", "--setup-service", "app", "--setup-command", "/upshift migrate --dir /drizzle --service app", "--format", "json")...)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	expectServing(t, p, "v2")
	setup := decode(t, r)["setup"].(map[string]any)
	if setup["service"] != "app" || setup["migrations_source"] != "result" || len(setup["migrations_applied"].([]any)) != 1 {
		t.Errorf("setup %v", setup)
	}
	if appliedMigrations(p) != "1,2" {
		t.Errorf("migrations %s", appliedMigrations(p))
	}
}
