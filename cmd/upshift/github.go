package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// github speaks GitHub Actions' workflow commands when upshift runs in a
// workflow (GITHUB_ACTIONS=true): folded groups, error annotations that point
// at the failing file and line, a Markdown job summary, step outputs, and
// masks for the secrets upshift knows. Off elsewhere: every method is then a
// no-op.
type github struct {
	on      bool
	out     io.Writer
	summary string // $GITHUB_STEP_SUMMARY
	outputs string // $GITHUB_OUTPUT
	open    bool
}

func newGitHub(out io.Writer) *github {
	if os.Getenv("GITHUB_ACTIONS") != "true" {
		return &github{}
	}
	return &github{on: true, out: out, summary: os.Getenv("GITHUB_STEP_SUMMARY"), outputs: os.Getenv("GITHUB_OUTPUT")}
}

// escapeData and escapeProperty follow the runner's workflow-command syntax.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// mask tells the runner to hide a value in every log line from now on.
func (g *github) mask(secrets ...string) {
	if !g.on {
		return
	}
	for _, s := range secrets {
		if len(s) >= 4 {
			fmt.Fprintf(g.out, "::add-mask::%s\n", escapeData(s))
		}
	}
}

func (g *github) group(title string) {
	if !g.on {
		return
	}
	g.endGroup()
	fmt.Fprintf(g.out, "::group::%s\n", escapeData(title))
	g.open = true
}

func (g *github) endGroup() {
	if g.on && g.open {
		fmt.Fprintln(g.out, "::endgroup::")
		g.open = false
	}
}

// annotate adds an error (or warning, notice) annotation, on a file and
// line when they are known.
func (g *github) annotate(level, file string, line, col int, title, msg string) {
	if !g.on {
		return
	}
	g.endGroup()
	var props []string
	if file != "" {
		props = append(props, "file="+escapeProperty(file))
		if line > 0 {
			props = append(props, fmt.Sprintf("line=%d", line))
		}
		if col > 0 {
			props = append(props, fmt.Sprintf("col=%d", col))
		}
	}
	if title != "" {
		props = append(props, "title="+escapeProperty(title))
	}
	sep := ""
	if len(props) > 0 {
		sep = " "
	}
	fmt.Fprintf(g.out, "::%s%s%s::%s\n", level, sep, strings.Join(props, ","), escapeData(msg))
}

// summarize appends Markdown to the job summary.
func (g *github) summarize(md string) {
	if !g.on || g.summary == "" {
		return
	}
	appendFile(g.summary, md)
}

// output sets step outputs (multi-line values use a random delimiter).
func (g *github) output(kv ...string) {
	if !g.on || g.outputs == "" {
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
		fmt.Fprintf(os.Stderr, "upshift: GitHub Actions: %v\n", err)
		return
	}
	defer f.Close()
	_, _ = f.WriteString(s)
}

// mdCell keeps a value from breaking a Markdown table row.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
