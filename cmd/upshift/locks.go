package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/upshift-dev/upshift/drizzle"
	"github.com/upshift-dev/upshift/lockids"
	"github.com/upshift-dev/upshift/pglock"
)

// LockidsCmd prints the lock registry and derived ids.
type LockidsCmd struct {
	OutputFlags
	Names []string `arg:"" optional:"" name:"service" help:"Services to show the lock id of."`
}

func (c *LockidsCmd) Run(env *Env) error {
	rows, err := lockids.List(c.Names)
	if err != nil {
		return usage(err, "lockids takes service names")
	}
	if c.JSON() {
		return writeJSON(env.Stdout, rows)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tLOCK ID\tSOURCE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", r.Service, r.ID, r.Source)
	}
	return tw.Flush()
}

// LocksCmd lists advisory locks with their holders.
type LocksCmd struct {
	DBFlags
	OutputFlags
}

func (c *LocksCmd) Run(ctx context.Context, env *Env) error {
	conn, cfg, err := c.Connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	rows, err := drizzle.LockHolders(ctx, conn)
	if err != nil {
		return redactErr(cfg.Redactor(), err)
	}
	if c.JSON() {
		return writeJSON(env.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(env.Stdout, "no advisory locks are held in this database")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCK ID\tSERVICE\tGRANTED\tPID\tAPPLICATION\tCLIENT\tCONNECTED SINCE\tSTATE")
	for _, r := range rows {
		since := "-"
		if r.BackendStart != nil {
			since = r.BackendStart.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%v\t%d\t%s\t%s\t%s\t%s\n", r.LockID, orDash(r.Service), r.Granted, r.PID, orDash(r.ApplicationName), r.ClientAddr, since, r.State)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Activity != nil {
			fmt.Fprintf(env.Stdout, "\npid %d: %s\n", r.PID, r.Activity.String())
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// UnlockCmd shows, and with --force ends, the session holding a lock.
type UnlockCmd struct {
	DBFlags
	TableFlags
	OutputFlags
	LockID *int64 `name:"lock-id" placeholder:"N" help:"Lock id instead of the service's."`
	Force  bool   `name:"force" help:"Terminate the holding session (pg_terminate_backend); its transaction rolls back."`
}

func (c *UnlockCmd) Run(ctx context.Context, env *Env) error {
	if _, err := resolveSettings(env, nil, &c.TableFlags, &c.DBFlags, c.JSON()); err != nil {
		return err
	}
	id, _ := lockID(&LockFlags{LockID: c.LockID}, c.Service, c.Table())
	conn, cfg, err := c.Connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	held, err := pglock.Held(ctx, conn, id)
	if err != nil {
		return redactErr(cfg.Redactor(), err)
	}
	doc := struct {
		LockID     lockids.ID      `json:"lock_id"`
		Held       bool            `json:"held"`
		Holders    []pglock.Holder `json:"holders"`
		Terminated []int           `json:"terminated"`
	}{LockID: id, Held: len(held) > 0, Holders: held, Terminated: []int{}}
	say := func(format string, args ...any) {
		if !c.JSON() {
			fmt.Fprintf(env.Stdout, format+"\n", args...)
		}
	}
	done := func(err error) error {
		if c.JSON() && err == nil {
			return writeJSON(env.Stdout, doc)
		}
		return err
	}
	if len(held) == 0 {
		say("advisory lock %d is not held", id)
		return done(nil)
	}
	for _, h := range held {
		say("advisory lock %d is held by %s", id, h)
		if h.Query != "" {
			say("  last query: %s", h.LastQuery())
		}
	}
	if !c.Force {
		say("pg_advisory_unlock from another session cannot release it; rerun with --force to end that session (pg_terminate_backend), which rolls back its open transaction")
		return done(nil)
	}
	for _, h := range held {
		if err := pglock.Terminate(ctx, conn, h.PID); err != nil {
			return redactErr(cfg.Redactor(), err)
		}
		doc.Terminated = append(doc.Terminated, h.PID)
		say("terminated pid %d; the lock is released", h.PID)
	}
	return done(nil)
}
