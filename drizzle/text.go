package drizzle

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Breakpoint is the marker drizzle-kit writes between statements.
const Breakpoint = "--> statement-breakpoint"

// DecodeText turns a migration file's bytes into the text drizzle-orm works
// with. drizzle-orm reads files with Node's Buffer.toString(), which decodes
// UTF-8 the WHATWG way: the BOM is kept, and each maximal invalid subsequence
// becomes one U+FFFD. Go's own decoders replace per byte or per run, which
// would give a different hash for the same file, so the WHATWG algorithm is
// reproduced here.
func DecodeText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return decodeWHATWG(b)
}

// OwnText is DecodeText for a buffer the caller hands over: valid UTF-8
// becomes the text without a copy (a 50 MB data migration is not held
// twice), so b must not be changed afterwards.
func OwnText(b []byte) string {
	if utf8.Valid(b) {
		if len(b) == 0 {
			return ""
		}
		return unsafe.String(&b[0], len(b))
	}
	return decodeWHATWG(b)
}

func decodeWHATWG(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	var (
		cp, needed, seen int
		lower, upper     byte = 0x80, 0xBF
	)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if needed == 0 {
			switch {
			case c <= 0x7F:
				sb.WriteByte(c)
			case c >= 0xC2 && c <= 0xDF:
				needed, cp = 1, int(c&0x1F)
			case c >= 0xE0 && c <= 0xEF:
				if c == 0xE0 {
					lower = 0xA0
				}
				if c == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, int(c&0x0F)
			case c >= 0xF0 && c <= 0xF4:
				if c == 0xF0 {
					lower = 0x90
				}
				if c == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, int(c&0x07)
			default:
				sb.WriteRune(utf8.RuneError)
			}
			continue
		}
		if c < lower || c > upper {
			cp, needed, seen = 0, 0, 0
			lower, upper = 0x80, 0xBF
			sb.WriteRune(utf8.RuneError)
			i-- // the byte starts over as the first of a new sequence
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | int(c&0x3F)
		seen++
		if seen == needed {
			sb.WriteRune(rune(cp))
			cp, needed, seen = 0, 0, 0
		}
	}
	if needed != 0 {
		sb.WriteRune(utf8.RuneError)
	}
	return sb.String()
}

// Hash is the value drizzle-orm stores in __drizzle_migrations.hash: the hex
// SHA-256 of the decoded text, encoded again as UTF-8.
func Hash(text string) string { return hashBytes([]byte(text)) }

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Statement is one piece of a migration between breakpoints.
type Statement struct {
	// Index is the 0-based position among the migration's pieces.
	Index int `json:"index"`
	// SQL is the piece exactly as drizzle-orm sends it.
	SQL string `json:"sql"`
	// Offset is the byte offset of SQL within the migration text.
	Offset int `json:"-"`
	// Line and Column (1-based) locate the first character that is not
	// white space, which is where an editor should jump to.
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Blank reports whether the piece holds nothing but white space, as the tail
// after a final breakpoint does; such pieces are not sent to the server.
func (s Statement) Blank() bool { return strings.TrimSpace(s.SQL) == "" }

// Split cuts a migration's text on breakpoints exactly as drizzle-orm does
// (text.split("--> statement-breakpoint"), nothing trimmed or dropped) and
// records where each piece starts.
func Split(text string) []Statement {
	parts := strings.Split(text, Breakpoint)
	out := make([]Statement, 0, len(parts))
	off, line, col := 0, 1, 1
	for i, p := range parts {
		// Position of the first non-space character of the piece.
		l, c := line, col
		for j := 0; j < len(p); j++ {
			ch := p[j]
			if ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v' {
				c++
				continue
			}
			if ch == '\n' {
				l, c = l+1, 1
				continue
			}
			break
		}
		out = append(out, Statement{Index: i, SQL: p, Offset: off, Line: l, Column: c})
		// Advance line/col over the piece and the breakpoint that follows.
		line, col = advance(line, col, p)
		off += len(p)
		if i < len(parts)-1 {
			line, col = advance(line, col, Breakpoint)
			off += len(Breakpoint)
		}
	}
	return out
}

func advance(line, col int, s string) (int, int) {
	if n := strings.Count(s, "\n"); n > 0 {
		return line + n, utf8.RuneCountInString(s[strings.LastIndexByte(s, '\n')+1:]) + 1
	}
	return line, col + utf8.RuneCountInString(s)
}

// LineCol returns the 1-based line and column (in characters) of a byte
// offset within text.
func LineCol(text string, off int) (line, col int) {
	if off > len(text) {
		off = len(text)
	}
	return advance(1, 1, text[:off])
}
