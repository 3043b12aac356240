package upgrade

import (
	"cmp"
	"path"
	"slices"
	"strings"
)

// setupProgram is what a setup step runs, as far as upshift knows it.
type setupProgram struct {
	Override   []string // --setup-command (replaces the command)
	Entrypoint []string // the file's or the deployed spec's (nil: the image's)
	Command    []string // the file's or the deployed spec's
	// ImageEntrypoint looks up the image's entrypoint; nil when only the
	// file may be read (the plan, before anything is pulled).
	ImageEntrypoint func() []string
}

// runsUpshift says whether the setup step runs upshift migrate, which alone
// answers the gate's dry run: another migrator handed --dry-run might just
// migrate. known is false when only the image could tell and it was not
// to be asked; what quotes the program that is not upshift.
func (p setupProgram) runsUpshift() (is, known bool, what string) {
	isUpshift := func(argv []string) bool {
		return len(argv) > 0 && strings.Contains(path.Base(argv[0]), "upshift")
	}
	quote := func(argv []string) string { return "`" + firstLine(strings.Join(argv, " ")) + "`" }
	if len(p.Override) > 0 {
		return isUpshift(p.Override), true, quote(p.Override)
	}
	ep := p.Entrypoint
	if ep == nil {
		if p.ImageEntrypoint == nil {
			// The file alone: a command that is not flags (which could be
			// an upshift entrypoint's) names the program.
			if len(p.Command) > 0 && !strings.HasPrefix(p.Command[0], "-") {
				return isUpshift(p.Command), true, quote(p.Command)
			}
			return false, false, ""
		}
		ep = p.ImageEntrypoint()
	}
	switch {
	case isUpshift(ep):
		return true, true, ""
	case len(ep) == 0 && isUpshift(p.Command):
		return true, true, ""
	}
	return false, true, "`" + cmp.Or(firstLine(strings.Join(append(slices.Clone(ep), p.Command...), " ")), "its image's command") + "`"
}

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
