package drizzle

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// InputError is a problem with the migrations folder itself: something a
// person must fix in the files before any database work can happen.
type InputError struct {
	Path   string // file or folder, as given by the caller's dir plus the relative path
	Line   int    // 1-based; 0 when the problem is not tied to a line
	Column int
	Tag    string // the migration concerned, if any
	Msg    string
	Hint   string // what to do next
	// Options are the settings the hint refers to ("dir"), for a caller
	// to name as its own flags or fields.
	Options []string
	Err     error
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Tag != "" {
		fmt.Fprintf(&b, "migration %q: ", e.Tag)
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *InputError) Unwrap() error { return e.Err }

// ErrorHint is what to do about it (printed apart from the error).
func (e *InputError) ErrorHint() string { return e.Hint }

// ErrorOptions are the settings the hint refers to.
func (e *InputError) ErrorOptions() []string { return e.Options }

// Warning is a finding that does not stop work but that a person should see.
type Warning struct {
	Path string `json:"path,omitempty"`
	Line int    `json:"line,omitempty"`
	Tag  string `json:"tag,omitempty"`
	Msg  string `json:"message"`
}

func (w Warning) String() string {
	var b strings.Builder
	if w.Path != "" {
		b.WriteString(w.Path)
		if w.Line > 0 {
			fmt.Fprintf(&b, ":%d", w.Line)
		}
		b.WriteString(": ")
	}
	if w.Tag != "" {
		fmt.Fprintf(&b, "migration %q: ", w.Tag)
	}
	b.WriteString(w.Msg)
	return b.String()
}

// ErrRefused is wrapped by errors that stop a migration run before anything
// is applied because the plan is unsafe (out-of-order, modified migrations).
var ErrRefused = errors.New("refused")

// MigrationError is a statement the server rejected while applying a
// migration.
type MigrationError struct {
	Tag       string
	File      string // path of the migration file
	Statement Statement
	// Line and Column locate the error in the file: the server's position
	// when it gave one, otherwise the statement's start.
	Line, Column int
	// Ran lists the statements of this migration that had already succeeded
	// (only meaningful for migrations run outside a transaction, where they
	// stay applied).
	Ran   []int
	PgErr *pgconn.PgError
	Err   error
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("%s:%d:%d: migration %q, statement %d: %v", e.File, e.Line, e.Column, e.Tag, e.Statement.Index+1, e.Err)
}

func (e *MigrationError) Unwrap() error { return e.Err }

// IsLockTimeout reports whether err is PostgreSQL ending a lock wait
// (lock_timeout, or NOWAIT): SQLSTATE 55P03.
func IsLockTimeout(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "55P03"
}
