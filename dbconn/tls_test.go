package dbconn_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/upshift-dev/upshift/dbconn"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// connectCounting connects as upshift does and reports how many sockets
// were dialled and whether the session uses TLS.
func connectCounting(t *testing.T, url string) (dials int32, ssl bool, err error) {
	return connectCountingPredial(t, url, false)
}

// connectCountingPredial is connectCounting, after Predial when predial.
func connectCountingPredial(t *testing.T, url string, predial bool) (dials int32, ssl bool, err error) {
	t.Helper()
	cfg, err := dbconn.Parse(url, "")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	base := cfg.Conn.DialFunc
	cfg.Conn.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return base(ctx, network, addr)
	}
	if predial {
		cfg.Predial(context.Background())
	}
	conn, err := dbconn.Connect(context.Background(), cfg, dbconn.Retry{Attempts: 1})
	if err != nil {
		return n.Load(), false, err
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	return n.Load(), ssl, nil
}

// TestPreferOnOneSocket: with sslmode=prefer (what a URL without sslmode
// means), a server without TLS is reached over the socket whose TLS
// request it refused, as libpq does, rather than over a second connection;
// a server with TLS still gets TLS, and require still refuses plain.
func TestPreferOnOneSocket(t *testing.T) {
	plain := pgtest.Shared(t).NewDB(t)
	base := strings.Replace(plain.URL, "sslmode=disable", "", 1)
	base = strings.TrimSuffix(strings.TrimSuffix(base, "?"), "&")
	for _, tc := range []struct {
		url   string
		dials int32
		ssl   bool
		fails bool
	}{
		{base, 1, false, false},
		{with(base, "sslmode=prefer"), 1, false, false},
		{with(base, "sslmode=disable"), 1, false, false},
		{with(base, "sslmode=require"), 1, false, true},
	} {
		dials, ssl, err := connectCounting(t, tc.url)
		if (err != nil) != tc.fails || dials != tc.dials || ssl != tc.ssl {
			t.Errorf("%s: %d dials, ssl %v, err %v", tc.url, dials, ssl, err)
		}
	}

	srv, err := pgtest.Init()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.EnableSSL(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(); err != nil {
		t.Fatal(err)
	}
	tlsURL := "postgres://postgres@127.0.0.1:" + strconv.Itoa(srv.Port) + "/postgres"
	for _, tc := range []struct {
		url string
		ssl bool
	}{
		{tlsURL, true},
		{with(tlsURL, "sslmode=prefer"), true},
		{with(tlsURL, "sslmode=require"), true},
		{with(tlsURL, "sslmode=disable"), false},
	} {
		for _, predial := range []bool{false, true} {
			dials, ssl, err := connectCountingPredial(t, tc.url, predial)
			if err != nil || dials != 1 || ssl != tc.ssl {
				t.Errorf("TLS server, %s, predial %v: %d dials, ssl %v, err %v", tc.url, predial, dials, ssl, err)
			}
		}
	}
}

// TestPredial: the socket Predial opens is the one Connect speaks over
// (one dial in all, TLS or not); a predial that fails leaves Connect to
// report what it finds, as without it.
func TestPredial(t *testing.T) {
	plain := pgtest.Shared(t).NewDB(t)
	base := strings.Replace(plain.URL, "sslmode=disable", "", 1)
	base = strings.TrimSuffix(strings.TrimSuffix(base, "?"), "&")
	for _, url := range []string{base, with(base, "sslmode=disable"), strings.Replace(base, "127.0.0.1", "localhost", 1)} {
		dials, ssl, err := connectCountingPredial(t, url, true)
		if err != nil || ssl {
			t.Errorf("%s: ssl %v, %v", url, ssl, err)
		}
		// localhost may name ::1 first, where the test server does not
		// listen: then Connect dials 127.0.0.1 itself.
		if dials != 1 && !(strings.Contains(url, "localhost") && dials == 3) {
			t.Errorf("%s: %d dials", url, dials)
		}
	}

	// Nothing listens: the predial fails quietly, Connect says so.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg, err := dbconn.Parse("postgres://u@127.0.0.1:"+strconv.Itoa(port)+"/db", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Predial(context.Background())
	_, err = dbconn.Connect(context.Background(), cfg, dbconn.Retry{Attempts: 1})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("nothing listening: %v", err)
	}

	// The predial's lookup serves the first attempt only: a retry asks
	// again (a database container may come back at another address).
	cfg, err = dbconn.Parse("postgres://u@db.invalid:"+strconv.Itoa(port)+"/db?sslmode=disable", "")
	if err != nil {
		t.Fatal(err)
	}
	var lookups atomic.Int32
	cfg.Conn.LookupFunc = func(ctx context.Context, host string) ([]string, error) {
		lookups.Add(1)
		return []string{"127.0.0.1"}, nil
	}
	cfg.Predial(context.Background())
	_, err = dbconn.Connect(context.Background(), cfg, dbconn.Retry{Attempts: 2})
	if err == nil || lookups.Load() != 2 {
		t.Errorf("predial, then two attempts: %d lookups, want 2 (predial, second attempt); %v", lookups.Load(), err)
	}
}

func with(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}
