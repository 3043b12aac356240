package result

import (
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/internal/ghactions"
)

// Summary is the run as a GitHub Actions job summary (Markdown): its state,
// the folder and database, each migration applied with its statements and
// time, and what rolled back. code is the exit code the run ends with;
// failed says the run ended in an error.
func (d *Document) Summary(code int, failed bool) string {
	var b strings.Builder
	state := "up to date"
	switch {
	case failed:
		state = fmt.Sprintf("failed (exit %d)", code)
	case d.DryRun:
		state = "dry run"
	case len(d.Applied) == 1:
		state = "applied 1 migration"
	case len(d.Applied) > 1:
		state = fmt.Sprintf("applied %d migrations", len(d.Applied))
	}
	fmt.Fprintf(&b, "### upshift migrate: %s\n\n%s → %s\n\n", state, ghactions.Cell(d.Dir), ghactions.Cell(d.Database))
	if len(d.Applied) > 0 {
		b.WriteString("| migration | statements | duration |\n|---|---|---|\n")
		for _, a := range d.Applied {
			fmt.Fprintf(&b, "| %s | %d | %.1f ms |\n", ghactions.Cell(a.Tag), a.Statements, a.DurationMS)
		}
		b.WriteString("\n")
	}
	if len(d.RolledBack) > 0 {
		fmt.Fprintf(&b, "Rolled back, not applied: %s\n\n", ghactions.Cell(strings.Join(d.RolledBack, ", ")))
	}
	return b.String()
}
