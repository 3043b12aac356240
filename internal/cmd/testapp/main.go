// Command testapp is the service the orchestrator's end-to-end tests and
// benchmarks deploy: a static binary in a FROM scratch image whose health
// endpoint reports its version and checks the schema it needs, the way a real
// service's readiness endpoint does.
//
// Environment:
//
//	APP_VERSION     reported as {"version": …} by / and /health
//	APP_MODE        ok (default) | unhealthy (health answers 500) | crash (exits 1 at start)
//	                | flap (health answers 200, then 500, in turn)
//	DATABASE_URL    checked on every /health when REQUIRE_COLUMN is set
//	REQUIRE_COLUMN  table.column that must exist (the schema this version needs)
//	LISTEN          address to serve on (default :8080)
//
// With -check URL it asks URL once and exits 0 on 200 (a healthcheck).
// With -proxy it is instead a reverse proxy: it resolves UPSTREAM's host name
// on every request and tries the next address when a connection fails, as
// nginx does with several upstream addresses.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	proxy := flag.Bool("proxy", false, "run as a reverse proxy to UPSTREAM (host:port)")
	check := flag.String("check", "", "ask this URL once and exit 0 on 200, else 1: the healthcheck of an image with no curl")
	flag.Parse()
	if *check != "" {
		os.Exit(healthcheck(*check))
	}
	listen := env("LISTEN", ":8080")
	var h http.Handler
	if *proxy {
		h = newProxy(os.Getenv("UPSTREAM"))
	} else {
		if os.Getenv("APP_MODE") == "crash" {
			// Printing its configuration on the way out, as services do:
			// the orchestrator must not repeat the secret in it.
			log.Fatalf("testapp: APP_MODE=crash: exiting at start (SESSION_SECRET=%s)", os.Getenv("SESSION_SECRET"))
		}
		h = newApp()
	}
	srv := &http.Server{Addr: listen, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("testapp %s listening on %s", env("APP_VERSION", "dev"), listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func healthcheck(url string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, url, "answered", resp.Status)
		return 1
	}
	return 0
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newApp() http.Handler {
	version := env("APP_VERSION", "dev")
	mode := env("APP_MODE", "ok")
	need := os.Getenv("REQUIRE_COLUMN")
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, code int, v map[string]any) {
		v["version"] = version
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	var asked atomic.Int64
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if mode == "unhealthy" || mode == "flap" && asked.Add(1)%2 == 0 {
			reply(w, http.StatusInternalServerError, map[string]any{"status": "error", "error": "APP_MODE=unhealthy"})
			return
		}
		if need != "" {
			if err := checkColumn(r.Context(), need); err != nil {
				reply(w, http.StatusServiceUnavailable, map[string]any{"status": "error", "error": err.Error()})
				return
			}
		}
		reply(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	return mux
}

func checkColumn(ctx context.Context, tableColumn string) error {
	table, column, ok := strings.Cut(tableColumn, ".")
	if !ok {
		return fmt.Errorf("REQUIRE_COLUMN %q is not table.column", tableColumn)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = $1 AND column_name = $2`, table, column).Scan(&n)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("schema: column %s is missing", tableColumn)
	}
	return nil
}

// proxy forwards to every address UPSTREAM resolves to, in turn, moving on
// to the next address when one refuses the connection.
type proxy struct {
	host, port string
	client     *http.Client
}

func newProxy(upstream string) http.Handler {
	host, port, err := net.SplitHostPort(upstream)
	if err != nil {
		log.Fatalf("testapp -proxy: UPSTREAM %q: %v", upstream, err)
	}
	// A short connect timeout: an address that vanished (a container just
	// removed, still in a DNS answer) answers nothing at all, and the next
	// address should be tried at once, as nginx's proxy_next_upstream does
	// with a tuned proxy_connect_timeout.
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 250 * time.Millisecond}).DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 2 * time.Second}
	return &proxy{host: host, port: port, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addrs, err := net.DefaultResolver.LookupHost(r.Context(), p.host)
	if err != nil {
		http.Error(w, "proxy: resolve "+p.host+": "+err.Error(), http.StatusBadGateway)
		return
	}
	var last error
	for i := 0; i < len(addrs)*2; i++ {
		a := addrs[i%len(addrs)]
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+net.JoinHostPort(a, p.port)+r.URL.RequestURI(), nil)
		resp, err := p.client.Do(req)
		if err != nil {
			last = err
			continue
		}
		if resp.StatusCode >= 500 && i < len(addrs)*2-1 {
			resp.Body.Close()
			last = fmt.Errorf("upstream %s answered %d", a, resp.StatusCode)
			continue
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "proxy: no upstream answered: "+fmt.Sprint(last), http.StatusBadGateway)
}
