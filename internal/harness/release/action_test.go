package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type actionStep struct {
	ID    string            `yaml:"id"`
	Uses  string            `yaml:"uses"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
	Run   string            `yaml:"run"`
}

type action struct {
	Runs struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

var expr = regexp.MustCompile(`\$\{\{\s*([^}]+?)\s*\}\}`)

// runAction runs the repository's action.yml as a runner runs a composite
// action: each step's run block with bash, its env with the expressions
// resolved from inputs, github.action_ref and earlier steps' outputs.
// `uses:` steps (actions/cache) are the runner's, not run here. It returns
// what the action added to PATH and its steps' outputs.
func runAction(t *testing.T, inputs map[string]string, ref, toolCache string) (path []string, outputs map[string]map[string]string, log string, err error) {
	t.Helper()
	b, err := os.ReadFile("../../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var a action
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("action.yml runs %q, want composite", a.Runs.Using)
	}
	root, _ := filepath.Abs("../../..")
	work := t.TempDir()
	githubPath := filepath.Join(work, "path")
	outputs = map[string]map[string]string{}
	arch := map[string]string{"amd64": "X64", "arm64": "ARM64"}[runtime.GOARCH]
	resolve := func(s string) string {
		return expr.ReplaceAllStringFunc(s, func(m string) string {
			e := expr.FindStringSubmatch(m)[1]
			switch {
			case strings.HasPrefix(e, "inputs."):
				return inputs[strings.TrimPrefix(e, "inputs.")]
			case e == "github.action_ref":
				return ref
			case e == "runner.os":
				return "Linux"
			case e == "runner.arch":
				return arch
			case strings.HasPrefix(e, "steps."):
				parts := strings.Split(e, ".") // steps.ID.outputs.NAME
				if len(parts) == 4 && parts[2] == "outputs" {
					return outputs[parts[1]][parts[3]]
				}
			}
			t.Fatalf("action.yml uses an expression this test does not know: %s", m)
			return ""
		})
	}
	var logs strings.Builder
	for _, st := range a.Runs.Steps {
		if st.Uses != "" {
			continue
		}
		if st.Shell != "bash" {
			t.Fatalf("step %q: shell %q; the runners this action supports all have bash", st.ID, st.Shell)
		}
		outFile := filepath.Join(work, "output-"+st.ID)
		cmd := exec.Command("bash", "-e", "-c", st.Run)
		cmd.Env = append(os.Environ(), "GITHUB_ACTION_PATH="+root, "GITHUB_OUTPUT="+outFile, "GITHUB_PATH="+githubPath,
			"RUNNER_OS=Linux", "RUNNER_ARCH="+arch, "RUNNER_TOOL_CACHE="+toolCache)
		for k, v := range st.Env {
			cmd.Env = append(cmd.Env, k+"="+resolve(v))
		}
		out, runErr := cmd.CombinedOutput()
		logs.Write(out)
		b, _ := os.ReadFile(outFile)
		outputs[st.ID] = map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				outputs[st.ID][k] = v
			}
		}
		if runErr != nil {
			return nil, outputs, logs.String(), runErr
		}
	}
	b, _ = os.ReadFile(githubPath)
	return strings.Fields(string(b)), outputs, logs.String(), nil
}

// TestAction: the Action installs the release named by its own ref, from a
// server holding the release, verified, into the runner's tool cache, and
// puts it on PATH; a second run finds it cached and downloads nothing; with
// no version and a branch ref it installs the latest; a tampered archive
// fails the step. No Go or gcc is involved: the steps run with PATH
// holding neither.
func TestAction(t *testing.T) {
	d := needDist(t)
	srv, archives := server(t, d.dir)
	toolCache := t.TempDir()
	// PATH without go and gcc: only the shell tools a runner has.
	bare := t.TempDir()
	for _, tool := range []string{"bash", "sh", "curl", "tar", "gzip", "sha256sum", "sed", "grep", "cut", "wc", "mkdir", "mktemp", "cp", "mv", "rm", "chmod", "cat", "uname", "printf"} {
		if p, err := exec.LookPath(tool); err == nil {
			if err := os.Symlink(p, filepath.Join(bare, tool)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv("PATH", bare)

	path, outputs, log, err := runAction(t, map[string]string{"download-url": srv.URL}, d.version, toolCache)
	if err != nil {
		t.Fatalf("action: %v\n%s", err, log)
	}
	bin := outputs["install"]["path"]
	if len(path) != 1 || filepath.Join(path[0], "upshift") != bin || !strings.HasPrefix(bin, toolCache) {
		t.Fatalf("PATH additions %q, path output %q: want the tool cache's upshift folder", path, bin)
	}
	if outputs["resolve"]["version"] != d.version || !strings.Contains(log, "upshift "+d.version) {
		t.Fatalf("installed %q; log:\n%s", outputs["resolve"]["version"], log)
	}

	// Cached: the same tool cache, the archive not downloaded again.
	if _, _, log, err := runAction(t, map[string]string{"download-url": srv.URL}, d.version, toolCache); err != nil || archives.Load() != 1 {
		t.Fatalf("second run: %v, %d archives downloaded in all, want 1\n%s", err, archives.Load(), log)
	}
	// A branch ref and no version: the latest release.
	if _, outputs, log, err := runAction(t, map[string]string{"download-url": srv.URL}, "main", t.TempDir()); err != nil || outputs["resolve"]["version"] != d.version {
		t.Fatalf("latest: %v, version %q\n%s", err, outputs["resolve"]["version"], log)
	}
	// A tampered archive: the step fails, nothing on PATH.
	bad, _ := server(t, tampered(t, d))
	path, _, log, err = runAction(t, map[string]string{"download-url": bad.URL, "version": d.version}, "main", t.TempDir())
	if err == nil || len(path) != 0 || !strings.Contains(log, "checksum mismatch") {
		t.Fatalf("tampered archive: err %v, PATH %q\n%s", err, path, log)
	}
}

// TestWorkflows: the workflows parse, CI runs .ci/run (what CI here runs),
// and a tag's release builds with make release and publishes what it wrote.
func TestWorkflows(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("../../../.github/workflows", name))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(b)
	}
	if ci := read("ci.yml"); !strings.Contains(ci, "bash .ci/run") {
		t.Error("ci.yml does not run .ci/run")
	}
	rel := read("release.yml")
	for _, want := range []string{"bash .ci/run", "make release VERSION=${{ github.ref_name }}", "sha256sum --strict -c checksums.txt",
		"dist/checksums.txt", "npm publish --provenance", "linux/$arch", "imagetools create"} {
		if !strings.Contains(rel, want) {
			t.Errorf("release.yml lacks %q", want)
		}
	}
}
