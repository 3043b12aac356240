package lint_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/pgtest"
	"github.com/upshift-dev/upshift/lint"
	"github.com/upshift-dev/upshift/pgsql"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture has the tables and columns the fixes' examples name.
const fixture = `
CREATE TABLE users (id bigint PRIMARY KEY);
CREATE TABLE events (
  id bigint PRIMARY KEY, body text, user_id bigint, connection_id bigint,
  created_at timestamp DEFAULT now(), external_id text, n int
);
INSERT INTO users VALUES (1);
INSERT INTO events (id, body, user_id, connection_id, external_id, n)
SELECT g, 'body ' || g, 1, g % 10, 'ext-' || g, g FROM generate_series(1, 100) g;
CREATE INDEX idx_events_old ON events (n);
CREATE INDEX idx_events_user_id ON events (user_id);`

// TestFixExamplesRun: every SQL line of every rule's fix runs on a real
// server, in order, on a table shaped like the examples say.
func TestFixExamplesRun(t *testing.T) {
	srv := pgtest.Shared(t)
	for _, r := range lint.Rules {
		var stmts []string
		for _, line := range strings.Split(r.Fix, "\n") {
			line = strings.TrimSpace(line)
			if sts, err := pgsql.Parse(line); err == nil && len(sts) > 0 && !strings.HasPrefix(line, "--") {
				stmts = append(stmts, line)
			}
		}
		if len(stmts) == 0 {
			continue // prose-only advice
		}
		t.Run(r.ID, func(t *testing.T) {
			db := srv.NewDB(t)
			db.Exec(t, fixture)
			conn := db.Connect(t)
			for _, s := range stmts {
				// Each on its own: CONCURRENTLY refuses a transaction block.
				if _, err := conn.PgConn().Exec(context.Background(), s).ReadAll(); err != nil {
					t.Errorf("fix statement fails: %s\n  %v", s, err)
				}
			}
		})
	}
}
