package drizzle_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/upshift-dev/upshift/drizzle"
)

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
