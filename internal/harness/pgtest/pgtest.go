// Package pgtest gives tests a real PostgreSQL server: the one named by
// TEST_DATABASE_URL, or an ephemeral cluster it creates with initdb in a
// temporary folder and starts on a free loopback port. Each test gets its
// own database.
package pgtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Password is the password of the role SecretUser, which must log in with
// SCRAM over TCP: tests use it to prove that passwords never leak.
const (
	SecretUser = "upshift_secret"
	Password   = "s3cr3t-Pa55word-never-shown"
)

// Server is a running PostgreSQL server.
type Server struct {
	// URL connects as a superuser to the maintenance database.
	URL string
	// Host and Port of the server.
	Host string
	Port int
	// Dir is the data directory of an ephemeral cluster ("" otherwise).
	Dir string
	// Bin holds the server's programs; inside Root when that is set.
	Bin string
	// Root is a Debian root (made by mmdebstrap, $PG_ROOT) whose
	// PostgreSQL the cluster runs, chrooted: a release other than the
	// machine's own, with the libraries it was built against.
	Root string
	proc *exec.Cmd
	cred *syscall.Credential
}

// Command is one of the server's own programs (pg_dump, psql, ...), run
// inside its Root when it has one: a newer server's pg_dump for a newer
// server.
func (s *Server) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.Bin, name), args...)
	if s.Root != "" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: s.Root}
		cmd.Dir = "/"
	}
	return cmd
}

// in is a host path as the server's programs see it.
func (s *Server) in(p string) string {
	if s.Root == "" {
		return p
	}
	return "/" + strings.TrimPrefix(strings.TrimPrefix(p, s.Root), "/")
}

var (
	shared    *Server
	sharedErr error
	once      sync.Once
)

// Main runs a package's tests with a shared server and stops it afterwards.
// Use it from TestMain: os.Exit(pgtest.Main(m)).
// A failure names the server it ran on: the suites run on several
// PostgreSQL releases.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "pgtest: these tests ran on PostgreSQL %s%s\n", shared.version(), map[bool]string{true: " (PG_ROOT=" + shared.Root + ")"}[shared.Root != ""])
		}
		shared.Stop()
	}
	return code
}

func (s *Server) version() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return "(unreachable: " + err.Error() + ")"
	}
	defer conn.Close(ctx)
	return conn.PgConn().ParameterStatus("server_version")
}

// Shared returns the package-wide server, starting it on first use. Tests
// are skipped under -short.
func Shared(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	once.Do(func() {
		if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
			shared, sharedErr = External(u)
			return
		}
		shared, sharedErr = Start()
	})
	if sharedErr != nil {
		t.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// External wraps an existing server.
func External(u string) (*Server, error) {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return nil, fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	return &Server{URL: u, Host: cfg.Host, Port: int(cfg.Port)}, nil
}

// FindBin locates the PostgreSQL server binaries: $PG_BIN, then the
// directory of initdb on PATH, then the newest /usr/lib/postgresql/N/bin.
func FindBin() (string, error) {
	if b := os.Getenv("PG_BIN"); b != "" {
		return b, nil
	}
	if root := os.Getenv("PG_ROOT"); root != "" {
		dirs, _ := filepath.Glob(filepath.Join(root, "usr/lib/postgresql/*/bin/initdb"))
		if len(dirs) != 1 {
			return "", fmt.Errorf("PG_ROOT=%s holds %d PostgreSQL releases, want one (make it with .ci/pg-roots)", root, len(dirs))
		}
		return "/" + strings.TrimPrefix(filepath.Dir(strings.TrimPrefix(dirs[0], root)), "/"), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (install them with `apt-get install -y postgresql`, set PG_BIN, or set TEST_DATABASE_URL)")
}

// Start creates and starts an ephemeral cluster.
func Start() (*Server, error) {
	s, err := Init()
	if err != nil {
		return nil, err
	}
	return s, s.bootstrap()
}

// Init creates an ephemeral cluster without starting it: Run starts it on
// its port, Halt stops it (tests of a server that comes up late or goes
// away mid-run). Its only role is the trusted superuser postgres.
func Init() (*Server, error) {
	s, err := initCluster()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Run starts the cluster's server on its port.
func (s *Server) Run() error { return s.startServer(filepath.Join(s.Dir, "data")) }

// Halt shuts the server down (fast: sessions are ended, their transactions
// rolled back) and keeps its files, so Run can start it again.
func (s *Server) Halt() {
	if s.proc != nil && s.proc.Process != nil {
		_ = s.proc.Process.Signal(syscall.SIGINT)
		for i := 0; i < 500; i++ {
			if err := s.proc.Process.Signal(syscall.Signal(0)); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.proc = nil
	}
}

func (s *Server) pickPortAndRun() error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return err
		}
		if err = s.Run(); err == nil {
			return nil
		}
	}
	return err
}

// initCluster runs initdb; the server is started by bootstrap or Run. initdb refuses to run as
// root, so as root the cluster belongs to the postgres user.
func initCluster() (*Server, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	root := os.Getenv("PG_ROOT")
	tmp := ""
	if root != "" {
		if root, err = filepath.Abs(root); err != nil {
			return nil, err
		}
		tmp = filepath.Join(root, "tmp")
	}
	dir, err := os.MkdirTemp(tmp, "upshift-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Bin: bin, Host: "127.0.0.1", Root: root}
	if os.Geteuid() == 0 {
		uid, gid, err := postgresUser(root)
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user to own the cluster: %w", err)
		}
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte("postgres\n"), 0o644); err != nil {
		return nil, err
	}
	if out, err := s.run("initdb", "-D", s.in(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8", "--pwfile", s.in(pwfile)); err != nil {
		// Some images lack the C.UTF-8 locale; C is enough for the tests.
		_ = os.RemoveAll(data)
		if out2, err2 := s.run("initdb", "-D", s.in(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C", "--pwfile", s.in(pwfile)); err2 != nil {
			return nil, fmt.Errorf("initdb: %v\n%s\n%s", err2, out, out2)
		}
	}
	// The secret role must use SCRAM over TCP; everyone else is trusted.
	hba := "local all all trust\n" +
		"host all " + SecretUser + " 127.0.0.1/32 scram-sha-256\n" +
		"host all " + SecretUser + " ::1/128 scram-sha-256\n" +
		"host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n" +
		"host replication all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o644); err != nil {
		return nil, err
	}
	if s.cred != nil {
		_ = os.Chown(filepath.Join(data, "pg_hba.conf"), int(s.cred.Uid), int(s.cred.Gid))
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.Port = port
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	return s, nil
}

// bootstrap starts the server and creates the secret role.
func (s *Server) bootstrap() error {
	if err := s.Run(); err != nil {
		if err := s.pickPortAndRun(); err != nil {
			return err
		}
		s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		s.Stop()
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'", SecretUser, Password)); err != nil {
		s.Stop()
		return err
	}
	return nil
}

func (s *Server) startServer(data string) error {
	cmd := s.Command("postgres", "-D", s.in(data), "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.in(s.Dir),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB", "-c", "logging_collector=off")
	logf, err := os.Create(filepath.Join(s.Dir, "server.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential, cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pdeathsig = s.cred, true, syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return err
	}
	s.proc = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "server.log"))
			s.proc = nil
			return fmt.Errorf("postgres exited: %v\n%s", err, log)
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port))
			cancel()
			if err == nil {
				conn.Close(context.Background())
				go func() { <-exited }()
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("postgres did not accept connections within 30s")
}

// run runs one of the server's programs as the cluster's owner, in its
// folder.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := s.Command(name, args...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = s.cred
	cmd.Dir = s.in(s.Dir)
	return cmd.CombinedOutput()
}

// postgresUser is the postgres user's ids: the machine's, or those of the
// root's own /etc/passwd (its packages made the user there).
func postgresUser(root string) (uid, gid int, err error) {
	if root == "" {
		u, err := user.Lookup("postgres")
		if err != nil {
			return 0, 0, err
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		return uid, gid, nil
	}
	b, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 3 && f[0] == "postgres" {
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
			return uid, gid, nil
		}
	}
	return 0, 0, fmt.Errorf("no postgres user in %s/etc/passwd", root)
}

// Standby makes a hot standby of the running ephemeral cluster s
// (pg_basebackup -R) and starts it on a port of its own.
func (s *Server) Standby() (*Server, error) {
	tmp := ""
	if s.Root != "" {
		tmp = filepath.Join(s.Root, "tmp")
	}
	dir, err := os.MkdirTemp(tmp, "upshift-pg-standby-")
	if err != nil {
		return nil, err
	}
	st := &Server{Dir: dir, Bin: s.Bin, Host: "127.0.0.1", cred: s.cred, Root: s.Root}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if out, err := st.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres",
		"-D", st.in(filepath.Join(dir, "data")), "-R", "-X", "stream", "--no-sync"); err != nil {
		st.Stop()
		return nil, fmt.Errorf("pg_basebackup: %v\n%s", err, out)
	}
	if err := st.pickPortAndRun(); err != nil {
		st.Stop()
		return nil, err
	}
	st.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", st.Port)
	return st, nil
}

// Stop shuts an ephemeral cluster down and removes its files.
func (s *Server) Stop() {
	if s.proc != nil && s.proc.Process != nil {
		_ = s.proc.Process.Signal(syscall.SIGQUIT)
		for i := 0; i < 100; i++ {
			if err := s.proc.Process.Signal(syscall.Signal(0)); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.proc = nil
	}
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DB is a database of one test's own.
type DB struct {
	Name string
	// URL connects to it as a superuser.
	URL    string
	server *Server
}

// NewDB creates an empty database for t and drops it when t ends.
func (s *Server) NewDB(t testing.TB) *DB {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return &DB{Name: name, URL: s.dbURL(name), server: s}
}

func (s *Server) dbURL(name string) string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return s.URL
	}
	u.Path = "/" + name
	return u.String()
}

// SecretURL connects to the database as SecretUser with its password in the
// URL.
func (d *DB) SecretURL() string {
	u, _ := url.Parse(d.URL)
	u.User = url.UserPassword(SecretUser, Password)
	return u.String()
}

// Connect opens a connection to the database, closed when t ends.
func (d *DB) Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), d.URL)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", d.Name, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Exec runs SQL (several statements allowed) and fails the test on error.
func (d *DB) Exec(t testing.TB, sql string) {
	t.Helper()
	conn := d.Connect(t)
	if _, err := conn.PgConn().Exec(context.Background(), sql).ReadAll(); err != nil {
		t.Fatalf("pgtest: exec %q: %v", firstLine(sql), err)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + "…"
	}
	return s
}

// EnableSSL gives a cluster made by Init a self-signed certificate and
// ssl=on, before Run: for tests of what a client does when the server
// offers TLS.
func (s *Server) EnableSSL() error {
	data := filepath.Join(s.Dir, "data")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"server.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		p := filepath.Join(data, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
		if s.cred != nil {
			if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				return err
			}
		}
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("ssl = on\n")
	return err
}

// Version is the server's version (server_version), for the lines a test
// prints.
func (s *Server) Version(t testing.TB) string {
	t.Helper()
	return s.version()
}
