package drizzle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/internal/harness/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// benchFolder writes a journal folder of n drizzle-kit-like migrations.
func benchFolder(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "meta"), 0o755)
	var entries []map[string]any
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("%04d_table_%d", i, i)
		entries = append(entries, map[string]any{"idx": i, "version": "7", "when": 1767225600000 + int64(i)*1000, "tag": tag, "breakpoints": true})
		sql := fmt.Sprintf("CREATE TABLE \"t%d\" (\n\t\"id\" serial PRIMARY KEY NOT NULL,\n\t\"name\" text NOT NULL\n);\n--> statement-breakpoint\nCREATE INDEX \"t%d_name_idx\" ON \"t%d\" USING btree (\"name\");", i, i, i)
		os.WriteFile(filepath.Join(dir, tag+".sql"), []byte(sql), 0o644)
	}
	j, _ := json.Marshal(map[string]any{"version": "7", "dialect": "postgresql", "entries": entries})
	os.WriteFile(filepath.Join(dir, "meta", "_journal.json"), j, 0o644)
	return dir
}

func BenchmarkLoad1000(b *testing.B) {
	dir := benchFolder(b, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := drizzle.Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatus1000 is the status path in process: read the folder and
// the table of 1,000 applied migrations, and classify them.
func BenchmarkStatus1000(b *testing.B) {
	dir := benchFolder(b, 1000)
	db := pgtest.Shared(b).NewDB(b)
	src, err := drizzle.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint);")
	for _, m := range src.Migrations {
		fmt.Fprintf(&sb, "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('%s', %d);", m.Hash, m.CreatedAt)
	}
	db.Exec(b, sb.String())
	conn := db.Connect(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src, err := drizzle.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		shape, rows, err := drizzle.ReadTable(ctx, conn, drizzle.DefaultTable)
		if err != nil {
			b.Fatal(err)
		}
		if p := drizzle.NewPlan(src, drizzle.DefaultTable, shape, rows); !p.UpToDate() {
			b.Fatal("not up to date")
		}
	}
}
