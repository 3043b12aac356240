package upgrade

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/ghactions"
)

// Summary is the run as a GitHub Actions job summary (Markdown): the
// services with their images and health, the migrations, the rollback,
// the notes. verb is what was asked (upgrade, rollback, backup); code the
// exit code the run ends with; redact hides secrets in text from outside.
func (r *Record) Summary(verb string, code int, redact func(string) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### upshift %s of %s: %s\n\n", verb, ghactions.Cell(r.Project), ghactions.Cell(r.Describe()))
	if len(r.Services) > 0 {
		b.WriteString("| service | from | to | health |\n|---|---|---|---|\n")
		for _, s := range r.Services {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", ghactions.Cell(s.Name), ghactions.Cell(s.From.String()), ghactions.Cell(s.To.String()), ghactions.Cell(redact(s.Health)))
		}
		b.WriteString("\n")
	}
	if r.Setup != nil {
		ms := "none"
		if len(r.Setup.Migrations) > 0 {
			ms = "`" + strings.Join(r.Setup.Migrations, "`, `") + "`"
		}
		fmt.Fprintf(&b, "Migrations applied by %s: %s\n\n", ghactions.Cell(r.Setup.Service), ms)
	}
	if rb := r.Rollback; rb != nil {
		fmt.Fprintf(&b, "Rollback: %s %s\n\n", rb.Outcome, ghactions.Cell(redact(rb.Health+" "+rb.Error)))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "> %s\n\n", ghactions.Cell(redact(n)))
	}
	fmt.Fprintf(&b, "Run `%s`, %s, exit code %d.\n\n", r.ID, time.Duration(r.DurationMS)*time.Millisecond, code)
	return b.String()
}

// WriteReport writes the run's closing report for a person: outcome,
// strategy, each service's images and health, the setup step, the backup,
// the rollback, the notes, and for a successful upgrade the command that
// undoes it (a stack's needs no stack file: the record has the digests).
func (r *Record) WriteReport(w io.Writer, stack bool, redact func(string) string) {
	fmt.Fprintf(w, "\n%s %s of %s: %s in %s\n", r.Kind, r.ID, r.Project, r.Describe(), time.Duration(r.DurationMS)*time.Millisecond)
	if r.Strategy != "" {
		fmt.Fprintf(w, "  %-16s %s: %s\n", "strategy", r.Strategy, r.StrategyReason)
	}
	for _, s := range r.Services {
		fmt.Fprintf(w, "  %-16s %s → %s\n", s.Name, s.From.String(), s.To.String())
		if s.Health != "" {
			fmt.Fprintf(w, "  %-16s health: %s\n", "", s.Health)
		}
	}
	if r.Setup != nil {
		ms := cmp.Or(strings.Join(r.Setup.Migrations, ", "), "none")
		fmt.Fprintf(w, "  %-16s exit %d, migrations applied: %s\n", r.Setup.Service, r.Setup.ExitCode, ms)
	}
	if b := r.Backup; b != nil {
		fmt.Fprintf(w, "  %-16s %s (%d bytes, %s, %s)\n", "backup", b.File, b.SizeBytes, time.Duration(b.DurationMS)*time.Millisecond, b.Via)
		if r.Kind == KindBackup {
			fmt.Fprintf(w, "  %-16s %s\n", "restore with", redact(b.Restore))
		}
	}
	if rb := r.Rollback; rb != nil {
		fmt.Fprintf(w, "  rollback: %s", rb.Outcome)
		if rb.Health != "" {
			fmt.Fprintf(w, " (%s)", rb.Health)
		}
		if rb.Error != "" {
			fmt.Fprintf(w, ": %s", rb.Error)
		}
		fmt.Fprintln(w)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if r.Kind == KindUpgrade && r.Outcome == Succeeded {
		undo := "-p " + r.Project
		if stack {
			undo = "--stack " + r.Project
		}
		for _, s := range r.Services {
			undo += " --service " + s.Name
		}
		fmt.Fprintf(w, "  undo with: upshift rollback %s\n", undo)
	}
}
