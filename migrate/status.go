package migrate

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/drizzle"
)

// Status is the state of every migration of a folder in a database:
// read-only, it creates, alters and locks nothing.
type Status struct {
	Shape    drizzle.Shape
	Plan     *drizzle.Plan
	progress map[string]drizzle.Progress
}

// ReadStatus reads the migrations table and upshift's progress table.
func ReadStatus(ctx context.Context, conn *pgx.Conn, src *drizzle.Source, table drizzle.Table) (*Status, error) {
	shape, rows, err := drizzle.ReadTable(ctx, conn, table)
	if err != nil {
		return nil, err
	}
	progress, err := drizzle.ReadProgress(ctx, conn, table)
	if err != nil {
		return nil, err
	}
	return &Status{Shape: shape, Plan: drizzle.NewPlan(src, table, shape, rows), progress: progress}, nil
}

// Partly is how far an earlier run got with a migration that runs outside
// a transaction and failed part way (nil when it did not).
func (s *Status) Partly(e *drizzle.Entry) *drizzle.Progress {
	if e.Migration == nil || e.State == drizzle.StateApplied {
		return nil
	}
	p, ok := s.progress[e.Migration.Tag]
	if !ok {
		return nil
	}
	p.Total = drizzle.StatementCount(e.Migration)
	return &p
}
