package lint

import (
	"fmt"
	"io"
	"strings"

	"github.com/upshift-dev/upshift/internal/ghactions"
)

// WriteFindings writes one finding a line; withFix adds each one's fix,
// indented under it.
func WriteFindings(w io.Writer, fs []Finding, withFix bool) {
	for _, f := range fs {
		fmt.Fprintln(w, f)
		if withFix && f.Fix != "" {
			for _, l := range strings.Split("fix: "+f.Fix, "\n") {
				fmt.Fprintln(w, "    "+l)
			}
		}
	}
}

// Count says how many findings there are of each severity ("2 errors,
// 1 warning"; "no findings").
func Count(fs []Finding) string {
	n := map[Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	var parts []string
	for _, s := range []struct {
		sev  Severity
		word string
	}{{Error, "error"}, {Warning, "warning"}, {Info, "info"}} {
		switch c := n[s.sev]; {
		case c == 1:
			parts = append(parts, "1 "+s.word)
		case c > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", c, s.word))
		}
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, ", ")
}

var annotationLevel = map[Severity]string{Error: "error", Warning: "warning", Info: "notice"}

// Annotation is the finding as a GitHub Actions workflow command, which
// GitHub shows on the pull request's diff at the finding's line.
func (f Finding) Annotation() string {
	title := "upshift " + f.Rule
	if f.File == "" { // a finding about the database: no line to annotate
		title += " (" + f.Object + ")"
	}
	return ghactions.Annotation(annotationLevel[f.Severity], f.File, f.Line, f.Column, title, f.Message+"\nfix: "+f.Fix)
}
