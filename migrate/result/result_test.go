package result

import (
	"errors"
	"strings"
	"testing"
)

// The orchestrator finds the document among a setup container's lines:
// compose's progress, the container's stderr, the human output.
func TestFind(t *testing.T) {
	doc := New()
	doc.Pending = []string{"0007_drop_legacy"}
	doc.Applied = []Applied{{Tag: "0007_drop_legacy", File: "0007_drop_legacy.sql", Statements: 1}}
	doc.Lint = []Finding{{Rule: "drop-column", Severity: "warning", Breaking: true}, {Rule: "missing-lock-timeout", Severity: "warning"}}
	line, err := doc.Line()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(line, "\n") {
		t.Fatalf("the line has a newline: %q", line)
	}
	pretty := []string{"{", `  "version": 1,`, `  "pending": ["0007_drop_legacy"],`, `  "lint": [{"rule": "drop-column", "breaking": true}],`, `  "error": null`, "}"}
	tests := []struct {
		name    string
		lines   []string
		applied string
		err     error
	}{
		{"result line after human output", []string{" Container mana-db-1 Running", "applied   0007_drop_legacy  1 statement  3ms", line}, "0007_drop_legacy", nil},
		{"result line with a log prefix's spaces", []string{"  " + line + "  "}, "0007_drop_legacy", nil},
		// Only the typed line is read: a --format json document among other
		// lines is not guessed at.
		{"--format json among stderr lines", append([]string{"warning: something on stderr"}, pretty...), "", ErrNoDocument},
		{"human output only: nothing is guessed from it", []string{"applied   0007_drop_legacy  1 statement  3ms", "done: 1 migration applied in 40ms"}, "", ErrNoDocument},
		{"another program", []string{"node dist/scripts/migrate.js --dry-run", "unknown option"}, "", ErrNoDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Find(tt.lines)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if a := strings.Join(got.AppliedTags(), ","); a != tt.applied {
				t.Errorf("applied %q, want %q", a, tt.applied)
			}
			if b := got.Breaking(); len(b) != 1 || b[0].Rule != "drop-column" {
				t.Errorf("breaking %+v", b)
			}
		})
	}
}

func TestDecodeRefusesAnotherVersion(t *testing.T) {
	_, err := Decode([]byte(`{"version": 2, "pending": []}`))
	if err == nil || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "same upshift release") {
		t.Fatalf("%v", err)
	}
	if _, err := Decode([]byte(`{"pending": [}`)); err == nil {
		t.Fatal("broken JSON decoded")
	}
}

// A line is one document of its own: the dry run's script, which can be
// megabytes, is not in it.
func TestLineLeavesOutTheScript(t *testing.T) {
	doc := New()
	doc.Script = strings.Repeat("INSERT INTO t VALUES (1);\n", 10000)
	line, err := doc.Line()
	if err != nil || strings.Contains(line, "INSERT") || len(line) > 1000 {
		t.Fatalf("%d bytes, %v", len(line), err)
	}
	if doc.Script == "" {
		t.Fatal("Line changed the document")
	}
}
