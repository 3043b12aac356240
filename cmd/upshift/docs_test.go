package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// docFiles are the README and every page of docs/, from the repository's
// root, with their text.
func docFiles(t *testing.T) map[string]string {
	t.Helper()
	root := filepath.Join("..", "..")
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files := map[string]string{}
	for _, p := range append(pages, filepath.Join(root, "README.md")) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
	}
	if len(files) < 10 {
		t.Fatalf("found %d documentation files; the reference lives in docs/", len(files))
	}
	return files
}

// anchors are a Markdown file's headings as GitHub links to them.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ' || r == '-':
				b.WriteRune('-')
			case r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocsLinksResolve: every relative link in the README and docs/ names
// a file of the repository, and a heading of it where it names one.
func TestDocsLinksResolve(t *testing.T) {
	files := docFiles(t)
	root := filepath.Join("..", "..")
	for name, text := range files {
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			resolved := name
			if target != "" {
				resolved = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(name), target)))
				if _, err := os.Stat(filepath.Join(root, resolved)); err != nil {
					t.Errorf("%s links to %s, which is not in the repository", name, link)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			text, ok := files[resolved]
			if !ok {
				b, err := os.ReadFile(filepath.Join(root, resolved))
				if err != nil {
					continue
				}
				text = string(b)
			}
			if !anchors(text)[anchor] {
				t.Errorf("%s links to %s, but %s has no heading #%s", name, link, resolved, anchor)
			}
		}
	}
}

// TestEveryFlagIsDocumented: each flag of each command appears (as
// --name) in the README or a page of docs/, so that the reference and the
// binary cannot drift apart.
func TestEveryFlagIsDocumented(t *testing.T) {
	var all strings.Builder
	for _, text := range docFiles(t) {
		all.WriteString(text)
	}
	docs := all.String()
	parser, err := kong.New(&CLI{}, kong.Name("upshift"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if f.Hidden || f.Name == "help" {
				continue
			}
			if !strings.Contains(docs, "--"+f.Name) && !slices.Contains(missing, "--"+f.Name) {
				missing = append(missing, "--"+f.Name)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("%d flag(s) appear nowhere in the README or docs/: %s", len(missing), strings.Join(missing, " "))
	}
}
