// Package dbconn opens the one PostgreSQL connection upshift works on: it
// parses the URL (or libpq's PG* variables and .pgpass), names the session,
// retries transient failures only, and keeps passwords out of every message.
package dbconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/upshift-dev/upshift/redact"
)

// Config is a parsed connection target.
type Config struct {
	Conn *pgx.ConnConfig
	// predialed is what Predial found, for Connect's first attempt only:
	// the socket, for the first dial to its address, and the host's
	// addresses, so that the attempt does not look them up again.
	predialed struct {
		sync.Mutex
		key  string
		conn net.Conn
		host string
		ips  []string
	}
	// Display is the target as it may be shown: the URL with its password
	// replaced by xxxxx, or host/port/database/user when PG* variables
	// were used.
	Display  string
	redactor *redact.Set
}

// ErrBadURL is wrapped by errors about the URL itself.
var ErrBadURL = errors.New("bad database URL")

// Parse reads a database URL or key=value string. An empty string uses
// libpq's PG* environment variables and defaults, as psql does. The
// application_name is set so operators can find upshift in
// pg_stat_activity.
func Parse(raw, applicationName string) (*Config, error) {
	r := NewRedactor(raw)
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndexByte(rest, '@'); at >= 0 && strings.Contains(rest[:at], "@") {
			// url.Parse and pgx split such a URL at different @s, and the
			// part of the password after the first @ became a host name in
			// the error message.
			return nil, fmt.Errorf("%w: the user or password in %s holds an unencoded '@'; percent-encode it as %%40 (postgres://user:p%%40ss@host/db)", ErrBadURL, RedactURL(raw))
		}
	}
	cc, err := pgx.ParseConfig(raw)
	if err != nil {
		// pgx's messages usually redact, but not always (and a typo'd URL
		// may not parse far enough to find the password): scrub anyway.
		return nil, fmt.Errorf("%w: %s", ErrBadURL, r.String(err.Error()))
	}
	r.Add(cc.Password) // from the URL, PGPASSWORD or .pgpass
	if applicationName != "" {
		cc.RuntimeParams["application_name"] = applicationName
	}
	// pgx's simple protocol needs UTF8; a SQL_ASCII database (initdb
	// without a UTF-8 locale) would otherwise default the client encoding
	// to SQL_ASCII and every query fails. psql and node-postgres ask for it too.
	if _, set := cc.RuntimeParams["client_encoding"]; !set {
		cc.RuntimeParams["client_encoding"] = "UTF8"
	}
	// On cancellation (Ctrl-C, docker stop, a cancelled CI job) ask the
	// server to cancel the running statement, as psql does, instead of
	// only dropping the socket: a backend whose client vanished may keep
	// running a long DDL statement and keep its locks until it finishes.
	cc.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 10 * time.Second
	}
	c := &Config{Conn: cc, redactor: r}
	if raw != "" {
		c.Display = RedactURL(raw)
	} else {
		c.Display = fmt.Sprintf("host=%s port=%d dbname=%s user=%s", cc.Host, cc.Port, cc.Database, cc.User)
	}
	return c, nil
}

// Redactor returns the redactor that knows this config's secrets.
func (c *Config) Redactor() *redact.Set { return c.redactor }

// RedactURL replaces the password in a URL or key=value string with xxxxx.
func RedactURL(raw string) string {
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		u, err := url.Parse(raw)
		if err == nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
			q := u.Query()
			if q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
			}
			return u.String()
		}
		// Unparsable: drop everything between :// and the last @.
		if at := strings.LastIndexByte(raw, '@'); at > 0 {
			return raw[:strings.Index(raw, "://")+3] + "xxxxx" + raw[at:]
		}
		return raw
	}
	// key=value form, quoting kept for every field but the password.
	var b strings.Builder
	for _, kv := range conninfo(raw) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if kv.key == "password" {
			b.WriteString("password=xxxxx")
			continue
		}
		b.WriteString(kv.key + "=" + kv.raw)
	}
	return b.String()
}

type conninfoField struct {
	key, value string // value unquoted
	raw        string // value as written
}

// conninfo splits a libpq key=value string: values may be single-quoted,
// with \' and \\ escapes, and spaces around = are allowed.
func conninfo(s string) []conninfoField {
	var out []conninfoField
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return out
		}
		k := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		key := s[k:i]
		skip()
		if i >= len(s) || s[i] != '=' {
			out = append(out, conninfoField{key: key})
			continue
		}
		i++
		skip()
		start := i
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
			if i < len(s) {
				i++ // closing quote
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
		}
		out = append(out, conninfoField{key: key, value: val.String(), raw: s[start:i]})
	}
}

// NewRedactor knows the password of the given URL, if it has one.
func NewRedactor(raw string) *redact.Set {
	r := &redact.Set{}
	r.AddURL(raw)
	if !strings.Contains(raw, "://") {
		for _, kv := range conninfo(raw) {
			if kv.key == "password" {
				r.Add(kv.value)
			}
		}
	}
	return r
}

// Retry configures connection attempts: transient failures are retried
// until Window has passed since the first attempt (or Attempts were made,
// when set), waiting Backoff, doubled after each attempt up to MaxBackoff.
type Retry struct {
	Window     time.Duration // how long to keep trying; 0: only Attempts counts
	Attempts   int           // at most this many attempts; 0: no limit but Window
	Backoff    time.Duration // wait before the second attempt
	MaxBackoff time.Duration // cap of the doubling (default 5s)
	// OnRetry is told about each failed attempt that will be retried.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// ConnectError is a connection that failed for good.
type ConnectError struct {
	Target    string // redacted
	Attempts  int
	Transient bool
	Hint      string
	Err       error // already redacted
}

func (e *ConnectError) Error() string {
	msg := fmt.Sprintf("connect to %s: %v", e.Target, e.Err)
	if e.Attempts > 1 {
		msg = fmt.Sprintf("connect to %s (%d attempts): %v", e.Target, e.Attempts, e.Err)
	}
	return msg
}

// ErrorHint is what to check (printed apart from the error).
func (e *ConnectError) ErrorHint() string { return e.Hint }

func (e *ConnectError) Unwrap() error { return e.Err }

// Connect opens a connection and checks it with SELECT 1, retrying
// transient failures (refused, reset, timeouts, DNS, 57P03, 53300, class
// 08) with exponential backoff. Anything else fails at once with a hint.
func Connect(ctx context.Context, c *Config, retry Retry) (*pgx.Conn, error) {
	if retry.Attempts < 1 && retry.Window <= 0 {
		retry.Attempts = 1
	}
	if retry.MaxBackoff <= 0 {
		retry.MaxBackoff = 5 * time.Second
	}
	wait := retry.Backoff
	start := time.Now()
	for attempt := 1; ; attempt++ {
		conn, err := connectOnce(ctx, c)
		if attempt == 1 {
			// Retries dial afresh and resolve the host again (a database
			// container may come back at another address).
			c.endPredial()
		}
		if err == nil {
			return conn, nil
		}
		transient := Transient(err)
		outOfTries := retry.Attempts > 0 && attempt >= retry.Attempts
		if retry.Window > 0 {
			left := retry.Window - time.Since(start)
			if left <= 0 {
				outOfTries = true
			}
			wait = min(wait, max(left, 0))
		}
		if !transient || outOfTries || ctx.Err() != nil {
			return nil, &ConnectError{Target: c.Display, Attempts: attempt, Transient: transient, Hint: hint(err, c), Err: c.redactor.Error(err)}
		}
		if retry.OnRetry != nil {
			retry.OnRetry(attempt, wait, c.redactor.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil, &ConnectError{Target: c.Display, Attempts: attempt, Transient: true, Err: ctx.Err()}
		case <-time.After(wait):
		}
		wait = min(wait*2, retry.MaxBackoff)
	}
}

func connectOnce(ctx context.Context, c *Config) (*pgx.Conn, error) {
	cc := c.Conn.Copy()
	if host, ips := c.predialLookup(); ips != nil && cc.LookupFunc != nil {
		// Connect resolves the host for each fallback (sslmode=prefer has
		// two): answer from Predial's lookup.
		lookup := cc.LookupFunc
		cc.LookupFunc = func(ctx context.Context, h string) ([]string, error) {
			if h == host {
				return ips, nil
			}
			return lookup(ctx, h)
		}
	}
	if dial := cc.DialFunc; dial != nil {
		cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if conn := c.takePredialed(network, addr); conn != nil {
				return conn, nil
			}
			return dial(ctx, network, addr)
		}
	}
	k := preferOnOneSocket(&cc.Config)
	conn, err := pgx.ConnectConfig(ctx, cc)
	k.closeSpare()
	if err != nil {
		return nil, err
	}
	check := "SELECT 1"
	// If upshift is killed (kill -9, OOM, a node lost) the server would
	// otherwise notice only when the running statement ends, holding the
	// lock and the migration's locks until then. PostgreSQL 14+ can check
	// for a vanished client while a statement runs.
	if v := conn.PgConn().ParameterStatus("server_version"); majorVersion(v) >= 14 {
		check = "SET client_connection_check_interval = 1000; SELECT 1"
	}
	if _, err := conn.PgConn().Exec(ctx, check).ReadAll(); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// Predial opens the socket to the first address the config names, without
// speaking the protocol yet: the server accepts and forks its backend
// process (a millisecond or more) while the caller parses flags and reads
// files. Connect's first dial to that address takes the socket. A failed
// predial is forgotten: Connect dials again and reports what it finds.
func (c *Config) Predial(ctx context.Context) {
	cc := c.Conn
	if cc.DialFunc == nil || cc.LookupFunc == nil {
		return
	}
	network, addr := pgconn.NetworkAddress(cc.Host, cc.Port)
	if network == "tcp" {
		ips, err := cc.LookupFunc(ctx, cc.Host)
		if err != nil || len(ips) == 0 {
			return
		}
		c.predialed.Lock()
		c.predialed.host, c.predialed.ips = cc.Host, ips
		c.predialed.Unlock()
		if h, p, err := net.SplitHostPort(ips[0]); err == nil {
			addr = net.JoinHostPort(h, p)
		} else {
			addr = net.JoinHostPort(ips[0], strconv.Itoa(int(cc.Port)))
		}
	}
	if cc.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cc.ConnectTimeout)
		defer cancel()
	}
	conn, err := cc.DialFunc(ctx, network, addr)
	if err != nil {
		return
	}
	c.predialed.Lock()
	c.predialed.key, c.predialed.conn = network+" "+addr, conn
	c.predialed.Unlock()
}

func (c *Config) takePredialed(network, addr string) net.Conn {
	c.predialed.Lock()
	defer c.predialed.Unlock()
	conn := c.predialed.conn
	if conn == nil || c.predialed.key != network+" "+addr {
		return nil
	}
	c.predialed.conn = nil
	return conn
}

func (c *Config) predialLookup() (string, []string) {
	c.predialed.Lock()
	defer c.predialed.Unlock()
	return c.predialed.host, c.predialed.ips
}

// endPredial forgets what Predial found, closing a socket nobody took.
func (c *Config) endPredial() {
	c.predialed.Lock()
	defer c.predialed.Unlock()
	if c.predialed.conn != nil {
		c.predialed.conn.Close()
	}
	c.predialed.conn, c.predialed.host, c.predialed.ips = nil, "", nil
}

// Tested are the PostgreSQL major versions upshift's test suites run
// against, each server from Debian's own packages.
var Tested = []int{15, 17, 18}

// VersionWarning is one line about a server whose major version the test
// suites did not cover ("" for a tested one).
func VersionWarning(conn *pgx.Conn) string {
	return versionWarning(conn.PgConn().ParameterStatus("server_version"))
}

func versionWarning(v string) string {
	if slices.Contains(Tested, majorVersion(v)) {
		return ""
	}
	var names []string
	for _, t := range Tested {
		names = append(names, strconv.Itoa(t))
	}
	return fmt.Sprintf("PostgreSQL %s is not among the versions upshift's tests run on (%s): it should work; report anything that does not", strings.Fields(v + " ?")[0], strings.Join(names, ", "))
}

func majorVersion(v string) int {
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Transient reports whether a connection error is worth retrying.
func Transient(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "57P03" || pg.Code == "53300" || strings.HasPrefix(pg.Code, "08")
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

func hint(err error, c *Config) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "3D000":
			return fmt.Sprintf("database %q does not exist: create it with `upshift db create` (the same URL), or fix the database name", c.Conn.Database)
		case pg.Code == "28P01" || pg.Code == "28000":
			return "authentication failed: check the user and password in DATABASE_URL, PGPASSWORD or ~/.pgpass, and pg_hba.conf on the server"
		case pg.Code == "53300":
			return "the server has no free connection slots; retry later or raise max_connections"
		case pg.Code == "57P03":
			return "the server is starting up or shutting down; `upshift wait` blocks until it accepts connections"
		}
	}
	if Transient(err) {
		return "the server did not answer: is it running and reachable at that host and port? (`upshift wait` blocks until it is)"
	}
	return ""
}

// ErrNoDatabase is a URL that names no database to create.
var ErrNoDatabase = errors.New("the URL names no database")

// EnsureDatabase creates the database c names when it does not exist,
// connecting to maintenance (postgres) to do so, and reports whether it
// created it. Another process creating it meanwhile is not an error.
func EnsureDatabase(ctx context.Context, c *Config, maintenance string, retry Retry) (bool, error) {
	name := c.Conn.Database
	if name == "" {
		return false, ErrNoDatabase
	}
	admin := c.Conn.Copy()
	admin.Database = maintenance
	conn, err := Connect(ctx, &Config{Conn: admin, Display: c.Display, redactor: c.redactor}, retry)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return false, fmt.Errorf("look for database %q: %w", name, err)
	}
	if exists {
		return false, nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "42P04" { // created meanwhile by another replica
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create database %q: %w", name, err)
	}
	return true, nil
}

// Early is one quiet connection attempt started ahead of need: connecting
// (a TCP handshake, a server process forked) and reading a migrations
// folder overlap instead of adding up on every deploy.
type Early struct {
	done chan struct{}
	conn *pgx.Conn
	err  error
}

// StartEarly starts the attempt on c. Take it with Take, or let it go
// with Drop.
func StartEarly(ctx context.Context, c *Config) *Early {
	e := &Early{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		c.Predial(ctx)
		e.conn, e.err = Connect(ctx, c, Retry{Attempts: 1})
	}()
	return e
}

// Take waits for the attempt: its connection, or its error (for the caller
// to connect again with retries).
func (e *Early) Take() (*pgx.Conn, error) {
	<-e.done
	return e.conn, e.err
}

// Drop closes the connection when it comes.
func (e *Early) Drop() {
	go func() {
		<-e.done
		if e.conn != nil {
			e.conn.Close(context.Background())
		}
	}()
}
