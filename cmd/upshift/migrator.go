//go:build migrator

package main

import "fmt"

// The migrator build (`go build -tags migrator`, `make build-migrator`) is
// the binary of db-setup images and Kubernetes Jobs: it starts on every
// deploy and container start, so it links neither compose-go nor the moby
// client. The orchestrator's commands stay in the tree, so that scripts
// written against the full binary get a clear answer instead of kong's
// "unexpected argument".

type orchestratorOnly struct {
	Args []string `arg:"" optional:"" passthrough:""`
}

func (orchestratorOnly) Run(env *Env) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf("this upshift is the migrator build (made for db-setup images): init, upgrade, rollback, history and backup are in the full build (make build)")}
}

type (
	InitCmd     struct{ orchestratorOnly }
	UpgradeCmd  struct{ orchestratorOnly }
	RollbackCmd struct{ orchestratorOnly }
	HistoryCmd  struct{ orchestratorOnly }
	BackupCmd   struct{ orchestratorOnly }
)
