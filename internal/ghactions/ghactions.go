// Package ghactions speaks GitHub Actions' workflow commands and files
// when a program runs in a workflow (GITHUB_ACTIONS=true): folded groups,
// annotations that point at a file and line, a Markdown job summary, step
// outputs, and masks for secrets. Off elsewhere: every method is then a
// no-op.
package ghactions

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// Workflow writes workflow commands to out and appends to the runner's
// files.
type Workflow struct {
	On      bool
	out     io.Writer
	summary string // $GITHUB_STEP_SUMMARY
	outputs string // $GITHUB_OUTPUT
	open    bool
}

// New is the workflow this process runs in, or an inactive one.
func New(out io.Writer) *Workflow {
	if os.Getenv("GITHUB_ACTIONS") != "true" {
		return &Workflow{}
	}
	return &Workflow{On: true, out: out, summary: os.Getenv("GITHUB_STEP_SUMMARY"), outputs: os.Getenv("GITHUB_OUTPUT")}
}

// EscapeData and EscapeProperty follow the runner's workflow-command syntax.
func EscapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func EscapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Mask tells the runner to hide a value in every log line from now on.
func (g *Workflow) Mask(secrets ...string) {
	if !g.On {
		return
	}
	for _, s := range secrets {
		if len(s) >= 4 {
			fmt.Fprintf(g.out, "::add-mask::%s\n", EscapeData(s))
		}
	}
}

// Group starts a folded group of log lines (ending the one open).
func (g *Workflow) Group(title string) {
	if !g.On {
		return
	}
	g.EndGroup()
	fmt.Fprintf(g.out, "::group::%s\n", EscapeData(title))
	g.open = true
}

// EndGroup ends the open group, if any.
func (g *Workflow) EndGroup() {
	if g.On && g.open {
		fmt.Fprintln(g.out, "::endgroup::")
		g.open = false
	}
}

// Annotate adds an error (or warning, notice) annotation, on a file and
// line when they are known.
func (g *Workflow) Annotate(level, file string, line, col int, title, msg string) {
	if !g.On {
		return
	}
	g.EndGroup()
	fmt.Fprintln(g.out, Annotation(level, file, line, col, title, msg))
}

// Annotation is the workflow command that shows msg on file's line (or on
// the run, when file is ""), for printing where the runner reads it.
func Annotation(level, file string, line, col int, title, msg string) string {
	var props []string
	if file != "" {
		props = append(props, "file="+EscapeProperty(file))
		if line > 0 {
			props = append(props, fmt.Sprintf("line=%d", line))
		}
		if col > 0 {
			props = append(props, fmt.Sprintf("col=%d", col))
		}
	}
	if title != "" {
		props = append(props, "title="+EscapeProperty(title))
	}
	sep := ""
	if len(props) > 0 {
		sep = " "
	}
	return fmt.Sprintf("::%s%s%s::%s", level, sep, strings.Join(props, ","), EscapeData(msg))
}

// Summarize appends Markdown to the job summary.
func (g *Workflow) Summarize(md string) {
	if !g.On || g.summary == "" {
		return
	}
	appendFile(g.summary, md)
}

// Output sets step outputs (multi-line values use a random delimiter).
func (g *Workflow) Output(kv ...string) {
	if !g.On || g.outputs == "" {
		return
	}
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		if !strings.ContainsAny(v, "\r\n") {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
			continue
		}
		d := make([]byte, 8)
		_, _ = rand.Read(d)
		delim := "upshift_" + hex.EncodeToString(d)
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", k, delim, v, delim)
	}
	appendFile(g.outputs, b.String())
}

func appendFile(path, s string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "GitHub Actions: %v\n", err)
		return
	}
	defer f.Close()
	_, _ = f.WriteString(s)
}

// Cell keeps a value from breaking a Markdown table row.
func Cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
