// Package completion writes bash, zsh and fish completion scripts for a
// kong command tree: commands, subcommands and long flags, with each
// command's first sentence of help.
package completion

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

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

func writeBash(w io.Writer, program string, cmds []*cmdNode) {
	fmt.Fprintf(w, `# %[1]s completion for bash: source it, or put it in /etc/bash_completion.d/%[1]s.
_%[1]s() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" i word
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    case "$path|$word" in
`, program)
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
	fmt.Fprintf(w, `  esac
}
complete -o default -F _%[1]s %[1]s
`, program)
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func writeFish(w io.Writer, program string, cmds []*cmdNode) {
	fmt.Fprintf(w, "# %[1]s completion for fish: put it in ~/.config/fish/completions/%[1]s.fish.\ncomplete -c %[1]s -f\n", program)
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c %s -n __fish_use_subcommand -a %s -d %s\n", program, c.name, fishQuote(c.help))
	}
	walk(cmds, func(c *cmdNode) {
		seen := "__fish_seen_subcommand_from " + c.name
		if len(c.subs) > 0 {
			for _, s := range c.subs {
				fmt.Fprintf(w, "complete -c %s -n %s -a %s -d %s\n", program, fishQuote(seen+"; and not __fish_seen_subcommand_from "+names(c.subs)), s.name, fishQuote(s.help))
			}
			return
		}
		for _, f := range c.flags {
			if f.Hidden {
				continue
			}
			line := fmt.Sprintf("complete -c %s -n %s -l %s", program, fishQuote(seen), f.Name)
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

// Write writes the completion script of program's command tree root for
// shell (bash, zsh or fish).
func Write(w io.Writer, shell, program string, root *kong.Node) error {
	cmds := tree(root, "")
	switch shell {
	case "bash":
		writeBash(w, program, cmds)
	case "zsh":
		fmt.Fprintf(w, "#compdef %s\n# %s completion for zsh, through zsh's bash completion support.\nautoload -U +X bashcompinit && bashcompinit\n", program, program)
		writeBash(w, program, cmds)
	case "fish":
		writeFish(w, program, cmds)
	default:
		return errors.New("no completion for shell " + shell + " (bash, zsh, fish)")
	}
	return nil
}

// Leaves are the paths of the commands that have no subcommand ("db
// vacuum"), in order.
func Leaves(root *kong.Node) []string {
	var out []string
	walk(tree(root, ""), func(c *cmdNode) {
		if len(c.subs) == 0 {
			out = append(out, c.path)
		}
	})
	return out
}
