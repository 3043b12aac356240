package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

// CompletionCmd prints a shell completion script.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// cmdNode is a command of the tree, for the generators.
type cmdNode struct {
	path  string // "db vacuum"
	name  string
	help  string
	subs  []*cmdNode
	flags []*kong.Flag
}

func tree(n *kong.Node, prefix string) []*cmdNode {
	var out []*cmdNode
	for _, c := range n.Children {
		if c.Hidden || c.Type != kong.CommandNode {
			continue
		}
		path := strings.TrimSpace(prefix + " " + c.Name)
		out = append(out, &cmdNode{path: path, name: c.Name, help: firstSentence(c.Help), subs: tree(c, path), flags: c.Flags})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

func (c *CompletionCmd) Run(kctx *kong.Context, env *Env) error {
	cmds := tree(kctx.Model.Node, "")
	switch c.Shell {
	case "bash":
		writeBash(env.Stdout, cmds)
	case "zsh":
		fmt.Fprint(env.Stdout, "#compdef upshift\n# upshift completion for zsh, through zsh's bash completion support.\nautoload -U +X bashcompinit && bashcompinit\n")
		writeBash(env.Stdout, cmds)
	case "fish":
		writeFish(env.Stdout, cmds)
	}
	return nil
}

func names(cs []*cmdNode) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return strings.Join(out, " ")
}

func longFlags(fs []*kong.Flag) string {
	out := []string{"--help"}
	for _, f := range fs {
		if f.Hidden {
			continue
		}
		out = append(out, "--"+f.Name)
	}
	return strings.Join(out, " ")
}

func walk(cs []*cmdNode, fn func(*cmdNode)) {
	for _, c := range cs {
		fn(c)
		walk(c.subs, fn)
	}
}

func writeBash(w io.Writer, cmds []*cmdNode) {
	fmt.Fprintf(w, `# upshift completion for bash: source it, or put it in /etc/bash_completion.d/upshift.
_upshift() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" i word
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    case "$path|$word" in
`)
	walk(cmds, func(c *cmdNode) {
		parent := strings.TrimSuffix(strings.TrimSuffix(c.path, c.name), " ")
		fmt.Fprintf(w, "      %q) path=%q ;;\n", parent+"|"+c.name, c.path)
	})
	fmt.Fprintf(w, `    esac
  done
  case "$path" in
    "") COMPREPLY=($(compgen -W %q -- "$cur")) ;;
`, names(cmds)+" --help")
	walk(cmds, func(c *cmdNode) {
		if len(c.subs) > 0 {
			fmt.Fprintf(w, "    %q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", c.path, names(c.subs)+" --help")
			return
		}
		fmt.Fprintf(w, "    %q) [[ \"$cur\" == -* ]] && COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", c.path, longFlags(c.flags))
	})
	fmt.Fprint(w, `  esac
}
complete -o default -F _upshift upshift
`)
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func writeFish(w io.Writer, cmds []*cmdNode) {
	fmt.Fprintln(w, "# upshift completion for fish: put it in ~/.config/fish/completions/upshift.fish.")
	fmt.Fprintln(w, "complete -c upshift -f")
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c upshift -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.help))
	}
	walk(cmds, func(c *cmdNode) {
		seen := "__fish_seen_subcommand_from " + c.name
		if len(c.subs) > 0 {
			for _, s := range c.subs {
				fmt.Fprintf(w, "complete -c upshift -n %s -a %s -d %s\n", fishQuote(seen+"; and not __fish_seen_subcommand_from "+names(c.subs)), s.name, fishQuote(s.help))
			}
			return
		}
		for _, f := range c.flags {
			if f.Hidden {
				continue
			}
			line := fmt.Sprintf("complete -c upshift -n %s -l %s", fishQuote(seen), f.Name)
			if f.Short != 0 {
				line += fmt.Sprintf(" -s %c", f.Short)
			}
			if !f.IsBool() {
				line += " -r"
				if f.Enum != "" {
					line += " -a " + fishQuote(strings.Join(f.EnumSlice(), " "))
				} else {
					line += " -F"
				}
			}
			fmt.Fprintln(w, line+" -d "+fishQuote(firstSentence(f.Help)))
		}
	})
}
