// Package cliutil is the plumbing of a kong command line that is not
// about any one command: a buffered stdout a signal handler can flush, a
// writer that notes whether anything was written, the parser model of one
// command, and the repairs kong's parser needs (negative numbers as
// values; --format read off arguments it could not parse).
package cliutil

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kong"
)

// NewStdout buffers w.
func NewStdout(w io.Writer) *Stdout { return &Stdout{b: bufio.NewWriter(w)} }

// Stdout is a buffered stdout that a signal handler can flush safely.
type Stdout struct {
	mu sync.Mutex
	b  *bufio.Writer
	// Lines flushes at the end of every line: progress reaches a pipe (a
	// CI log) as it happens, not when the program ends.
	Lines bool
}

func (w *Stdout) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if err == nil && w.Lines && bytes.IndexByte(p, '\n') >= 0 {
		err = w.b.Flush()
	}
	return n, err
}

func (w *Stdout) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.b.Flush()
}

// FlushFirst writes to w after flushing the buffered stdout b.
type FlushFirst struct {
	B *Stdout
	W io.Writer
}

func (f FlushFirst) Write(p []byte) (int, error) {
	f.B.Flush()
	return f.W.Write(p)
}

// OneCommand finds the command args[0] names, for a parser of that command
// alone. Help, completion and anything that is not plainly a command name
// first get the whole tree.
func OneCommand(root any, args []string) (name string, cmd any, help string, ok bool) {
	if len(args) == 0 || args[0] == "completion" {
		return "", nil, "", false
	}
	for _, a := range args {
		if a == "--help" || a == "-h" || a == "--" {
			return "", nil, "", false
		}
	}
	v := reflect.ValueOf(root).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n := f.Tag.Get("name")
		if n == "" {
			n = strings.ToLower(f.Name)
		}
		if n == args[0] {
			return n, v.Field(i).Addr().Interface(), f.Tag.Get("help"), true
		}
	}
	return "", nil, "", false
}

// Counting notes whether anything was written.
type Counting struct {
	W io.Writer
	N int
}

func (c *Counting) Write(p []byte) (int, error) {
	c.N += len(p)
	return c.W.Write(p)
}

// Flush flushes W when it buffers (a line drawn in place has no newline).
func (c *Counting) Flush() {
	if f, ok := c.W.(interface{ Flush() }); ok {
		f.Flush()
	}
}

// ArgsAskJSON: kong could not parse the command line, so --format is read
// off the raw arguments.
func ArgsAskJSON(args []string) bool {
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "--format=json" || a == "--format" && i+1 < len(args) && args[i+1] == "json" {
			return true
		}
	}
	return false
}

// JoinNegativeValues rewrites "--flag -5" as "--flag=-5". kong reads a
// value that starts with "-" as the next flag and then complains about the
// flag's missing value; joined, the value reaches the flag's own decoder,
// which says what is wrong with it ("must not be negative").
func JoinNegativeValues(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if strings.HasPrefix(a, "--") && !strings.Contains(a, "=") && i+1 < len(args) && isNegativeNumber(args[i+1]) {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// isNegativeNumber: "-5", "-0.5", "-5s". No flag starts with a digit.
func isNegativeNumber(s string) bool {
	return len(s) >= 2 && s[0] == '-' && (s[1] >= '0' && s[1] <= '9' || s[1] == '.')
}

// Seconds is a duration that also accepts a bare number of seconds, as
// MIGRATION_TIMEOUT=300 means in the Mana migrate script.
type Seconds time.Duration

// Ptr is an optional flag's value: nil when the flag was not given.
func (s *Seconds) Ptr() *time.Duration {
	if s == nil {
		return nil
	}
	d := time.Duration(*s)
	return &d
}

func (s *Seconds) UnmarshalText(b []byte) error {
	if n, err := strconv.ParseFloat(string(b), 64); err == nil {
		if n < 0 {
			return fmt.Errorf("must not be negative")
		}
		*s = Seconds(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is neither seconds nor a duration such as 90s", b)
	}
	if d < 0 {
		return fmt.Errorf("must not be negative")
	}
	*s = Seconds(d)
	return nil
}

// HelpWithExamples is kong's help printer followed by the selected
// command's examples, looked up by its path ("db vacuum").
func HelpWithExamples(examples map[string][]string) kong.HelpPrinter {
	return func(options kong.HelpOptions, ctx *kong.Context) error {
		return printHelp(examples, options, ctx)
	}
}

func printHelp(examples map[string][]string, options kong.HelpOptions, ctx *kong.Context) error {
	if err := kong.DefaultHelpPrinter(options, ctx); err != nil {
		return err
	}
	node := ctx.Selected()
	if node == nil {
		return nil
	}
	ex := examples[strings.TrimPrefix(node.FullPath(), ctx.Model.Name+" ")]
	if len(ex) == 0 {
		return nil
	}
	fmt.Fprintln(ctx.Stdout, "\nExamples:")
	for _, e := range ex {
		fmt.Fprintln(ctx.Stdout, "  $ "+e)
	}
	return nil
}

// HelpValue is kong's help text for a flag plus, where the text does not say
// them already, its default and its allowed values.
func HelpValue(value *kong.Value) string {
	help := kong.DefaultHelpValueFormatter(value)
	var extra []string
	if value.Enum != "" && !strings.Contains(help, "One of") {
		extra = append(extra, "One of: "+strings.Join(value.EnumSlice(), ", ")+".")
	}
	if value.HasDefault && value.Default != "" && !value.IsBool() && !strings.Contains(help, "Default") {
		extra = append(extra, "Default: "+value.Default+".")
	}
	if len(extra) == 0 {
		return help
	}
	if help != "" && !strings.HasSuffix(help, ".") {
		help += "."
	}
	return strings.TrimSpace(help + " " + strings.Join(extra, " "))
}

// ParseExamples reads examples by command: a command's path on a line of
// its own, its examples indented below it; # starts a comment line.
func ParseExamples(text string) map[string][]string {
	out := map[string][]string{}
	cmd := ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(line) == "", strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			out[cmd] = append(out[cmd], strings.TrimSpace(line))
		default:
			cmd = strings.TrimSpace(line)
		}
	}
	return out
}
