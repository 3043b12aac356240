package kitconfig

import (
	"fmt"
	"os"
	"strings"
)

// Defaults are drizzle-kit's (and drizzle-orm's) own.
const (
	DefaultDir    = "./drizzle"
	DefaultSchema = "drizzle"
	DefaultTable  = "__drizzle_migrations"
)

// Given is what the command line and upshift's own variables say; an
// empty string was not given. Flags and upshift's variables win over the
// config file.
type Given struct {
	Dir, Schema, Table, URL string
	// NeedURL: the command connects, so a URL the config names but
	// computes is an error (lint without a database does not need it).
	NeedURL bool
}

// Setting is one resolved value and where it came from.
type Setting struct {
	Value string `json:"value,omitempty"` // empty for the database URL, a secret
	From  string `json:"from"`
}

// Settings are the values a run uses.
type Settings struct {
	Dir    Setting `json:"dir"`
	Schema Setting `json:"migrations_schema"`
	Table  Setting `json:"migrations_table"`
	// URL's Value is the URL itself, which callers must not print; URL.From
	// says where it came from ("" Value: libpq's PG* variables).
	URL    Setting `json:"-"`
	Prefix string  `json:"-"`
	Config string  `json:"-"` // the config file that was used, if any
}

// ResolveError is a setting the config file computes at run time, or
// names a variable for that is not set, while the run needs it.
type ResolveError struct {
	Msg  string
	Hint string
}

func (e *ResolveError) Error() string { return e.Msg }

// ErrorHint is the flag or variable that supplies the setting.
func (e *ResolveError) ErrorHint() string { return e.Hint }

// Resolve decides each setting: what was given, else what the config
// states literally, else drizzle's default. cfg may be nil (no config
// file). getenv reads the environment (variables the config names).
func Resolve(cfg *Config, g Given, getenv func(string) string) (*Settings, error) {
	s := &Settings{}
	var used []string
	pick := func(given, flag string, v Value, key, def string) (Setting, error) {
		if given != "" {
			return Setting{Value: given, From: flag}, nil
		}
		if cfg == nil || !v.Set {
			return Setting{Value: def, From: "default"}, nil
		}
		where := fmt.Sprintf("%s:%d %s", cfg.Path, v.Line, key)
		switch {
		case v.Env != "":
			if val := getenv(v.Env); val != "" {
				used = append(used, key)
				return Setting{Value: val, From: v.Env + ", named by " + where}, nil
			}
			if v.HasLiteral {
				used = append(used, key)
				return Setting{Value: v.Literal, From: where + " (the fallback: " + v.Env + " is not set)"}, nil
			}
			return Setting{}, &ResolveError{Msg: fmt.Sprintf("%s is process.env.%s, which is not set%s", where, v.Env, cfg.dotenvNote()),
				Hint: fmt.Sprintf("set %s, or pass %s", v.Env, flag)}
		case v.HasLiteral:
			used = append(used, key)
			return Setting{Value: v.Literal, From: where}, nil
		}
		return Setting{}, &ResolveError{Msg: fmt.Sprintf("%s is computed when drizzle-kit runs the file (%s); upshift reads the file without running it", where, v.Computed),
			Hint: "pass " + flag + " with the value it computes"}
	}
	if cfg != nil && g.Dir == "" && cfg.Dialect.HasLiteral && cfg.Dialect.Literal != "postgresql" {
		return nil, &ResolveError{Msg: fmt.Sprintf("%s:%d says dialect %q; upshift migrates PostgreSQL", cfg.Path, cfg.Dialect.Line, cfg.Dialect.Literal),
			Hint: "point --config at the PostgreSQL config, or pass --dir"}
	}
	var err error
	if s.Dir, err = pick(g.Dir, "--dir (MIGRATIONS_DIR)", cfgOut(cfg), "out", DefaultDir); err != nil {
		return nil, err
	}
	if s.Schema, err = pick(g.Schema, "--migrations-schema (MIGRATIONS_SCHEMA)", cfgField(cfg, func(c *Config) Value { return c.Schema }), "migrations.schema", DefaultSchema); err != nil {
		return nil, err
	}
	if s.Table, err = pick(g.Table, "--migrations-table (MIGRATIONS_TABLE)", cfgField(cfg, func(c *Config) Value { return c.Table }), "migrations.table", DefaultTable); err != nil {
		return nil, err
	}
	switch {
	case g.URL != "":
		s.URL = Setting{Value: g.URL, From: "--database-url (DATABASE_URL)"}
	case cfg != nil && !cfg.URL.Set && cfg.Credentials.Set && g.NeedURL:
		return nil, &ResolveError{Msg: fmt.Sprintf("%s:%d dbCredentials is built when drizzle-kit runs the file (%s)%s; upshift reads the file without running it", cfg.Path, cfg.Credentials.Line, cfg.Credentials.Computed, cfg.dotenvNote()),
			Hint: "set DATABASE_URL (or pass --database-url) to the URL it builds"}
	case cfg != nil && cfg.URL.Set && g.NeedURL:
		u, err := pick("", "--database-url (DATABASE_URL)", cfg.URL, "dbCredentials.url", "")
		if err != nil {
			return nil, err
		}
		s.URL = u
	default:
		s.URL = Setting{From: "libpq's PG* variables"}
	}
	if cfg != nil {
		if cfg.Prefix.HasLiteral {
			s.Prefix = cfg.Prefix.Literal
		}
		if len(used) > 0 {
			s.Config = cfg.Path
		}
	}
	return s, nil
}

func cfgOut(cfg *Config) Value {
	if cfg == nil {
		return Value{}
	}
	return cfg.Out
}

func cfgField(cfg *Config, f func(*Config) Value) Value {
	if cfg == nil {
		return Value{}
	}
	return f(cfg)
}

func (c *Config) dotenvNote() string {
	if c.Dotenv == "" {
		return ""
	}
	return fmt.Sprintf(" (the file loads %s with dotenv when drizzle-kit runs it; upshift does not)", c.Dotenv)
}

// Summary says, in one line, what the config file gave the run ("" when
// it gave nothing).
func (s *Settings) Summary() string {
	if s.Config == "" {
		return ""
	}
	from := func(x Setting) bool { return strings.Contains(x.From, s.Config) }
	var parts []string
	if from(s.Dir) {
		parts = append(parts, "folder "+s.Dir.Value+" ("+s.Dir.From+")")
	}
	switch {
	case from(s.Schema) && from(s.Table):
		parts = append(parts, fmt.Sprintf("table %s.%s (migrations.schema and migrations.table)", s.Schema.Value, s.Table.Value))
	case from(s.Schema):
		parts = append(parts, fmt.Sprintf("table %s.%s (%s)", s.Schema.Value, s.Table.Value, s.Schema.From))
	case from(s.Table):
		parts = append(parts, fmt.Sprintf("table %s.%s (%s)", s.Schema.Value, s.Table.Value, s.Table.From))
	}
	if from(s.URL) {
		parts = append(parts, "database URL from "+s.URL.From)
	}
	return "from " + s.Config + ": " + strings.Join(parts, "; ")
}

// MissingError is a config file named explicitly that is not there.
type MissingError struct {
	Path string
	Err  error
}

func (e *MissingError) Error() string { return "config file " + e.Err.Error() }

// ErrorHint says what a config file is.
func (e *MissingError) ErrorHint() string {
	return "name drizzle-kit's config file (drizzle.config.ts), or none to use the one in the working directory"
}

// ErrorOptions are the settings the hint refers to.
func (e *MissingError) ErrorOptions() []string { return []string{"config"} }
func (e *MissingError) Unwrap() error          { return e.Err }

// Open resolves the settings of a run in the working directory dir: the
// config file at path (or drizzle-kit's names in dir when path is ""),
// read only when something is not given, then Resolve. Errors are
// *MissingError, *Error (a file that cannot be read as drizzle-kit's) and
// *ResolveError.
func Open(dir, path string, g Given, getenv func(string) string) (*Settings, error) {
	if path == "" {
		path = Find(dir)
	} else if _, err := os.Stat(path); err != nil {
		return nil, &MissingError{Path: path, Err: err}
	}
	var cfg *Config
	if path != "" && (g.Dir == "" || g.Schema == "" || g.Table == "" || g.NeedURL && g.URL == "") {
		var err error
		if cfg, err = Load(path); err != nil {
			return nil, err
		}
	}
	return Resolve(cfg, g, getenv)
}
