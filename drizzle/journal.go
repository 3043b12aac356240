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

// parseJournalFast decodes a journal that json.Unmarshal accepts as it
// stands, with a postgresql-like dialect string and object entries; the
// entries' lines come from a scan that follows strings and nesting. ok is
// false for anything it cannot vouch for, which the careful path then
// reads (and reports).
func parseJournalFast(data []byte) (*journal, bool) {
	var raw struct {
		Version *string     `json:"version"`
		Dialect *string     `json:"dialect"`
		Entries []*rawEntry `json:"entries"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || raw.Dialect == nil {
		return nil, false
	}
	starts, dialectOff, ok := journalOffsets(data)
	if !ok || len(starts) != len(raw.Entries) || dialectOff < 0 {
		return nil, false
	}
	lines := newLineIndex(data)
	j := &journal{Dialect: *raw.Dialect, dialectLine: lines.line(dialectOff)}
	if len(raw.Entries) > 0 {
		j.Entries = make([]journalEntry, 0, len(raw.Entries))
	}
	if raw.Version != nil {
		j.Version = *raw.Version
	}
	for i, r := range raw.Entries {
		if r == nil {
			return nil, false
		}
		e := r.entry()
		e.line = lines.line(starts[i])
		j.Entries = append(j.Entries, *e)
	}
	return j, true
}

// journalOffsets finds where each object of the top-level "entries" array
// starts, and where the top-level "dialect" value starts (-1: none). ok is
// false when either key appears twice.
func journalOffsets(data []byte) (starts []int64, dialect int64, ok bool) {
	dialect = -1
	depth, inStr, esc := 0, false, false
	strStart, lastStr := 0, ""
	key, inEntries, seenEntries := "", false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				lastStr = string(data[strStart:i])
			}
			continue
		}
		switch c {
		case '"':
			inStr, strStart = true, i+1
		case ':':
			if depth == 1 {
				key = lastStr
				if key == "dialect" {
					if dialect >= 0 {
						return nil, -1, false
					}
					dialect = skipSpace(data, int64(i+1))
				}
			}
		case ',':
			if depth == 1 {
				key = ""
			}
		case '{', '[':
			if depth == 2 && inEntries && c == '{' {
				starts = append(starts, int64(i))
			}
			if depth == 1 && c == '[' && key == "entries" {
				if seenEntries {
					return nil, -1, false
				}
				inEntries, seenEntries = true, true
			}
			depth++
		case '}', ']':
			depth--
			if depth == 1 {
				inEntries = false
			}
		}
	}
	return starts, dialect, true
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
