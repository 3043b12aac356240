package drizzle_test

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/upshift-dev/upshift/drizzle"
)

// TestDecodeTextMatchesNode: expected bytes are what Node 20's
// Buffer.toString() produced for each input (see the commit that added this
// test); drizzle-orm hashes that text, so upshift must decode the same way.
func TestDecodeTextMatchesNode(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"bom kept", "efbbbf41", "efbbbf41"},
		{"truncated 3-byte then ascii", "e28241", "efbfbd41"},
		{"two lone continuations", "808041", "efbfbdefbfbd41"},
		{"overlong", "c0af", "efbfbdefbfbd"},
		{"surrogate", "eda080", "efbfbdefbfbdefbfbd"},
		{"above U+10FFFF", "f4908080", "efbfbdefbfbdefbfbdefbfbd"},
		{"crlf kept", "610d0a62", "610d0a62"},
		{"truncated at end", "41f09f98", "41efbfbd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _ := hex.DecodeString(tc.in)
			if got := hex.EncodeToString([]byte(drizzle.DecodeText(in))); got != tc.want {
				t.Errorf("DecodeText(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"", "abc", "\xef\xbb\xbf", "\xe2\x82A", "\xf0\x9f\x98", "é✓積"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := drizzle.DecodeText(b)
		if !utf8.ValidString(out) {
			t.Fatalf("output is not valid UTF-8: %q", out)
		}
		if utf8.Valid(b) && out != string(b) {
			t.Fatalf("valid input changed: %q -> %q", b, out)
		}
		// Newlines are never eaten, so line numbers stay those of the file.
		if strings.Count(out, "\n") != strings.Count(string(b), "\n") {
			t.Fatalf("newline count changed")
		}
	})
}

func FuzzSplit(f *testing.F) {
	f.Add("CREATE TABLE a (id int);\n--> statement-breakpoint\nCREATE INDEX i ON a (id);")
	f.Add("x;--> statement-breakpoint--> statement-breakpoint\n\n  y")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		sts := drizzle.Split(text)
		parts := make([]string, len(sts))
		for i, s := range sts {
			parts[i] = s.SQL
			if s.Index != i {
				t.Fatalf("index %d at position %d", s.Index, i)
			}
			if text[s.Offset:s.Offset+len(s.SQL)] != s.SQL {
				t.Fatalf("offset %d does not locate statement %d", s.Offset, i)
			}
			// The reported line is the line of the offset plus the blank
			// lines before the statement's first character.
			lead := len(s.SQL) - len(strings.TrimLeft(s.SQL, " \t\r\n\f\v"))
			line, _ := drizzle.LineCol(text, s.Offset+lead)
			if s.Line != line {
				t.Fatalf("statement %d: line %d, want %d", i, s.Line, line)
			}
		}
		if strings.Join(parts, drizzle.Breakpoint) != text {
			t.Fatalf("statements do not rebuild the text")
		}
	})
}

func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"version":"7","dialect":"postgresql","entries":[{"idx":0,"version":"7","when":1,"tag":"0000_a","breakpoints":true}]}`))
	f.Add([]byte(`{"entries":[{"tag":"../x","when":1}],"dialect":"postgresql"}`))
	f.Add([]byte(`{"entries":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, journal []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "meta"), 0o755)
		os.WriteFile(filepath.Join(dir, "meta/_journal.json"), journal, 0o644)
		os.WriteFile(filepath.Join(dir, "0000_a.sql"), []byte("SELECT 1;"), 0o644)
		src, err := drizzle.Load(dir)
		if err != nil {
			var ie *drizzle.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error is not an InputError: %v", err)
			}
			if ie.ErrorHint() == "" && !strings.Contains(err.Error(), "cannot") {
				t.Fatalf("error without a hint: %v", err)
			}
			return
		}
		for _, m := range src.Migrations {
			if m.File != "0000_a.sql" {
				t.Fatalf("read %q, which is not in the folder's listing", m.File)
			}
		}
	})
}

// write creates files (path -> content) under a new folder.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func journal(entries string) string {
	return `{
  "version": "7",
  "dialect": "postgresql",
  "entries": [` + entries + `
  ]
}`
}

func entry(idx int, when, tag string) string {
	return `
    {
      "idx": ` + string(rune('0'+idx)) + `,
      "version": "7",
      "when": ` + when + `,
      "tag": "` + tag + `",
      "breakpoints": true
    }`
}

// TestBadFolders: every way a folder can be broken is refused before any
// database work, naming the file, the line, and what to do.
func TestBadFolders(t *testing.T) {
	sql := "SELECT 1;"
	for _, tc := range []struct {
		name  string
		files map[string]string
		setup func(t *testing.T, dir string)
		want  []string // substrings of the error
	}{
		{
			name:  "malformed json",
			files: map[string]string{"meta/_journal.json": "{\n  \"dialect\": \"postgresql\",\n  \"entries\": [\n    {\"tag\": \"0000_a\" \"when\": 1}\n  ]\n}"},
			want:  []string{"meta/_journal.json:4:", "malformed JSON", "hint:"},
		},
		{
			name:  "truncated json",
			files: map[string]string{"meta/_journal.json": "{\n  \"dialect\": \"postgresql\",\n  \"entries\": ["},
			want:  []string{"meta/_journal.json:3:", "ends too early"},
		},
		{
			name:  "wrong type",
			files: map[string]string{"meta/_journal.json": journal(`{"idx":0,"when":"soon","tag":"0000_a"}`), "0000_a.sql": sql},
			want:  []string{"meta/_journal.json:4:", `field "when" must be a whole number of milliseconds, not a JSON string`},
		},
		{
			name:  "unknown dialect",
			files: map[string]string{"meta/_journal.json": strings.Replace(journal(entry(0, "1", "0000_a")), "postgresql", "mysql", 1), "0000_a.sql": sql},
			want:  []string{"meta/_journal.json:3:", `dialect "mysql" is not supported`},
		},
		{
			name:  "missing file",
			files: map[string]string{"meta/_journal.json": journal(entry(0, "1", "0000_a") + "," + entry(1, "2", "0001_b")), "0000_a.sql": sql},
			want:  []string{"meta/_journal.json:12:", `"0001_b"`, "0001_b.sql", "0001_b/migration.sql", "restore the file"},
		},
		{
			name:  "duplicate tag",
			files: map[string]string{"meta/_journal.json": journal(entry(0, "1", "0000_a") + "," + entry(1, "2", "0000_a")), "0000_a.sql": sql},
			want:  []string{"meta/_journal.json:12:", "duplicate tag (first at line 5)"},
		},
		{
			name:  "duplicate idx",
			files: map[string]string{"meta/_journal.json": journal(entry(0, "1", "0000_a") + "," + entry(0, "2", "0001_b")), "0000_a.sql": sql, "0001_b.sql": sql},
			want:  []string{"meta/_journal.json:12:", "duplicate idx 0"},
		},
		{
			name:  "tag with ..",
			files: map[string]string{"meta/_journal.json": journal(entry(0, "1", "../outside")), "../outside.sql": sql},
			want:  []string{"meta/_journal.json:5:", "escapes the migrations folder"},
		},
		{
			name:  "absolute tag",
			files: map[string]string{"meta/_journal.json": journal(entry(0, "1", "/etc/passwd"))},
			want:  []string{"escapes the migrations folder"},
		},
		{
			name:  "symlink outside",
			files: map[string]string{"meta/_journal.json": journal(entry(0, "1", "0000_a"))},
			setup: func(t *testing.T, dir string) {
				outside := filepath.Join(t.TempDir(), "secret.sql")
				os.WriteFile(outside, []byte(sql), 0o644)
				if err := os.Symlink(outside, filepath.Join(dir, "0000_a.sql")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"0000_a.sql", "leads outside the migrations folder"},
		},
		{
			name:  "v1 symlinked folder outside",
			files: map[string]string{},
			setup: func(t *testing.T, dir string) {
				outside := t.TempDir()
				os.WriteFile(filepath.Join(outside, "migration.sql"), []byte(sql), 0o644)
				if err := os.Symlink(outside, filepath.Join(dir, "20260101000000_x")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"20260101000000_x", "leads outside the migrations folder"},
		},
		{
			name:  "v1 bad timestamp",
			files: map[string]string{"20260101000000_ok/migration.sql": sql, "20261341000000_bad/migration.sql": sql},
			want:  []string{"20261341000000_bad", `"20261341000000" is not a valid date`, "rename the folder"},
		},
		{
			name:  "v1 no timestamp",
			files: map[string]string{"add_users/migration.sql": sql},
			want:  []string{"add_users", "14-digit timestamp"},
		},
		{
			name:  "sql files without a journal",
			files: map[string]string{"0000_a.sql": sql, "meta/0000_snapshot.json": "{}"},
			want:  []string{"meta/_journal.json", "0000_a.sql", "restore meta/_journal.json"},
		},
		{
			name:  "not a folder",
			files: map[string]string{},
			setup: func(t *testing.T, dir string) {},
			want:  []string{"is not a folder"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{})
			dir = filepath.Join(dir, "drizzle")
			os.MkdirAll(dir, 0o755)
			for p, c := range tc.files {
				full := filepath.Join(dir, p)
				os.MkdirAll(filepath.Dir(full), 0o755)
				os.WriteFile(full, []byte(c), 0o644)
			}
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			if tc.name == "not a folder" {
				dir = filepath.Join(dir, "file")
				os.WriteFile(dir, nil, 0o644)
			}
			_, err := drizzle.Load(dir)
			var ie *drizzle.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Load() error = %v, want an InputError", err)
			}
			// As the CLI shows it: the error, then its hint.
			shown := err.Error()
			if h := ie.ErrorHint(); h != "" {
				shown += "\n  hint: " + h
			}
			for _, w := range tc.want {
				if !strings.Contains(shown, w) {
					t.Errorf("error %q\ndoes not mention %q", shown, w)
				}
			}
		})
	}
}

// TestNothingToMigrate: an existing folder with an empty journal (or none)
// is not an error; a missing folder is (a typo is not "up to date").
func TestNothingToMigrate(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := drizzle.Load(missing)
	var ie *drizzle.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing folder: %v", err)
	}
	for name, dir := range map[string]string{
		"empty journal": write(t, map[string]string{"meta/_journal.json": journal("")}),
		"null entries":  write(t, map[string]string{"meta/_journal.json": `{"dialect":"postgresql","entries":null}`}),
		"empty folder":  t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			src, err := drizzle.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if src.Layout != drizzle.LayoutNone || len(src.Migrations) != 0 {
				t.Errorf("got layout %s with %d migrations", src.Layout, len(src.Migrations))
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	dir := write(t, map[string]string{
		"meta/_journal.json":             journal(entry(0, "5", "0000_a") + "," + entry(1, "3", "0001_b")),
		"0000_a.sql":                     "SELECT 1;",
		"0001_b.sql":                     "SELECT 2;",
		"20260101000000_x/migration.sql": "SELECT 3;",
	})
	src, err := drizzle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Migrations) != 2 {
		t.Fatalf("%d migrations", len(src.Migrations))
	}
	var got []string
	for _, w := range src.Warnings {
		got = append(got, w.String())
	}
	all := strings.Join(got, "\n")
	for _, w := range []string{"_journal.json:12: migration \"0001_b\": \"when\" 3 is not after the previous entry's 5", "20260101000000_x: has a migration.sql but no journal entry"} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings %q\ndo not include %q", all, w)
		}
	}
}

func TestJournalFoldersLayout(t *testing.T) {
	dir := write(t, map[string]string{
		"meta/_journal.json":                      journal(entry(0, "1733066521000", "0000_initial_schema") + "," + entry(1, "1733152921000", "0001_add_user_preferences")),
		"0000_initial_schema/migration.sql":       "CREATE TABLE a (id int);",
		"0000_initial_schema/snapshot.json":       "{}",
		"0001_add_user_preferences/migration.sql": "CREATE TABLE b (id int);",
	})
	src, err := drizzle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if src.Layout != drizzle.LayoutJournalFolders {
		t.Errorf("layout %s", src.Layout)
	}
	if m := src.Migrations[1]; m.File != "0001_add_user_preferences/migration.sql" || m.CreatedAt != 1733152921000 || m.Hash != drizzle.Hash("CREATE TABLE b (id int);") {
		t.Errorf("got %+v", m)
	}
}

// TestFoldersSortLikeLocaleCompare: drizzle-orm 1.0 sorts folder names with
// localeCompare, so lower case comes before upper case of the same letter.
func TestFoldersSortLikeLocaleCompare(t *testing.T) {
	dir := write(t, map[string]string{
		"20260101000000_B/migration.sql": "SELECT 1;",
		"20260101000000_a/migration.sql": "SELECT 1;",
		"20250101000000_z/migration.sql": "SELECT 1;",
		"20260101000000_c/notes.txt":     "no migration.sql: ignored, as drizzle-orm does",
	})
	src, err := drizzle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range src.Migrations {
		got = append(got, m.Tag)
	}
	if want := "20250101000000_z 20260101000000_a 20260101000000_B"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

// TestReadsEveryShapeOfFile: migrations are read whole whatever their size
// (around the reader's 16 KB buffer too), through a symlink that stays in
// the folder, and a FIFO or folder under a migration's name is an error,
// not a hang.
func TestReadsEveryShapeOfFile(t *testing.T) {
	for _, size := range []int{0, 1, 16<<10 - 1, 16 << 10, 16<<10 + 1, 1 << 20} {
		body := strings.Repeat("-", size)
		dir := write(t, map[string]string{"meta/_journal.json": journal(entry(0, "1", "0000_a")), "0000_a.sql": body})
		src, err := drizzle.Load(dir)
		if err != nil || len(src.Migrations) != 1 || src.Migrations[0].Text != body || src.Migrations[0].Hash != drizzle.Hash(body) {
			t.Errorf("size %d: %v", size, err)
		}
	}
	dir := write(t, map[string]string{"meta/_journal.json": journal(entry(0, "1", "0000_a")), "real.sql": "SELECT 1;"})
	if err := os.Symlink("real.sql", filepath.Join(dir, "0000_a.sql")); err != nil {
		t.Fatal(err)
	}
	if src, err := drizzle.Load(dir); err != nil || src.Migrations[0].Text != "SELECT 1;" {
		t.Errorf("symlink in the folder: %v", err)
	}
	fifo := write(t, map[string]string{"meta/_journal.json": journal(entry(0, "1", "0000_a"))})
	if err := syscall.Mkfifo(filepath.Join(fifo, "0000_a.sql"), 0o644); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() { _, err := drizzle.Load(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "0000_a") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load hangs on a FIFO")
	}
}
