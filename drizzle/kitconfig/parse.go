package kitconfig

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tPunct tokKind = iota
	tIdent
	tString   // a string literal, or a template without ${…}; text is its value
	tTemplate // a template with ${…}; text is its source
	tNumber
)

type token struct {
	kind tokKind
	text string
	line int
	// off and end are the token's place in the source, for quoting an
	// expression as the file wrote it.
	off, end int
}

type scanError struct {
	line int
	msg  string
}

func (e *scanError) Error() string { return e.msg }

// scan splits JavaScript/TypeScript source into the tokens an object
// literal needs. Regular-expression literals are not recognised: a config
// file has none where it matters.
func scan(src string) ([]token, error) {
	var out []token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, &scanError{line, "a /* comment is not closed"}
			}
			line += strings.Count(src[i:i+2+end+2], "\n")
			i += 2 + end + 2
		case c == '"' || c == '\'' || c == '`':
			start, startLine := i, line
			var b strings.Builder
			hasSubst := false
			i++
			for {
				if i >= len(src) {
					return nil, &scanError{startLine, "a string is not closed"}
				}
				ch := src[i]
				if ch == c {
					i++
					break
				}
				if ch == '\n' {
					if c != '`' {
						return nil, &scanError{startLine, "a string runs past the end of its line"}
					}
					line++
				}
				if c == '`' && ch == '$' && i+1 < len(src) && src[i+1] == '{' {
					hasSubst = true
				}
				if ch == '\\' && i+1 < len(src) {
					i++
					switch src[i] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case '\n':
						line++
					default:
						b.WriteByte(src[i])
					}
					i++
					continue
				}
				b.WriteByte(ch)
				i++
			}
			t := token{kind: tString, text: b.String(), line: startLine, off: start, end: i}
			if hasSubst {
				t.kind, t.text = tTemplate, src[start:i]
			}
			out = append(out, t)
		case isIdentStart(c):
			start := i
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			out = append(out, token{kind: tIdent, text: src[start:i], line: line, off: start, end: i})
		case c >= '0' && c <= '9':
			start := i
			for i < len(src) && (isIdentPart(src[i]) || src[i] == '.') {
				i++
			}
			out = append(out, token{kind: tNumber, text: src[start:i], line: line, off: start, end: i})
		default:
			n := 1
			for _, op := range []string{"...", "??", "?.", "||", "&&", "=>", "==", "!="} {
				if strings.HasPrefix(src[i:], op) {
					n = len(op)
					break
				}
			}
			out = append(out, token{kind: tPunct, text: src[i : i+n], line: line, off: i, end: i + n})
			i += n
		}
	}
	return out, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// object is an object literal's keys and values, in order.
type object struct {
	keys []string
	vals map[string]node
	line int
}

// node is a parsed value: an object literal, or an expression's tokens.
type node struct {
	obj  *object
	toks []token
	src  string
	line int
}

func (o *object) object(key string) *object {
	if o == nil {
		return nil
	}
	return o.vals[key].obj
}

// value turns the expression at key into a Value.
func (o *object) value(key string) Value {
	if o == nil {
		return Value{}
	}
	n, ok := o.vals[key]
	if !ok {
		return Value{}
	}
	v := Value{Set: true, Line: n.line}
	if n.obj != nil {
		v.Computed = "an object"
		return v
	}
	toks := n.toks
	// TypeScript's non-null assertion and casts say nothing of the value.
	for len(toks) > 0 && toks[len(toks)-1].text == "!" {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 1 && toks[0].kind == tString {
		v.Literal, v.HasLiteral = toks[0].text, true
		return v
	}
	if name, rest, ok := envRef(toks); ok {
		v.Env = name
		switch {
		case len(rest) == 0:
			return v
		case len(rest) == 2 && (rest[0].text == "??" || rest[0].text == "||") && rest[1].kind == tString:
			v.Literal, v.HasLiteral = rest[1].text, true
			return v
		}
		v.Env = ""
	}
	v.Computed = n.src
	return v
}

// envRef recognises process.env.NAME, process.env["NAME"] and
// process.env?.NAME (with a trailing !), returning the tokens after it.
func envRef(toks []token) (string, []token, bool) {
	if len(toks) < 4 || toks[0].text != "process" || (toks[1].text != "." && toks[1].text != "?.") || toks[2].text != "env" {
		return "", nil, false
	}
	rest := toks[3:]
	var name string
	switch {
	case len(rest) >= 2 && (rest[0].text == "." || rest[0].text == "?.") && rest[1].kind == tIdent:
		name, rest = rest[1].text, rest[2:]
	case len(rest) >= 3 && rest[0].text == "[" && rest[1].kind == tString && rest[2].text == "]":
		name, rest = rest[1].text, rest[3:]
	default:
		return "", nil, false
	}
	for len(rest) > 0 && rest[0].text == "!" {
		rest = rest[1:]
	}
	return name, rest, true
}

type parser struct {
	toks []token
	path string
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &Error{Path: p.path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// exported finds the configuration object: `export default {…}`,
// `export default defineConfig({…})`, `export default NAME` with a
// `const NAME = …` of either form, `module.exports = …`, or (JSON) the
// whole file.
func (p *parser) exported(json bool) (*object, error) {
	if json {
		if len(p.toks) == 0 || p.toks[0].text != "{" {
			return nil, p.errorf(1, "a JSON config must be one object")
		}
		o, _, err := p.objectAt(0)
		return o, err
	}
	for i := 0; i < len(p.toks); i++ {
		t := p.toks[i]
		var at int
		switch {
		case t.text == "export" && i+1 < len(p.toks) && p.toks[i+1].text == "default":
			at = i + 2
		case t.text == "module" && i+3 < len(p.toks) && p.toks[i+1].text == "." && p.toks[i+2].text == "exports" && p.toks[i+3].text == "=":
			at = i + 4
		default:
			continue
		}
		return p.configAt(at, 0)
	}
	return nil, p.errorf(0, "no `export default` (or `module.exports =`) of the configuration found; upshift reads the object the file exports without running it")
}

// configAt reads the configuration expression at token i: an object, a
// defineConfig({…}) call, or a name bound to one of those.
func (p *parser) configAt(i, depth int) (*object, error) {
	if i >= len(p.toks) {
		return nil, p.errorf(0, "the file ends after `export default`")
	}
	t := p.toks[i]
	switch {
	case t.text == "{":
		o, _, err := p.objectAt(i)
		return o, err
	case t.kind == tIdent && i+2 < len(p.toks) && p.toks[i+1].text == "(" && p.toks[i+2].text == "{":
		o, _, err := p.objectAt(i + 2)
		return o, err
	case t.kind == tIdent && depth < 3:
		for j := 0; j+2 < len(p.toks); j++ {
			if (p.toks[j].text == "const" || p.toks[j].text == "let" || p.toks[j].text == "var") && p.toks[j+1].text == t.text {
				k := j + 2
				if p.toks[k].text == ":" { // const config: Config = …
					for k < len(p.toks) && p.toks[k].text != "=" {
						k++
					}
				}
				if k < len(p.toks) && p.toks[k].text == "=" {
					return p.configAt(k+1, depth+1)
				}
			}
		}
	}
	return nil, p.errorf(t.line, "the exported configuration is computed (%s); upshift reads an object literal without running the file", t.text)
}

// objectAt parses the object literal whose "{" is token i; it returns the
// index after its "}".
func (p *parser) objectAt(i int) (*object, int, error) {
	o := &object{vals: map[string]node{}, line: p.toks[i].line}
	i++
	for i < len(p.toks) {
		t := p.toks[i]
		switch {
		case t.text == "}":
			return o, i + 1, nil
		case t.text == ",":
			i++
			continue
		case t.text == "...":
			// A spread: whatever it holds is computed.
			_, next := p.exprEnd(i + 1)
			i = next
			continue
		}
		var key string
		switch t.kind {
		case tIdent, tString, tNumber:
			key = t.text
		default:
			if t.text == "[" { // a computed key
				_, next := p.exprEnd(i)
				i = next
				continue
			}
			return nil, 0, p.errorf(t.line, "unexpected %q in an object literal", t.text)
		}
		i++
		if i >= len(p.toks) {
			break
		}
		switch p.toks[i].text {
		case ",", "}": // shorthand: { dbCredentials }
			o.add(key, node{toks: []token{t}, src: t.text, line: t.line})
			continue
		case "(": // a method
			_, next := p.exprEnd(i)
			i = next
			continue
		case ":":
			i++
		default:
			return nil, 0, p.errorf(p.toks[i].line, "unexpected %q after the key %s", p.toks[i].text, key)
		}
		if i < len(p.toks) && p.toks[i].text == "{" {
			sub, next, err := p.objectAt(i)
			if err != nil {
				return nil, 0, err
			}
			// `{…} as X` / `satisfies X` keep the object.
			_, next = p.exprEnd(next)
			o.add(key, node{obj: sub, line: t.line})
			i = next
			continue
		}
		start := i
		end, next := p.exprEnd(i)
		toks := p.toks[start:end]
		src := ""
		if len(toks) > 0 {
			src = p.source(toks)
		}
		o.add(key, node{toks: stripCasts(toks), src: src, line: t.line})
		i = next
	}
	return nil, 0, p.errorf(o.line, "an object literal is not closed")
}

func (o *object) add(key string, n node) {
	if _, dup := o.vals[key]; !dup {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = n
}

// exprEnd finds where the expression at token i ends: at a "," or a
// closing bracket at its own depth. It returns that index and the index
// to continue from.
func (p *parser) exprEnd(i int) (int, int) {
	depth := 0
	for j := i; j < len(p.toks); j++ {
		switch p.toks[j].text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			if depth == 0 {
				return j, j
			}
			depth--
		case ",":
			if depth == 0 {
				return j, j + 1
			}
		}
	}
	return len(p.toks), len(p.toks)
}

// stripCasts drops a trailing `as T` or `satisfies T`.
func stripCasts(toks []token) []token {
	for k, t := range toks {
		if t.kind == tIdent && (t.text == "as" || t.text == "satisfies") && k > 0 {
			return toks[:k]
		}
	}
	return toks
}

// source is the expression as the tokens spell it, on one line.
func (p *parser) source(toks []token) string {
	var b strings.Builder
	for k, t := range toks {
		if k > 0 && needsSpace(toks[k-1], t) {
			b.WriteByte(' ')
		}
		switch t.kind {
		case tString:
			b.WriteString(fmt.Sprintf("%q", t.text))
		default:
			b.WriteString(t.text)
		}
	}
	s := b.String()
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func needsSpace(a, b token) bool {
	word := func(t token) bool { return t.kind != tPunct }
	if word(a) && word(b) {
		return true
	}
	switch b.text {
	case "??", "||", "&&", "=>", "==", "!=":
		return true
	}
	switch a.text {
	case "??", "||", "&&", "=>", "==", "!=", ",", ":":
		return true
	}
	return false
}
