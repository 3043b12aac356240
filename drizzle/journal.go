package drizzle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// journal is meta/_journal.json as drizzle-kit writes it.
type journal struct {
	Version     string
	Dialect     string
	dialectLine int
	Entries     []journalEntry
}

type journalEntry struct {
	Idx         *int
	When        int64
	hasWhen     bool
	Tag         string
	Breakpoints bool
	line        int
}

// journalError carries a byte offset so the caller can report line:column.
type journalError struct {
	offset int64
	msg    string
	hint   string
}

func (e *journalError) Error() string { return e.msg }

const journalHint = "the journal is written by drizzle-kit; restore it from version control or fix the JSON by hand"

// parseJournal reads the journal. A well-formed one is decoded in one pass
// (it is read on every deploy); anything else is decoded token by token,
// so that every error is tied to a line of the file.
func parseJournal(data []byte) (*journal, error) {
	if j, ok := parseJournalFast(data); ok {
		return j, nil
	}
	return parseJournalCareful(data)
}

// parseJournalFast decodes, in one pass and without reflection, a journal
// of the shape drizzle-kit writes: an object whose "version" and "dialect"
// are plain strings and whose "entries" are objects of plain strings,
// integers and booleans. ok is false for anything else — escapes,
// non-ASCII text, null, a repeated key, malformed JSON — which the careful
// path then reads (and reports).
func parseJournalFast(data []byte) (*journal, bool) {
	s := &jscan{data: data, line: 1}
	j := &journal{}
	var seenVersion, seenDialect, seenEntries bool
	s.ws()
	if !s.eat('{') {
		return nil, false
	}
	s.ws()
	if !s.eat('}') {
		for {
			key, ok := s.plain()
			if !ok {
				return nil, false
			}
			s.ws()
			if !s.eat(':') {
				return nil, false
			}
			s.ws()
			switch string(key) {
			case "version", "dialect":
				line := s.line
				v, ok := s.plainString()
				if !ok {
					return nil, false
				}
				if key[0] == 'v' {
					if seenVersion {
						return nil, false
					}
					seenVersion, j.Version = true, v
				} else {
					if seenDialect {
						return nil, false
					}
					seenDialect, j.Dialect, j.dialectLine = true, v, line
				}
			case "entries":
				if seenEntries || !s.entries(j) {
					return nil, false
				}
				seenEntries = true
			default:
				if !s.skipValue(0) {
					return nil, false
				}
			}
			s.ws()
			if s.eat('}') {
				break
			}
			if !s.eat(',') {
				return nil, false
			}
			s.ws()
		}
	}
	s.ws()
	return j, seenDialect && s.i == len(data)
}

// jscan is a cursor over JSON text. Newlines can only stand between
// tokens, so counting them while skipping white space gives each token's
// line.
type jscan struct {
	data []byte
	i    int
	line int
}

func (s *jscan) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '\n':
			s.line++
		case ' ', '\t', '\r':
		default:
			return
		}
		s.i++
	}
}

func (s *jscan) eat(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plain reads a string of printable ASCII without escapes, which decodes
// to its own bytes.
func (s *jscan) plain() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			return s.data[start : s.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

func (s *jscan) plainString() (string, bool) {
	b, ok := s.plain()
	return string(b), ok
}

// integer reads a JSON number written as a whole number that fits int64.
func (s *jscan) integer() (int64, bool) {
	neg := s.eat('-')
	digits := s.i
	var n uint64
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		if n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(s.data[s.i]-'0')
		s.i++
	}
	switch {
	case s.i == digits, s.i-digits > 1 && s.data[digits] == '0':
		return 0, false
	case s.i < len(s.data) && (s.data[s.i] == '.' || s.data[s.i] == 'e' || s.data[s.i] == 'E'):
		return 0, false
	case neg && n > 1<<63, !neg && n > 1<<63-1:
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

func (s *jscan) literal(word string) bool {
	if len(s.data)-s.i >= len(word) && string(s.data[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// entries reads the "entries" array.
func (s *jscan) entries(j *journal) bool {
	if !s.eat('[') {
		return false
	}
	s.ws()
	if s.eat(']') {
		return true
	}
	// One allocation for every entry's idx.
	idxs := make([]int, 0, 64)
	for {
		line := s.line
		if !s.eat('{') {
			return false
		}
		e := journalEntry{line: line}
		var seen [4]bool
		s.ws()
		if !s.eat('}') {
			for {
				key, ok := s.plain()
				if !ok {
					return false
				}
				s.ws()
				if !s.eat(':') {
					return false
				}
				s.ws()
				field := -1
				switch string(key) {
				case "idx":
					field = 0
				case "when":
					field = 1
				case "tag":
					field = 2
				case "breakpoints":
					field = 3
				default:
					for _, name := range [...]string{"idx", "when", "tag", "breakpoints"} {
						if bytes.EqualFold(key, []byte(name)) {
							return false // a field by another case: the careful path decides
						}
					}
				}
				if field >= 0 {
					if seen[field] {
						return false
					}
					seen[field] = true
				}
				switch field {
				case 0:
					n, ok := s.integer()
					if !ok || int64(int(n)) != n {
						return false
					}
					if len(idxs) == cap(idxs) {
						idxs = make([]int, 0, 2*cap(idxs))
					}
					idxs = append(idxs, int(n))
					e.Idx = &idxs[len(idxs)-1]
				case 1:
					n, ok := s.integer()
					if !ok {
						return false
					}
					e.When, e.hasWhen = n, true
				case 2:
					if e.Tag, ok = s.plainString(); !ok {
						return false
					}
				case 3:
					switch {
					case s.literal("true"):
						e.Breakpoints = true
					case s.literal("false"):
					default:
						return false
					}
				default:
					if !s.skipValue(0) {
						return false
					}
				}
				s.ws()
				if s.eat('}') {
					break
				}
				if !s.eat(',') {
					return false
				}
				s.ws()
			}
		}
		j.Entries = append(j.Entries, e)
		s.ws()
		if s.eat(']') {
			return true
		}
		if !s.eat(',') {
			return false
		}
		s.ws()
	}
}

// skipValue steps over any well-formed JSON value.
func (s *jscan) skipValue(depth int) bool {
	if depth > 500 || s.i >= len(s.data) {
		return false
	}
	switch c := s.data[s.i]; {
	case c == '"':
		return s.skipString()
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		s.i++
		s.ws()
		if s.eat(end) {
			return true
		}
		for {
			if c == '{' {
				if !s.skipString() {
					return false
				}
				s.ws()
				if !s.eat(':') {
					return false
				}
				s.ws()
			}
			if !s.skipValue(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(end) {
				return true
			}
			if !s.eat(',') {
				return false
			}
			s.ws()
		}
	case c == '-' || c >= '0' && c <= '9':
		return s.skipNumber()
	}
	return s.literal("true") || s.literal("false") || s.literal("null")
}

func (s *jscan) skipString() bool {
	if !s.eat('"') {
		return false
	}
	for s.i < len(s.data) {
		c := s.data[s.i]
		s.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i >= len(s.data) {
				return false
			}
			e := s.data[s.i]
			s.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(s.data)-s.i < 4 {
					return false
				}
				for _, h := range s.data[s.i : s.i+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				s.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func (s *jscan) skipNumber() bool {
	s.eat('-')
	digits := func() int {
		n := 0
		for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.eat('0') {
		if s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
			return false
		}
	} else if digits() == 0 {
		return false
	}
	if s.eat('.') && digits() == 0 {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// parseJournalCareful decodes the journal token by token so that every
// entry, and every error, can be tied to a line of the file.
func parseJournalCareful(data []byte) (*journal, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	lines := newLineIndex(data)
	j := &journal{}
	wrap := func(err error) error {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var je *journalError
		switch {
		case errors.As(err, &je):
			return je
		case errors.As(err, &se):
			return &journalError{offset: se.Offset, msg: "malformed JSON: " + se.Error(), hint: journalHint}
		case errors.As(err, &te):
			return &journalError{offset: te.Offset, msg: fmt.Sprintf("field %q must be a %s, not a JSON %s", te.Field, te.Type, te.Value), hint: journalHint}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return &journalError{offset: int64(len(data)), msg: "malformed JSON: the file ends too early", hint: journalHint}
		}
		return &journalError{offset: dec.InputOffset(), msg: "malformed JSON: " + err.Error(), hint: journalHint}
	}
	expect := func(want json.Delim, what string) error {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return wrap(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != want {
			return &journalError{offset: skipSpace(data, off), msg: fmt.Sprintf("%s must be a JSON %s", what, map[json.Delim]string{'{': "object", '[': "array"}[want]), hint: journalHint}
		}
		return nil
	}
	if err := expect('{', "the journal"); err != nil {
		return nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, wrap(err)
		}
		key, _ := tok.(string)
		valOff := skipSpace(data, dec.InputOffset())
		switch key {
		case "dialect", "version":
			var s string
			if err := dec.Decode(&s); err != nil {
				return nil, wrap(err)
			}
			if key == "dialect" {
				j.Dialect = s
				j.dialectLine = lines.line(valOff)
			} else {
				j.Version = s
			}
		case "entries":
			if bytes.HasPrefix(data[valOff:], []byte("null")) {
				var skip json.RawMessage
				_ = dec.Decode(&skip)
				continue
			}
			if err := expect('[', "\"entries\""); err != nil {
				return nil, err
			}
			for dec.More() {
				start := skipSpace(data, dec.InputOffset())
				e, err := decodeEntry(dec, start)
				if err != nil {
					return nil, wrap(err)
				}
				if e == nil {
					return nil, &journalError{offset: start, msg: "each journal entry must be a JSON object", hint: journalHint}
				}
				e.line = lines.line(start)
				j.Entries = append(j.Entries, *e)
			}
			if _, err := dec.Token(); err != nil {
				return nil, wrap(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, wrap(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, wrap(err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, wrap(err)
		}
		return nil, &journalError{offset: dec.InputOffset(), msg: fmt.Sprintf("unexpected %v after the end of the journal", tok), hint: journalHint}
	}
	return j, nil
}

// rawEntry is one journal entry as typed JSON: a wrong type is a
// json.UnmarshalTypeError naming the field.
type rawEntry struct {
	Idx         *int    `json:"idx"`
	When        *int64  `json:"when"`
	Tag         *string `json:"tag"`
	Breakpoints *bool   `json:"breakpoints"`
}

func decodeEntry(dec *json.Decoder, start int64) (*journalEntry, error) {
	var raw *rawEntry
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			want := map[string]string{"idx": "a whole number", "when": "a whole number of milliseconds", "tag": "a string", "breakpoints": "true or false"}[te.Field]
			if want == "" {
				return nil, nil
			}
			return nil, &journalError{offset: start, msg: fmt.Sprintf("entry field %q must be %s, not a JSON %s", te.Field, want, te.Value), hint: journalHint}
		}
		return nil, err
	}
	if raw == nil {
		return nil, nil
	}
	return raw.entry(), nil
}

// entry is the decoded entry; absent fields stay zero (hasWhen says
// whether "when" was there).
func (r *rawEntry) entry() *journalEntry {
	e := &journalEntry{Idx: r.Idx}
	if r.Tag != nil {
		e.Tag = *r.Tag
	}
	if r.Breakpoints != nil {
		e.Breakpoints = *r.Breakpoints
	}
	if r.When != nil {
		e.When, e.hasWhen = *r.When, true
	}
	return e
}

func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}
