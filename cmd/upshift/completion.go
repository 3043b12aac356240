package main

import (
	"github.com/alecthomas/kong"

	"github.com/upshift-dev/upshift/cmd/upshift/internal/completion"
)

// CompletionCmd prints a shell completion script.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

func (c *CompletionCmd) Run(kctx *kong.Context, env *Env) error {
	return completion.Write(env.Stdout, c.Shell, "upshift", kctx.Model.Node)
}
