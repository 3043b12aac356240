package main

import (
	_ "embed"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/cliutil"
)

// examplesText ends each command's --help (examples.txt: a command's path,
// its examples indented below it).
//
//go:embed examples.txt
var examplesText string

var examples = cliutil.ParseExamples(examplesText)
