//go:build unix

package drizzle

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestReadPlainBothWays: with and without trusting a short read as the
// end of the file, readPlain returns the file whole, around the 16 KB
// buffer too.
func TestReadPlainBothWays(t *testing.T) {
	dir := t.TempDir()
	d := openPlainDir(dir)
	defer d.Close()
	if d.fd < 0 {
		t.Fatal("cannot open the folder")
	}
	for _, size := range []int{0, 1, 100, 16<<10 - 1, 16 << 10, 16<<10 + 1, 40 << 10} {
		want := bytes.Repeat([]byte("x"), size)
		name := "m.sql"
		if err := os.WriteFile(filepath.Join(dir, name), want, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, short := range []bool{false, true} {
			d.shortIsEOF = short
			got, ok, err := readPlain(d, name)
			if err != nil || !ok || !bytes.Equal(got, want) {
				t.Errorf("size %d, shortIsEOF %v: %d bytes, ok %v, %v", size, short, len(got), ok, err)
			}
		}
	}
}
