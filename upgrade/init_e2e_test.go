package upgrade_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/dockertest"
	"github.com/upshift-dev/upshift/internal/harness/ghworkflow"
)

// The workflows `upshift init` writes, run as GitHub would run them on a
// runner on the host: each run step of deploy.yml, in the project's
// checkout, upgrades the deployment to v2; rollback.yml's, with the
// service chosen, puts v1 back.
func TestInitWorkflowsDeployAndRollBack(t *testing.T) {
	t.Parallel()
	p := deployed(t)
	if r := p.Upshift("init", "--health-url", p.HealthURL()); r.Code != 0 || !strings.Contains(r.Stdout, "upgrading app") {
		t.Fatalf("init: %s", r)
	}
	p.Release(v2, []dockertest.Migration{mUsers, mNickname})
	run := func(file, job string, env ...string) {
		t.Helper()
		w, err := ghworkflow.Read(filepath.Join(p.Dir, ".github", "workflows", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range w.Runs(job) {
			cmd := exec.Command("bash", "-e", "-c", st.Run)
			cmd.Dir = p.Dir
			// The Action puts upshift on PATH; the step's env is GitHub's.
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(p.Bins.Upshift)+":"+os.Getenv("PATH"), "UPSHIFT_STATE_DIR="+p.StateDir)
			cmd.Env = append(cmd.Env, env...)
			if r := dockertest.Capture(t, cmd); r.Code != 0 {
				t.Fatalf("%s, step %q (%s): %s", file, st.Name, st.Run, r)
			}
		}
	}
	run("deploy.yml", "deploy")
	expectServing(t, p, "v2")
	run("rollback.yml", "rollback", "SERVICE=app")
	expectServing(t, p, "v1")
}
