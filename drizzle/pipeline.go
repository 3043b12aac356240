package drizzle

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Inside a transaction, a migration's statements are sent as simple-protocol
// Query messages back to back, and their results read in order: one round
// trip for many statements, where psql -1 -f (and drizzle-orm) wait for
// each. Each statement is still its own Query, exactly as node-postgres
// sends drizzle's pieces (several statements in a piece are fine), and the
// first error is attributed to its own statement: the server runs the
// queries in order, and after an error in a transaction block it refuses
// the rest (25P02), so nothing after the failing statement takes effect.

// pipelineLimit bounds the SQL of one round trip.
const pipelineLimit = 256 << 10

// pipeline sends queries and reads their results. It returns when each
// query completed, the transaction status the server reported after
// each, and the index of the first query that failed and its error, or
// -1. A broken connection is reported as failing at the first query not
// known to have completed.
func pipeline(ctx context.Context, pc *pgconn.PgConn, queries []string) ([]time.Time, []byte, int, error) {
	if pc.IsBusy() {
		return nil, nil, 0, errors.New("connection busy")
	}
	status := make([]byte, 0, len(queries))
	times := make([]time.Time, 0, len(queries))
	// Written by a goroutine of its own, read here: a statement that
	// returns rows fills the server's send buffer, and it stops reading
	// queries until it can write, so writing everything first could wait
	// forever on a server that waits for us.
	var buf []byte
	for _, q := range queries {
		buf = append(buf, 'Q', 0, 0, 0, 0)
		binary.BigEndian.PutUint32(buf[len(buf)-4:], uint32(len(q)+5))
		buf = append(buf, q...)
		buf = append(buf, 0)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := pc.Conn().Write(buf)
		wrote <- err
	}()
	// Cancellation as pgx does it: ask the server to cancel the running
	// statement; the transaction refuses the rest.
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = pc.CancelRequest(cctx)
			cancel()
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		watch.Wait()
	}()

	fe := pc.Frontend()
	failed, done := -1, 0
	var first error
	for done < len(queries) {
		msg, err := fe.Receive()
		if err != nil {
			pc.Conn().Close()
			if failed < 0 {
				failed, first = done, fmt.Errorf("connection lost: %w", err)
			}
			break
		}
		switch m := msg.(type) {
		case *pgproto3.ReadyForQuery:
			done++
			times = append(times, time.Now())
			status = append(status, m.TxStatus)
		case *pgproto3.ErrorResponse:
			if failed < 0 {
				failed, first = done, pgconn.ErrorResponseToPgError(m)
			}
		case *pgproto3.CopyInResponse:
			// COPY ... FROM STDIN has no data in a migration.
			fe.Send(&pgproto3.CopyFail{Message: "COPY FROM STDIN has no input in a migration"})
			if err := fe.Flush(); err != nil {
				pc.Conn().Close()
			}
		}
	}
	if err := <-wrote; err != nil && failed < 0 {
		failed, first = done, fmt.Errorf("send statements: %w", err)
	}
	return times, status, failed, first
}
