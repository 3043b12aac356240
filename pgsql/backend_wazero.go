//go:build !cgo

package pgsql

import (
	"errors"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	wasm "github.com/wasilibs/go-pgquery"
	wasmparser "github.com/wasilibs/go-pgquery/parser"
)

// Backend names the parser build: the same libpg_query compiled to
// WebAssembly and run by wazero, pure Go, for builds without a C compiler
// (darwin releases, `go install` without gcc). It gives the same trees;
// its first parse in a process compiles the module (about 1.8 s on a slow
// machine) and each parse then costs about four times the cgo one.
const Backend = "libpg_query (WebAssembly)"

func parseTree(input string) (*pg_query.ParseResult, error) { return wasm.Parse(input) }

func deparseTree(tree *pg_query.ParseResult) (string, error) { return wasm.Deparse(tree) }

func scan(input string) (*pg_query.ScanResult, error) { return wasm.Scan(input) }

// splitWithScanner splits input where libpg_query's scanner splitter does
// (pg_query_split_with_scanner, which the WebAssembly build does not
// export): at a semicolon outside parentheses that follows a keyword since
// the last split, and at the end of the input. Pieces are substrings of
// input.
func splitWithScanner(input string) ([]string, error) {
	res, err := wasm.Scan(input)
	if err != nil {
		return nil, err
	}
	var out []string
	start, parens, keyword := 0, 0, false
	for _, t := range res.Tokens {
		switch {
		case t.Token == pg_query.Token_SQL_COMMENT || t.Token == pg_query.Token_C_COMMENT:
			continue // the splitter's scanner never sees comments
		case t.KeywordKind != pg_query.KeywordKind_NO_KEYWORD:
			keyword = true
		case t.Token == pg_query.Token_ASCII_40:
			parens++
		case t.Token == pg_query.Token_ASCII_41:
			parens--
		case t.Token == pg_query.Token_ASCII_59 && parens == 0:
			if keyword {
				out = append(out, input[start:t.Start])
				keyword = false
			}
			start = int(t.Start) + 1
		}
	}
	if keyword && parens == 0 {
		out = append(out, input[start:])
	}
	return out, nil
}

// parserError is the parser's message and 1-based character position.
func parserError(err error) (msg string, cursor int, ok bool) {
	var e *wasmparser.Error
	if !errors.As(err, &e) {
		return "", 0, false
	}
	return e.Message, e.Cursorpos, true
}
