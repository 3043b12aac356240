package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/cliutil"
	"github.com/upshift-dev/upshift/dbconn"
	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/drizzle/kitconfig"
)

// FolderFlags select the migrations folder.
type FolderFlags struct {
	DirFlag    *string `name:"dir" env:"MIGRATIONS_DIR" placeholder:"DIR" help:"Migrations folder: meta/_journal.json with <tag>.sql or <tag>/migration.sql, or drizzle-kit 1.x <timestamp>_<name>/migration.sql folders. Default: ./drizzle. Where it is not given, drizzle.config.* (--config) supplies its out instead"`
	ConfigFile string  `name:"config" placeholder:"FILE" help:"drizzle-kit's config file, read without running it: out, migrations.table, migrations.schema, dbCredentials.url (literal or process.env.NAME). Flags and upshift's variables win over it. Default: drizzle.config.{ts,mts,js,mjs,cjs,json} in the working directory, if there is one."`
	// Dir is the folder the run reads, once resolved (resolveSettings).
	Dir string `kong:"-"`
}

// Load reads the folder (resolveSettings decided which) and prints its
// warnings.
func (f *FolderFlags) Load(env *Env) (*drizzle.Source, error) {
	src, err := drizzle.Load(f.Dir)
	if err != nil {
		return nil, err
	}
	for _, w := range src.Warnings {
		fmt.Fprintln(env.Stderr, "warning:", w)
	}
	return src, nil
}

// TableFlags name the migrations table.
type TableFlags struct {
	SchemaFlag *string `name:"migrations-schema" env:"MIGRATIONS_SCHEMA" placeholder:"NAME" help:"Schema of the migrations table. Default: drizzle. Where it is not given, drizzle.config.* supplies migrations.schema instead"`
	TableFlag  *string `name:"migrations-table" env:"MIGRATIONS_TABLE" placeholder:"NAME" help:"Name of the migrations table. Default: __drizzle_migrations. Where it is not given, drizzle.config.* supplies migrations.table instead"`
	// MigrationsSchema and MigrationsTable are the table the run uses,
	// once resolved (resolveSettings).
	MigrationsSchema string `kong:"-"`
	MigrationsTable  string `kong:"-"`
}

// Validate refuses an empty schema or table name before anything runs.
func (t *TableFlags) Validate() error {
	if t.SchemaFlag != nil && strings.TrimSpace(*t.SchemaFlag) == "" || t.TableFlag != nil && strings.TrimSpace(*t.TableFlag) == "" {
		return fmt.Errorf("--migrations-schema and --migrations-table must not be empty (drizzle-orm's are %q and %q)", drizzle.DefaultTable.Schema, drizzle.DefaultTable.Name)
	}
	return nil
}

func (t *TableFlags) Table() drizzle.Table {
	tb := drizzle.Table{Schema: t.MigrationsSchema, Name: t.MigrationsTable}
	if tb.Schema == "" {
		tb.Schema = deref(t.SchemaFlag, kitconfig.DefaultSchema)
	}
	if tb.Name == "" {
		tb.Name = deref(t.TableFlag, kitconfig.DefaultTable)
	}
	return tb
}

func deref(p *string, def string) string {
	if p == nil || *p == "" {
		return def
	}
	return *p
}

// resolveSettings decides the folder, the migrations table and (when the
// command connects) the database: flags and upshift's variables, else
// what drizzle-kit's config file states, else drizzle's defaults. It
// fills the flags' resolved fields, and says on stderr what came from the
// config file. folder, table and db may be nil where a command has none.
func resolveSettings(env *Env, folder *FolderFlags, table *TableFlags, db *DBFlags, quiet bool) (*kitconfig.Settings, error) {
	g := kitconfig.Given{NeedURL: db != nil}
	path := ""
	if folder != nil {
		g.Dir = deref(folder.DirFlag, "")
		path = folder.ConfigFile
	}
	if table != nil {
		g.Schema, g.Table = deref(table.SchemaFlag, ""), deref(table.TableFlag, "")
	}
	if db != nil {
		g.URL = db.DatabaseURL
	}
	s, err := kitconfig.Open(".", path, g, os.Getenv)
	if err != nil {
		return nil, usage(err, "")
	}
	if folder != nil {
		folder.Dir = s.Dir.Value
	}
	if table != nil {
		table.MigrationsSchema, table.MigrationsTable = s.Schema.Value, s.Table.Value
	}
	if db != nil {
		db.DatabaseURL = s.URL.Value
	}
	if line := s.Summary(); line != "" && !quiet {
		fmt.Fprintln(env.Stderr, "upshift:", line)
	}
	return s, nil
}

// DBFlags choose and reach the database.
type DBFlags struct {
	DatabaseURL    string          `name:"database-url" env:"DATABASE_URL" placeholder:"URL" help:"PostgreSQL URL or key=value string. Empty: libpq's PG* variables and ~/.pgpass, as psql uses."`
	Service        string          `name:"service" env:"SERVICE" placeholder:"NAME" help:"Service whose migrations these are; names the advisory lock and the session."`
	ConnectWindow  cliutil.Seconds `name:"connect-window" env:"UPSHIFT_CONNECT_WINDOW" default:"30s" placeholder:"DURATION" help:"How long to keep retrying transient connection failures (refused, reset, timeout, DNS, 57P03 starting up, 53300 too many connections, class 08): long enough for a database container that is still starting. Default: 30s."`
	ConnectRetries int             `name:"connect-retries" default:"0" help:"At most this many connection attempts (0: as many as --connect-window allows)."`
	ConnectBackoff cliutil.Seconds `name:"connect-backoff" default:"250ms" placeholder:"DURATION" help:"Wait before the second attempt; doubles after each, up to 5s. Default: 250ms."`

	versionSaid bool
}

func (d *DBFlags) retry() dbconn.Retry {
	return dbconn.Retry{Window: time.Duration(d.ConnectWindow), Attempts: d.ConnectRetries, Backoff: time.Duration(d.ConnectBackoff), MaxBackoff: 5 * time.Second}
}

func (d *DBFlags) config() (*dbconn.Config, error) {
	app := "upshift " + buildVersion()
	if d.Service != "" {
		app += " " + d.Service
	}
	return dbconn.Parse(d.DatabaseURL, app)
}

// Connect opens the connection, reporting retries on stderr.
func (d *DBFlags) Connect(ctx context.Context, env *Env) (*pgx.Conn, *dbconn.Config, error) {
	cfg, err := d.config()
	if err != nil {
		return nil, nil, err
	}
	retry := d.retry()
	retry.OnRetry = func(attempt int, wait time.Duration, err error) {
		fmt.Fprintf(env.Stderr, "upshift: connect attempt %d failed (%v); retrying in %s\n", attempt, err, wait.Round(time.Millisecond))
	}
	conn, err := dbconn.Connect(ctx, cfg, retry)
	if err != nil {
		return nil, cfg, err
	}
	d.warnVersion(conn, env)
	return conn, cfg, nil
}

// warnVersion says once, on stderr, that the server's major version is
// one upshift's tests do not run on.
func (d *DBFlags) warnVersion(conn *pgx.Conn, env *Env) {
	if d.versionSaid {
		return
	}
	d.versionSaid = true
	if w := dbconn.VersionWarning(conn); w != "" {
		fmt.Fprintf(env.Stderr, "upshift: warning: %s\n", w)
	}
}

// early is a connection attempt started before the folder is read
// (dbconn.StartEarly), or the reason it could not start.
type early struct {
	e   *dbconn.Early
	cfg *dbconn.Config
}

// ConnectEarly starts one quiet connection attempt. Take it with take, or
// let it go with drop.
func (d *DBFlags) ConnectEarly(ctx context.Context) early {
	cfg, err := d.config()
	if err != nil {
		return early{}
	}
	return early{dbconn.StartEarly(ctx, cfg), cfg}
}

// take returns the early connection, or, when that attempt failed, what
// Connect gives with its retries and messages.
func (e early) take(ctx context.Context, d *DBFlags, env *Env) (*pgx.Conn, *dbconn.Config, error) {
	if e.e != nil {
		if conn, err := e.e.Take(); err == nil {
			d.warnVersion(conn, env)
			return conn, e.cfg, nil
		}
	}
	return d.Connect(ctx, env)
}

func (e early) drop() {
	if e.e != nil {
		e.e.Drop()
	}
}

// OutputFlags choose the output format.
type OutputFlags struct {
	Format string `name:"format" enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (o *OutputFlags) JSON() bool { return o.Format == "json" }

// endJSON is how every command that prints one JSON document ends: err
// (if any) goes into the document's error field, unless a richer error is
// there already, with the exit code upshift ends with; the document is
// printed on every path.
func endJSON(w io.Writer, doc any, slot **errorJSON, err error) error {
	return endDoc(func() error { return writeJSON(w, doc) }, slot, err)
}

// endDoc fills a document's error field as endJSON does, then writes it.
func endDoc(write func() error, slot **errorJSON, err error) error {
	if err != nil {
		if *slot == nil {
			*slot = newErrorJSON(err)
		}
		if (*slot).ExitCode == 0 {
			(*slot).ExitCode = exitCode(err)
		}
	}
	if werr := write(); werr != nil && err == nil {
		return werr
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// millisUTC formats a created_at value for people.
func millisUTC(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05")
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
