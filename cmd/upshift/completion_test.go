package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/completion"
)

func TestCompletion(t *testing.T) {
	r := upshift(t, nil, "completion", "bash")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	script := filepath.Join(t.TempDir(), "upshift.bash")
	if err := os.WriteFile(script, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	// What bash offers after each partial command line.
	for line, want := range map[string]string{
		"upshift mig":                      "migrate",
		"upshift migrate --di":             "--dir",
		"upshift db va":                    "vacuum",
		"upshift db vacuum --an":           "--analyze",
		"upshift upgrade --strat":          "--strategy",
		"upshift rollback -p shop --servi": "--service",
		"upshift status ./dri":             "", // not a flag: bash completes file names itself
	} {
		words := strings.Fields(line)
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); COMPREPLY=(); _upshift; echo "${COMPREPLY[*]}"`
		out, err := exec.Command("bash", append([]string{"-c", prog, "bash", script}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%q completes to %q, want %q", line, got, want)
		}
	}
	zsh := upshift(t, nil, "completion", "zsh")
	if !strings.HasPrefix(zsh.stdout, "#compdef upshift\n") || !strings.Contains(zsh.stdout, "bashcompinit") || !strings.Contains(zsh.stdout, "complete -o default -F _upshift upshift") {
		t.Errorf("zsh:\n%s", zsh.stdout)
	}
	fish := upshift(t, nil, "completion", "fish")
	for _, want := range []string{
		"complete -c upshift -n __fish_use_subcommand -a upgrade -d ",
		"complete -c upshift -n '__fish_seen_subcommand_from migrate' -l format -r -a 'text json'",
		"complete -c upshift -n '__fish_seen_subcommand_from upgrade' -l file -s f -r -F",
		"complete -c upshift -n '__fish_seen_subcommand_from vacuum' -l full -d ",
	} {
		if !strings.Contains(fish.stdout, want) {
			t.Errorf("fish lacks %q", want)
		}
	}
}

// Every command's --help ends with examples of that very command.
func TestHelpEndsWithExamples(t *testing.T) {
	for path := range examples {
		args := append(strings.Fields(path), "--help")
		r := upshift(t, nil, args...)
		i := strings.LastIndex(r.stdout, "\nExamples:\n")
		if r.code != 0 || i < 0 {
			t.Errorf("%s --help: no examples\n%s", path, r)
			continue
		}
		lines := strings.Split(strings.TrimSpace(r.stdout[i:]), "\n")[1:]
		if len(lines) < 2 || len(lines) > 3 {
			t.Errorf("%s --help: %d examples, want two or three", path, len(lines))
		}
		for _, l := range lines {
			if !strings.HasPrefix(strings.TrimSpace(l), "$ upshift "+path) && !strings.Contains(l, "upshift "+path) {
				t.Errorf("%s --help: example %q is not of this command", path, l)
			}
		}
	}
	// And every command has some.
	parser, err := kong.New(&CLI{}, kong.Name("upshift"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range completion.Leaves(parser.Model.Node) {
		if _, ok := examples[path]; !ok {
			t.Errorf("command %q has no examples", path)
		}
	}
}

func TestHelpShowsDefaultsAndEnums(t *testing.T) {
	for cmd, wants := range map[string][]string{
		"migrate": {"Default: ./drizzle.", "($MIGRATIONS_DIR)", "One of: all, each.", "Default: 300."},
		"lint":    {"One of: info, warning, error.", "Default: warning."},
		"upgrade": {"One of: auto, stop-start, migrate-first, rolling.", "Default: auto.", "Default: 5m."},
	} {
		r := upshift(t, nil, cmd, "--help")
		help := strings.Join(strings.Fields(r.stdout), " ") // unwrap
		for _, w := range wants {
			if !strings.Contains(help, w) {
				t.Errorf("%s --help lacks %q", cmd, w)
			}
		}
	}
}
