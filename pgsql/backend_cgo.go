//go:build cgo

package pgsql

import (
	"errors"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// Backend names the parser build: libpg_query linked in with cgo. Release
// builds for Linux use it (static); see backend_wasm.go for the other.
const Backend = "libpg_query (cgo)"

func parseTree(input string) (*pg_query.ParseResult, error) { return pg_query.Parse(input) }

func deparseTree(tree *pg_query.ParseResult) (string, error) { return pg_query.Deparse(tree) }

func scan(input string) (*pg_query.ScanResult, error) { return pg_query.Scan(input) }

// splitWithScanner returns the statements of input as substrings of it.
func splitWithScanner(input string) ([]string, error) {
	return pg_query.SplitWithScanner(input, false)
}

// parserError is the parser's message and 1-based character position.
func parserError(err error) (msg string, cursor int, ok bool) {
	var e *parser.Error
	if !errors.As(err, &e) {
		return "", 0, false
	}
	return e.Message, e.Cursorpos, true
}
