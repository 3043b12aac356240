// Command devdb runs a shell command against a throwaway PostgreSQL
// cluster: it starts one (as the test suite does), creates the database
// "demo", exports DATABASE_URL (and PGHOST/PGPORT/PGUSER/PGDATABASE for
// psql), runs the command with sh -c, and removes the cluster afterwards.
//
//	go run ./internal/devdb 'upshift migrate && upshift status'
//
// With TEST_DATABASE_URL set, that server is used instead.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: devdb 'shell command'")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1]))
}

func run(script string) int {
	var srv *pgtest.Server
	var err error
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		srv, err = pgtest.External(u)
	} else {
		fmt.Fprintln(os.Stderr, "devdb: starting a throwaway PostgreSQL cluster")
		srv, err = pgtest.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devdb:", err)
		return 1
	}
	defer srv.Stop()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devdb:", err)
		return 1
	}
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS demo WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE demo"); err != nil {
		fmt.Fprintln(os.Stderr, "devdb:", err)
		return 1
	}
	conn.Close(ctx)
	u, _ := url.Parse(srv.URL)
	u.Path = "/demo"
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "DATABASE_URL="+u.String(), "PGHOST="+srv.Host, "PGPORT="+strconv.Itoa(srv.Port),
		"PGUSER="+u.User.Username(), "PGDATABASE=demo")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "devdb:", err)
		return 1
	}
	return 0
}
