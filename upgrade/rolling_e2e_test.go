package upgrade_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
)

// behindProxy returns a rolling.yaml project running v1 with replicas
// containers of app behind the proxy.
func behindProxy(t *testing.T, replicas int) *dockertest.Project {
	t.Helper()
	p := dockertest.NewProjectFrom(t, "rolling.yaml")
	p.Release(v1, []dockertest.Migration{mUsers})
	if r := p.Upshift("upgrade", "--service", "app", "--health-url", "http://app:8080/health", "--expect-version", "v1"); r.Code != 0 {
		t.Fatalf("deploy v1: %s", r)
	}
	if replicas > 1 {
		p.Compose("up", "-d", "--no-deps", "--scale", "app="+strconv.Itoa(replicas), "app")
	}
	p.Compose("up", "-d", "--no-deps", "proxy")
	waitFor(t, 30*time.Second, func() bool { code, v := p.Health(); return code == 200 && v == "v1" })
	return p
}

func rollingArgs(version string, extra ...string) []string {
	return append([]string{"upgrade", "--strategy", "rolling", "--service", "app", "--health-url", "http://app:8080/health", "--expect-version", version, "--health-timeout", "20s"}, extra...)
}

// versions reports the APP_VERSION of each running app container.
func versions(t *testing.T, p *dockertest.Project) []string {
	t.Helper()
	var out []string
	for _, name := range p.Running("app") {
		env := dockertest.Run(t, "", nil, "docker", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", name)
		for _, l := range strings.Split(env, "\n") {
			if v, ok := strings.CutPrefix(l, "APP_VERSION="); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// rollProbed runs a rolling upgrade of the two-replica proxy deployment to
// v2 while a prober asks through the proxy: exit 0, no failed request, two
// v2 containers.
func rollProbed(t *testing.T, p *dockertest.Project, args ...string) dockertest.Result {
	t.Helper()
	pr := startProber(p.HealthURL(), "v2")
	r := p.Upshift(args...)
	window, failed, total := pr.finish()
	if r.Code != 0 {
		t.Fatalf("rolling upgrade: %s", r)
	}
	t.Logf("prober: %d requests, %d failed, longest window without a 200: %s", total, failed, window)
	probed(t, total)
	if failed != 0 {
		t.Errorf("%d of %d requests through the proxy failed during a rolling upgrade", failed, total)
	}
	expectServing(t, p, "v2")
	if got := strings.Join(versions(t, p), ","); got != "v2,v2" {
		t.Errorf("app containers run %q, want two v2 (the service keeps its scale)", got)
	}
	return r
}

func TestRollingUpgradeZeroFailedRequests(t *testing.T) {
	t.Parallel()
	p := behindProxy(t, 2)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	r := rollProbed(t, p, rollingArgs("v2", "--drain", "1s")...)
	if got := appliedMigrations(p); got != "1,2" {
		t.Errorf("migration rows %q", got)
	}
	for _, want := range []string{"✓ gate", "compatibility: 1 pending migration(s) (0001_nickname), 0 contracting", "✓ setup", "✓ roll", "--scale app=4"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	// The setup ran before any new container: the old version served on
	// the migrated schema.
	if strings.Index(r.Stdout, "✓ setup") > strings.Index(r.Stdout, "→ roll") {
		t.Errorf("migrations did not run first:\n%s", r.Stdout)
	}
}

func TestRollingUnhealthyKeepsTheOldServing(t *testing.T) {
	t.Parallel()
	p := behindProxy(t, 1)
	p.Release(dockertest.App{Version: "v2", Mode: "unhealthy"}, []dockertest.Migration{mUsers, mNickname})
	pr := startProber(p.HealthURL(), "")
	r := p.Upshift(rollingArgs("v2", "--health-timeout", "5s")...)
	_, failed, total := pr.finish()
	if r.Code != 5 {
		t.Fatalf("exit %d, want 5\n%s", r.Code, r)
	}
	probed(t, total)
	if failed != 0 {
		t.Errorf("%d of %d requests failed while the new version failed its check", failed, total)
	}
	expectServing(t, p, "v1")
	if got := strings.Join(versions(t, p), ","); got != "v1" {
		t.Errorf("app containers run %q, want the one v1 (the failed ones removed)\n%s", got, r)
	}
	if !strings.Contains(r.Stderr, "old ones kept serving") {
		t.Errorf("the error does not say the old containers kept serving:\n%s", r)
	}
}

func TestRollingRefusesContractingMigration(t *testing.T) {
	t.Parallel()
	p := behindProxy(t, 1)
	before := p.Running("app")
	drop := dockertest.Migration{Tag: "0001_drop_name", SQL: "ALTER TABLE users DROP COLUMN name;"}
	p.Release(dockertest.App{Version: "v2"}, []dockertest.Migration{mUsers, drop})
	r := p.Upshift(rollingArgs("v2")...)
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.Code, r)
	}
	for _, want := range []string{"drop-column", "ALTER TABLE users DROP COLUMN name", "later contract release", "--allow-breaking"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, r.Stderr)
		}
	}
	if got := appliedMigrations(p); got != "1" {
		t.Errorf("migration rows %q, want 1: nothing may run", got)
	}
	if got := p.SQL("SELECT count(*) FROM information_schema.columns WHERE table_name='users' AND column_name='name'"); got != "1" {
		t.Errorf("users.name is gone")
	}
	if after := p.Running("app"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("containers changed: %v → %v", before, after)
	}
	expectServing(t, p, "v1")
	// The same release with --migrate-first is refused the same way.
	if r := p.Upshift("upgrade", "--migrate-first", "--service", "app", "--health-url", "http://app:8080/health"); r.Code != 1 || !strings.Contains(r.Stderr, "drop-column") {
		t.Errorf("--migrate-first: %s", r)
	}
}

func TestRollingRefusesServicesThatCannotRunTwice(t *testing.T) {
	t.Parallel()
	p := dockertest.NewProject(t) // app publishes a fixed host port here
	r := p.Upshift("upgrade", "--strategy", "rolling", "--service", "app", "--format", "json")
	if r.Code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.Code, r)
	}
	if msg := decode(t, r)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "publishes host port") {
		t.Errorf("error %q", msg)
	}
}

// TestRollingBehindTheProxyWithThePublicURL: the health URL is the proxy's
// public one, which answers from old and new containers alike during the
// roll. Each new container is judged on its own (the port it exposes), and
// the public URL must answer the new version, for the stability window,
// once the old ones are retired; no request through the proxy fails.
func TestRollingBehindTheProxyWithThePublicURL(t *testing.T) {
	t.Parallel()
	p := behindProxy(t, 2)
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	r := rollProbed(t, p, "upgrade", "--strategy", "rolling", "--service", "app", "--health-url", p.HealthURL(), "--expect-version", "v2", "--health-timeout", "20s", "--drain", "1s")
	for _, want := range []string{"each new container at its own address, on the port it exposes: http://app:8080/health",
		"the old containers are retired: " + p.HealthURL() + " must answer v2 now", "✓ roll"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
}

// probed fails a zero-downtime check whose prober made no request: "none
// failed" says nothing then.
func probed(t *testing.T, total int) {
	t.Helper()
	if total == 0 {
		t.Errorf("the prober made no request during the upgrade, so it shows nothing about failed ones")
	}
}
