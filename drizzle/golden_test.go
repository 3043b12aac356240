package drizzle_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/upshift-dev/upshift/drizzle"
)

// goldenDir is the repository's copy of ../shared/drizzle-golden: output of
// the real drizzle-kit and rows written by the real drizzle-orm.
const goldenDir = "../testdata/drizzle-golden"

type goldenRow struct {
	ID              int64   `json:"id"`
	Hash            string  `json:"hash"`
	Name            *string `json:"name"`
	CreatedAt       int64   `json:"created_at"`
	AppliedAtIsNull *bool   `json:"applied_at_is_null"`
}

type goldenColumn struct {
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Default *string `json:"default"`
}

type goldenTable struct {
	Rows    []goldenRow    `json:"rows"`
	Columns []goldenColumn `json:"columns"`
}

func readGolden(t *testing.T, name string) goldenTable {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name, "expected_migrations_table.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenTable
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func loadGolden(t *testing.T, name string) *drizzle.Source {
	t.Helper()
	src, err := drizzle.Load(filepath.Join(goldenDir, name, "drizzle"))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestGoldenHashesAndCreatedAt: every migration of the corpus gets exactly
// the hash and created_at that the real drizzle-orm wrote.
func TestGoldenHashesAndCreatedAt(t *testing.T) {
	for _, tc := range []struct {
		folder string
		layout drizzle.Layout
	}{
		{"v0-journal", drizzle.LayoutJournal},
		{"v1-folders", drizzle.LayoutFolders},
	} {
		t.Run(tc.folder, func(t *testing.T) {
			src := loadGolden(t, tc.folder)
			want := readGolden(t, tc.folder)
			if src.Layout != tc.layout {
				t.Errorf("layout = %s, want %s", src.Layout, tc.layout)
			}
			if len(src.Migrations) != len(want.Rows) {
				t.Fatalf("%d migrations, want %d", len(src.Migrations), len(want.Rows))
			}
			for i, m := range src.Migrations {
				r := want.Rows[i]
				if m.Hash != r.Hash {
					t.Errorf("%s: hash %s, drizzle-orm wrote %s", m.Tag, m.Hash, r.Hash)
				}
				if m.CreatedAt != r.CreatedAt {
					t.Errorf("%s: created_at %d, drizzle-orm wrote %d", m.Tag, m.CreatedAt, r.CreatedAt)
				}
				if r.Name != nil && m.Tag != *r.Name {
					t.Errorf("migration %d: name %s, drizzle-orm wrote %s", i, m.Tag, *r.Name)
				}
			}
		})
	}
}

// TestGoldenUpgradedFolders: `drizzle-kit up` kept the files byte for byte,
// so the upgraded folders hash like the rows that drizzle-orm 0.45 wrote,
// and their timestamps are those rows' created_at cut to the second.
func TestGoldenUpgradedFolders(t *testing.T) {
	src := loadGolden(t, "v0-upgraded-to-v1")
	want := readGolden(t, "v0-upgraded-to-v1")
	if src.Layout != drizzle.LayoutFolders {
		t.Fatalf("layout = %s", src.Layout)
	}
	for i, m := range src.Migrations {
		r := want.Rows[i]
		if m.Tag != *r.Name || m.Hash != r.Hash {
			t.Errorf("migration %d: %s %s, want %s %s", i, m.Tag, m.Hash, *r.Name, r.Hash)
		}
		if m.CreatedAt != r.CreatedAt/1000*1000 {
			t.Errorf("%s: created_at %d, want %d", m.Tag, m.CreatedAt, r.CreatedAt/1000*1000)
		}
	}
}

// TestGoldenStatements: statements are split where drizzle-orm splits them,
// and each knows the line it starts on.
func TestGoldenStatements(t *testing.T) {
	src := loadGolden(t, "v0-journal")
	m := src.Migrations[3]
	if got := len(m.Statements); got != 4 {
		t.Fatalf("%d statements, want 4", got)
	}
	wantLines := []int{1, 7, 14, 16}
	for i, st := range m.Statements {
		if st.Line != wantLines[i] {
			t.Errorf("statement %d starts on line %d, want %d", i+1, st.Line, wantLines[i])
		}
	}
	// 0001 has "...;--> statement-breakpoint" at line ends: each following
	// statement starts at column 1 of the next line.
	for i, want := range []int{1, 8, 9, 10} {
		if st := src.Migrations[1].Statements[i]; st.Line != want || st.Column != 1 {
			t.Errorf("0001 statement %d at %d:%d, want %d:1", i+1, st.Line, st.Column, want)
		}
	}
}

// TestGoldenCopyInSync: testdata/drizzle-golden is a copy of
// ../shared/drizzle-golden; a difference is a finding, not noise.
func TestGoldenCopyInSync(t *testing.T) {
	shared := "../../shared/drizzle-golden"
	if _, err := os.Stat(shared); err != nil {
		t.Skip("../shared/drizzle-golden is not beside the checkout")
	}
	err := filepath.WalkDir(shared, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(shared, p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(goldenDir, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("testdata/drizzle-golden/%s differs from ../shared (copy it again)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
