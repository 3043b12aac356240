package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// ghEnv runs upshift as in a GitHub Actions step, with the summary and
// output files in a temporary folder.
func ghEnv(t *testing.T) (env []string, summary, output string) {
	dir := t.TempDir()
	summary, output = filepath.Join(dir, "summary.md"), filepath.Join(dir, "output")
	return []string{"GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY=" + summary, "GITHUB_OUTPUT=" + output}, summary, output
}

func read(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}

func TestGitHubActionsMigrate(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	env, summary, output := ghEnv(t)
	secret := []string{"DATABASE_URL=" + db.SecretURL()}
	r := upshift(t, append(env, secret...), "migrate", "--dir", goldenDir("v1-folders"), "--service", "billing")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	for _, want := range []string{"::add-mask::" + pgtest.Password, "::group::apply: 4 migrations", "::endgroup::"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if s := read(t, summary); !strings.Contains(s, "### upshift migrate: applied 4 migrations") || !strings.Contains(s, "| 20261121131230_initial_schema |") || strings.Contains(s, pgtest.Password) {
		t.Errorf("summary:\n%s", s)
	}
	if o := read(t, output); !strings.Contains(o, "applied=20261121131230_initial_schema,20261121131235_add_credits_table,") || !strings.Contains(o, "exit-code=0") {
		t.Errorf("outputs:\n%s", o)
	}

	// A failing migration is annotated on its file and line.
	bad := folder(t, [2]string{"0000_ok", "CREATE TABLE ok (id int);"}, [2]string{"0001_bad", "CREATE TABLE b (id int);\n--> statement-breakpoint\nINSERT INTO b\n  VALUES (nope);"})
	env, summary, output = ghEnv(t)
	fresh := pgtest.Shared(t).NewDB(t)
	r = upshift(t, append(env, "DATABASE_URL="+fresh.SecretURL()), "migrate", "--dir", bad)
	if r.code != 1 {
		t.Fatalf("%s", r)
	}
	want := "::error file=" + filepath.Join(bad, "0001_bad.sql") + ",line=4,col=11,title=migration 0001_bad failed at statement 2::ERROR 42703: column \"nope\" does not exist"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks the annotation\n%s\n%s", want, r.stderr)
	}
	if s := read(t, summary); !strings.Contains(s, "failed (exit 1)") || !strings.Contains(s, "Rolled back, not applied: 0000_ok, 0001_bad") {
		t.Errorf("summary:\n%s", s)
	}
	if o := read(t, output); !strings.Contains(o, "exit-code=1") || !strings.Contains(o, "pending=0000_ok,0001_bad") {
		t.Errorf("outputs:\n%s", o)
	}
}

func TestGitHubActionsLint(t *testing.T) {
	env, summary, output := ghEnv(t)
	// users exists already (not created in this folder): dropping a column
	// of it breaks the running release.
	dir := folder(t, [2]string{"0001_drop_legacy", "SELECT 1;\n--> statement-breakpoint\nALTER TABLE users DROP COLUMN legacy;"})
	r := upshift(t, env, "lint", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.stderr, "::warning file="+filepath.Join(dir, "0001_drop_legacy.sql")+",line=3,col=1,title=upshift drop-column::") {
		t.Errorf("no annotation:\n%s", r.stderr)
	}
	if s := read(t, summary); !strings.Contains(s, "### upshift lint:") || !strings.Contains(s, "| drop-column | warning |") {
		t.Errorf("summary:\n%s", s)
	}
	if o := read(t, output); !strings.Contains(o, "errors=0") {
		t.Errorf("outputs:\n%s", o)
	}
	// Outside a workflow: no workflow commands.
	r = upshift(t, nil, "lint", "--dir", dir)
	if strings.Contains(r.stdout+r.stderr, "::warning") {
		t.Errorf("workflow commands outside GitHub Actions:\n%s", r)
	}
}
