// Package kitconfig reads drizzle-kit's configuration file
// (drizzle.config.ts and its .mts, .js, .mjs, .cjs and .json forms)
// without running it: what the file states literally is taken, and what it
// computes at run time is named, with the expression, so that the caller
// can say which flag or variable supplies it instead.
//
// Teams run `drizzle-kit migrate`, which reads this file; upshift dropped
// into the same script must apply into the same table from the same
// folder.
package kitconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Names are the file names drizzle-kit looks for, in its order.
var Names = []string{"drizzle.config.ts", "drizzle.config.mts", "drizzle.config.js", "drizzle.config.mjs", "drizzle.config.cjs", "drizzle.config.json"}

// Find returns the path of the config file in dir, or "" when there is
// none.
func Find(dir string) string {
	for _, n := range Names {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Value is one setting as the file states it.
type Value struct {
	// Set: the file has the key.
	Set bool
	// Literal is the value when the file states it as a string literal
	// (or a fallback after an environment variable).
	Literal    string
	HasLiteral bool
	// Env is the variable of `process.env.NAME` (with `!`, `?? "…"` or
	// `|| "…"`); Literal is then the fallback, if HasLiteral.
	Env string
	// Computed is the expression's text when the file computes the value
	// at run time (a call, a variable, a template with ${…}).
	Computed string
	Line     int
}

// Config is what a drizzle-kit config file says about migrating.
type Config struct {
	Path    string
	Dialect Value
	Out     Value
	// Table, Schema and Prefix are migrations.table, .schema, .prefix.
	Table, Schema, Prefix Value
	// URL is dbCredentials.url; Credentials is dbCredentials when it is
	// not an object with a url (host, user, … or a variable).
	URL         Value
	Credentials Value
	// Dotenv is the file a `config({ path })` of dotenv loads, or ".env"
	// for a plain `config()` / `import "dotenv/config"`: variables the
	// file's values may come from, which upshift does not load.
	Dotenv string
}

// Error is a config file that cannot be read as drizzle-kit's.
type Error struct {
	Path string
	Line int
	Msg  string
}

// ErrorHint is the way around a file upshift cannot read.
func (e *Error) ErrorHint() string {
	return "give the settings directly, or name another config file"
}

// ErrorOptions are the settings the hint refers to.
func (e *Error) ErrorOptions() []string {
	return []string{"dir", "migrations-table", "migrations-schema", "database-url", "config"}
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// Load reads the config file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, string(b))
}

// Parse reads a config file's text; path names it in errors.
func Parse(path, text string) (*Config, error) {
	toks, err := scan(text)
	if err != nil {
		var se *scanError
		if errors.As(err, &se) {
			return nil, &Error{Path: path, Line: se.line, Msg: se.msg}
		}
		return nil, err
	}
	p := &parser{toks: toks, path: path}
	cfg := &Config{Path: path, Dotenv: dotenv(toks)}
	obj, err := p.exported(strings.HasSuffix(path, ".json"))
	if err != nil {
		return nil, err
	}
	cfg.Dialect = obj.value("dialect")
	cfg.Out = obj.value("out")
	if m := obj.object("migrations"); m != nil {
		cfg.Table, cfg.Schema, cfg.Prefix = m.value("table"), m.value("schema"), m.value("prefix")
	} else if v := obj.value("migrations"); v.Set {
		cfg.Table = Value{Set: true, Computed: v.Computed + ".table", Line: v.Line}
		cfg.Schema = Value{Set: true, Computed: v.Computed + ".schema", Line: v.Line}
	}
	if c := obj.object("dbCredentials"); c != nil {
		cfg.URL = c.value("url")
		if !cfg.URL.Set && len(c.keys) > 0 {
			cfg.Credentials = Value{Set: true, Computed: "{ " + strings.Join(c.keys, ", ") + " }", Line: c.line}
		}
	} else if v := obj.value("dbCredentials"); v.Set {
		cfg.Credentials = v
	}
	return cfg, nil
}

// dotenv finds dotenv's loading in the file: `config({ path: "x" })`
// after importing config from "dotenv", or `import "dotenv/config"`.
func dotenv(toks []token) string {
	imported := false
	for i, t := range toks {
		if t.kind == tString && (t.text == "dotenv/config") {
			return ".env"
		}
		if t.kind == tString && t.text == "dotenv" {
			imported = true
		}
		if !imported || t.kind != tIdent || t.text != "config" || i+1 >= len(toks) || toks[i+1].text != "(" {
			continue
		}
		if i > 0 && (toks[i-1].text == "{" || toks[i-1].text == "," || toks[i-1].text == "import") {
			continue // the import itself
		}
		for j := i + 2; j < len(toks) && toks[j].text != ")"; j++ {
			if toks[j].kind == tIdent && toks[j].text == "path" && j+2 < len(toks) && toks[j+1].text == ":" && toks[j+2].kind == tString {
				return toks[j+2].text
			}
		}
		return ".env"
	}
	return ""
}
