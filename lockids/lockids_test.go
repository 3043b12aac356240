package lockids_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/pgtest"
	"github.com/upshift-dev/upshift/lockids"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// derived is the contract: these ids are what running services lock on, so
// they must never change. Each is checked against an independent
// computation in PostgreSQL below.
var derived = []struct {
	name string
	id   lockids.ID
}{
	{"chat-backend", 2873038152676037839},
	{"todo-backend", 8071189701711149962},
	{"mana-chat", 2573028698803076120},
	{"a", 6711705668124535713},
	{"Ünïcödé service", 998116064680077429},
}

func TestRegistry(t *testing.T) {
	id, src, err := lockids.For("mana-auth")
	if err != nil || id != 987654321 || src != lockids.FromRegistry {
		t.Fatalf("mana-auth = %d %s %v, want 987654321 from the registry", id, src, err)
	}
	if s, ok := lockids.Lookup(987654321); !ok || s != "mana-auth" {
		t.Errorf("Lookup = %q %v", s, ok)
	}
	if _, _, err := lockids.For("  "); err == nil {
		t.Error("empty service accepted")
	}
}

func TestDerivedIDsAreStable(t *testing.T) {
	for _, d := range derived {
		id, src, err := lockids.For(d.name)
		if err != nil || src != lockids.Derived {
			t.Fatalf("%s: %v %s", d.name, err, src)
		}
		if id != d.id {
			t.Errorf("%s: derived id %d, the contract says %d", d.name, id, d.id)
		}
		if id < 0 {
			t.Errorf("%s: negative id", d.name)
		}
	}
}

// TestDerivationMatchesSQL recomputes every id with the SQL given in the
// package documentation, on a real server.
func TestDerivationMatchesSQL(t *testing.T) {
	db := pgtest.Shared(t).NewDB(t)
	conn := db.Connect(t)
	for _, d := range derived {
		var id int64
		err := conn.QueryRow(context.Background(), `SELECT ('x' || substr(encode(sha256(convert_to('upshift:' || $1::text, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint & x'7fffffffffffffff'::bigint`, d.name).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		if lockids.ID(id) != lockids.Derive(d.name) {
			t.Errorf("%s: SQL computes %d, Go %d", d.name, id, lockids.Derive(d.name))
		}
	}
}

func TestIDJSONIsAString(t *testing.T) {
	b, err := json.Marshal(map[string]lockids.ID{"lock_id": 6931383427413911055})
	if err != nil || string(b) != `{"lock_id":"6931383427413911055"}` {
		t.Fatalf("%s %v", b, err)
	}
	var back map[string]lockids.ID
	if err := json.Unmarshal(b, &back); err != nil || back["lock_id"] != 6931383427413911055 {
		t.Errorf("%v %v", back, err)
	}
	var old lockids.ID
	if err := json.Unmarshal([]byte("987654321"), &old); err != nil || old != 987654321 {
		t.Errorf("a number: %v %v", old, err)
	}
}
