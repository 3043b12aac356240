package upgrade_test

// The deployment shapes of issue 18 on the real engine: images built on the
// host, one-shot chains named by the compose file, migrations through the
// app's own image.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
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

// shapePlan plans an upgrade of a shape of testdata/upgrade/shapes with
// `upshift upgrade --dry-run` on the real engine: its text and its JSON.
func shapePlan(t *testing.T, shape string, args ...string) (text string, doc map[string]any) {
	t.Helper()
	dockertest.Require(t)
	bins := dockertest.Build(t)
	dir := t.TempDir()
	src := filepath.Join(dockertest.Testdata(), "shapes", shape)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	volume := dockertest.RandomName("upshift-state-dry")
	env := []string{"UPSHIFT_STATE_DIR=" + t.TempDir(), "COMPOSE_PROJECT_NAME=" + dockertest.RandomName("shape"), "UPSHIFT_STATE_VOLUME=" + volume}
	t.Cleanup(func() {
		// A dry run makes nothing on the engine, not even upshift's keep.
		if out, err := dockertest.RunErr("", nil, "docker", "volume", "inspect", volume); err == nil {
			t.Errorf("a dry run made the state volume %s: %s", volume, out)
			dockertest.RemoveKeep(volume)
		}
	})
	r := dockertest.RunUpshift(t, bins, dir, env, append([]string{"upgrade", "--dry-run"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("dry run of %s: %s", shape, r)
	}
	j := dockertest.RunUpshift(t, bins, dir, env, append([]string{"upgrade", "--dry-run", "--format", "json"}, args...)...)
	if j.Code != 0 {
		t.Fatalf("dry run of %s, JSON: %s", shape, j)
	}
	return r.Stdout + r.Stderr, decode(t, j)
}

func stepWhat(doc map[string]any, name string) []string {
	var out []string
	for _, s := range doc["steps"].([]any) {
		if m := s.(map[string]any); m["name"] == name {
			out = append(out, m["what"].(string))
		}
	}
	return out
}

// The plans of real compose shapes (issue 36), each a fixture written here.
func TestPlansOfRealShapes(t *testing.T) {
	t.Parallel()
	t.Run("a key in a setup command is in no output", func(t *testing.T) {
		const key = "Wq8Zr2Lx5Tn0Vb7Km3Hc9Pd4Jf6Ys1Ga"
		text, doc := shapePlan(t, "masterkey", "--service", "idp")
		b, _ := json.Marshal(doc)
		if strings.Contains(text, key) || strings.Contains(string(b), key) {
			t.Errorf("the key from .env was printed:\n%s\n%s", text, b)
		}
		if !strings.Contains(doc["strategy_reason"].(string), "init --masterkey") {
			t.Errorf("the reason does not quote the command (redacted): %v", doc["strategy_reason"])
		}
	})
	t.Run("the migration is the step that migrates, not the first", func(t *testing.T) {
		text, doc := shapePlan(t, "perms", "--service", "app")
		setups := stepWhat(doc, "setup")
		if len(setups) != 1 || !strings.Contains(setups[0], "run app-migrate once") || !strings.Contains(setups[0], "(migrations)") || !strings.Contains(setups[0], "compose runs perms first") {
			t.Errorf("setup steps %q, want app-migrate's, as the migration, perms run by compose before it", setups)
		}
		if reason := doc["strategy_reason"].(string); strings.Contains(reason, "perms") || strings.Contains(reason, "chmod") {
			t.Errorf("the strategy reason speaks of the permissions step: %s", reason)
		}
		if strings.Contains(text, "perms (migrations)") || strings.Contains(text, "run perms once (migrations)") {
			t.Errorf("perms is called the migration:\n%s", text)
		}
		// The summary says what the upgrade moves to, not (none).
		if !strings.Contains(text, "→ example/app:v2 (as the compose file names it)") {
			t.Errorf("the plan does not say what app moves to:\n%s", text)
		}
	})
	t.Run("flags for another entrypoint are not upshift", func(t *testing.T) {
		_, doc := shapePlan(t, "idp", "--service", "idp", "--setup-service", "idp-migrate")
		if doc["strategy"] != "stop-start" || len(stepWhat(doc, "gate")) != 0 || !strings.Contains(doc["strategy_reason"].(string), "under an entrypoint upshift cannot see") {
			t.Errorf("strategy %v, gate %v: %v", doc["strategy"], stepWhat(doc, "gate"), doc["strategy_reason"])
		}
	})
	t.Run("a script of many lines is quoted by its first", func(t *testing.T) {
		text, doc := shapePlan(t, "script", "--service", "web")
		reason := doc["strategy_reason"].(string)
		if !strings.Contains(reason, "`/bin/bash -c set -euo pipefail …`") || strings.Contains(reason, "buckets ready") {
			t.Errorf("reason: %s", reason)
		}
		if n := strings.Count(text, "mc mb --ignore-existing local/uploads"); n != 0 {
			t.Errorf("the script is printed %d times:\n%s", n, text)
		}
	})
}
