package drizzle_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

// TestReadTableInIDOrder: rows come back in id order whatever order the
// table holds them in, alike from the one-round-trip read (a connection
// outside a transaction) and the careful one (inside a transaction), for
// both shapes of the table.
func TestReadTableInIDOrder(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		shape  drizzle.Shape
		create string
		insert string
	}{
		{drizzle.ShapeV0, "CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)",
			"INSERT INTO drizzle.__drizzle_migrations (id, hash, created_at) VALUES (3, 'c', 300), (1, 'a', 100), (2, 'b', 200)"},
		{drizzle.ShapeV1, "CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint, name text, applied_at timestamptz)",
			"INSERT INTO drizzle.__drizzle_migrations (id, hash, created_at, name, applied_at) VALUES (3, 'c', 300, 'm3', now()), (1, 'a', 100, 'm1', now()), (2, 'b', 200, 'm2', now())"},
	} {
		db := pgtest.Shared(t).NewDB(t)
		db.Exec(t, "CREATE SCHEMA drizzle; "+c.create+"; "+c.insert+"; UPDATE drizzle.__drizzle_migrations SET hash = hash WHERE id = 1")
		conn := db.Connect(t)
		shape, fast, err := drizzle.ReadTable(ctx, conn, drizzle.DefaultTable)
		if err != nil || shape != c.shape {
			t.Fatalf("%s: shape %s, %v", c.shape, shape, err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, careful, err := drizzle.ReadTable(ctx, tx, drizzle.DefaultTable)
		tx.Rollback(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range fast {
			ids = append(ids, r.ID)
		}
		if !reflect.DeepEqual(ids, []int64{1, 2, 3}) || fast[0].Hash != "a" || fast[2].Hash != "c" {
			t.Errorf("%s: ids %v", c.shape, ids)
		}
		if !reflect.DeepEqual(fast, careful) {
			t.Errorf("%s: fast %+v\ncareful %+v", c.shape, fast, careful)
		}
	}
}
