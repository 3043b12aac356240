package upgrade

import (
	"path"
	"slices"
	"strings"
)

// LabelTitle is the OCI title label; upshift's images (and the db-setup
// images built FROM them) say "upshift" in it.
const LabelTitle = "org.opencontainers.image.title"

// imageFacts is what the engine says of a setup step's image.
type imageFacts struct {
	Ref        string
	Present    bool // the engine has the image
	Entrypoint []string
	Labels     map[string]string
}

// setupProgram is what a setup step runs, as far as upshift knows it.
type setupProgram struct {
	Override   []string // --setup-command (replaces the command)
	Entrypoint []string // the file's or the deployed spec's (nil: the image's)
	Command    []string // the file's or the deployed spec's
	// Image asks the engine about the image; nil when only the file may
	// be read.
	Image func() imageFacts
}

// runsUpshift says whether the setup step runs upshift migrate, which alone
// answers the gate's dry run: another migrator handed --dry-run might just
// migrate. It takes positive evidence only — the entrypoint or the command
// names upshift, or the image says it is upshift's (its title label, with
// its own entrypoint) — never the absence of another program's name (a
// command of flags is an entrypoint's arguments, and that entrypoint may
// be anything). what says what runs instead, or why nothing shows that it
// is upshift.
func (p setupProgram) runsUpshift() (bool, string) {
	names := func(argv []string) bool {
		return len(argv) > 0 && strings.Contains(path.Base(argv[0]), "upshift")
	}
	command := p.Command
	if len(p.Override) > 0 {
		command = p.Override
	}
	var facts imageFacts
	if p.Image != nil {
		facts = p.Image()
	}
	ep, fromImage := p.Entrypoint, false
	if ep == nil && facts.Present {
		ep, fromImage = facts.Entrypoint, true
	}
	switch {
	case names(ep), names(command):
		return true, ""
	case fromImage && facts.Labels[LabelTitle] == "upshift":
		return true, ""
	case ep != nil || facts.Present:
		if argv := append(slices.Clone(ep), command...); len(argv) > 0 {
			return false, quote(argv)
		}
		return false, "its image's command"
	case len(command) > 0:
		return false, quote(command) + " under an entrypoint upshift cannot see" + notHere(facts.Ref)
	}
	return false, "its image's entrypoint and command, which upshift cannot see" + notHere(facts.Ref)
}

func notHere(ref string) string {
	if ref == "" {
		return ": the compose file names no entrypoint"
	}
	return ": " + ref + " is not on this engine yet, and the compose file names no entrypoint"
}

func quote(argv []string) string { return "`" + firstLine(strings.Join(argv, " ")) + "`" }

// firstLine is a command as a reason quotes it: its first line, and "…"
// for the rest (a setup script of many lines is in the JSON, whole, under
// its step).
func firstLine(s string) string {
	first, rest, more := strings.Cut(strings.TrimSpace(s), "\n")
	if more && strings.TrimSpace(rest) != "" {
		return strings.TrimRight(first, " \r") + " …"
	}
	return first
}
