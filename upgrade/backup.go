package upgrade

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/compose"
	"github.com/upshift-dev/upshift/internal/shell"
	"github.com/upshift-dev/upshift/redact"
)

// StepBackup is the pg_dump taken before anything is stopped or migrated.
const StepBackup = "backup"

// Backup says how to dump the database before an upgrade.
type Backup struct {
	// Dir receives the dumps (created when missing).
	Dir string
	// URL names the database, its user and password (postgres://user:pw@db:5432/app);
	// its host is the database's compose service for a container dump.
	URL string
	// Service is the database's compose service; "" dumps with the host's
	// pg_dump through URL instead.
	Service string
	// OnEngine keeps the dump in the engine's state volume instead of Dir
	// (which then only holds it while it is taken): on a remote engine, a
	// dump on the runner is gone with the runner, and so is the restore
	// note's path.
	OnEngine bool
}

// BackupRecord is a dump that was taken.
type BackupRecord struct {
	File       string `json:"file"`
	SizeBytes  int64  `json:"size_bytes"`
	DurationMS int64  `json:"duration_ms"`
	Via        string `json:"via"`
	Database   string `json:"database"`
	Restore    string `json:"restore"` // the exact command that restores it; upshift never runs it
}

// ResolveBackup fills a backup's URL and service from the project: by
// default the setup service's DATABASE_URL, whose host names the database
// service. Errors are *compose.ProjectError.
func ResolveBackup(p *compose.Project, b Backup, setup string, viaHost bool) (Backup, error) {
	if b.URL == "" && setup != "" {
		if s := p.Services[setup]; s != nil {
			b.URL = s.Env["DATABASE_URL"]
		}
	}
	if b.URL == "" {
		return b, &compose.ProjectError{Msg: "a backup needs the database's URL", Hint: "name it (postgres://user@db:5432/app): the setup service has no DATABASE_URL to take it from", Options: []string{"backup-url"}}
	}
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || strings.Trim(u.Path, "/") == "" {
		return b, &compose.ProjectError{Msg: "the backup URL is not a postgres://user@host/database URL"}
	}
	if viaHost {
		b.Service = ""
		return b, nil
	}
	if b.Service == "" {
		b.Service = u.Hostname()
	}
	if _, ok := p.Services[b.Service]; !ok {
		return b, &compose.ProjectError{Msg: fmt.Sprintf("the database service %q (the backup URL's host) is not defined", b.Service),
			Hint: "name the database's service, or dump with the host's pg_dump", Options: []string{"db-service", "backup-via"}}
	}
	return b, nil
}

// dumpArgs are the pg_dump arguments for u, without its password.
func dumpTarget(b Backup) (user, db, port string) {
	u, _ := url.Parse(b.URL)
	user = u.User.Username()
	if user == "" {
		user = "postgres"
	}
	db = strings.Trim(u.Path, "/")
	port = u.Port()
	if port == "" {
		port = "5432"
	}
	return user, db, port
}

func password(b Backup) string {
	pw, _ := redact.URLPassword(b.URL)
	return pw
}

// backup streams `pg_dump -Fc` into a file of Dir, recording its size,
// duration and restore command. A failed backup leaves no file behind.
func (x *Executor) backup(ctx context.Context, rec *Record, b Backup) error {
	started := x.now()
	user, db, port := dumpTarget(b)
	if err := os.MkdirAll(b.Dir, 0o750); err != nil {
		return fmt.Errorf("backup folder: %w", err)
	}
	// Named by project, the services being upgraded (the database for a
	// backup of its own) and time.
	what := db
	if names := rec.ServiceNames(); len(names) > 0 {
		what = strings.Join(names, "+")
	}
	name := fmt.Sprintf("%s-%s-%s.dump", safe(x.Project.Name), safe(what), x.now().UTC().Format("20060102T150405Z"))
	path := filepath.Join(b.Dir, name)
	tmp := path + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	br := &BackupRecord{File: path, Database: db}
	var runErr error
	var lines []string
	if b.Service != "" {
		br.Via = "pg_dump in the " + b.Service + " container"
		// The password goes through the environment, never argv.
		dump := compose.ExecOptions{Service: b.Service, SecretEnv: []string{"PGPASSWORD=" + password(b)}, Stdout: f,
			Command: []string{"pg_dump", "-Fc", "--no-password", "-h", "127.0.0.1", "-p", port, "-U", user, "-d", db}}
		runErr = x.Compose.Exec(ctx, dump, func(l string) { lines = append(lines, x.redact(l)) })
		br.Restore = x.Compose.Command(compose.ExecOptions{Service: b.Service,
			Command: []string{"pg_restore", "--clean", "--if-exists", "--no-owner", "-h", "127.0.0.1", "-p", port, "-U", user, "-d", db}}) + " < " + shell.Quote(path)
	} else {
		br.Via = "the host's pg_dump"
		u, _ := url.Parse(b.URL)
		u.User = url.User(user)
		cmd := exec.CommandContext(ctx, "pg_dump", "-Fc", "--no-password", "-d", u.String())
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password(b))
		cmd.Stdout = f
		var stderr strings.Builder
		cmd.Stderr = &stderr
		runErr = cmd.Run()
		if stderr.Len() > 0 {
			lines = strings.Split(strings.TrimSpace(x.redact(stderr.String())), "\n")
		}
		br.Restore = shell.Join("pg_restore", "--clean", "--if-exists", "--no-owner", "-d", u.String(), path)
	}
	if err := f.Sync(); err != nil && runErr == nil {
		runErr = err
	}
	f.Close()
	if runErr == nil {
		if st, err := os.Stat(tmp); err != nil || st.Size() == 0 {
			runErr = errors.New("pg_dump wrote nothing")
		}
	}
	if runErr != nil {
		os.Remove(tmp)
		msg := x.redact(runErr.Error())
		if len(lines) > 0 {
			msg += ": " + strings.Join(lines, " / ")
		}
		return fmt.Errorf("backup of database %s (%s) failed, nothing was stopped or changed: %s", db, br.Via, msg)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	st, _ := os.Stat(path)
	br.SizeBytes = st.Size()
	if b.OnEngine {
		if err := x.keepOnEngine(ctx, br, path, b.Service != ""); err != nil {
			return fmt.Errorf("backup of database %s taken, but not kept on the engine (it is in %s on this machine): %w", db, path, err)
		}
	}
	br.DurationMS = x.now().Sub(started).Milliseconds()
	rec.Backup = br
	x.emit(Event{Kind: EventOutput, Step: StepBackup, Source: "backup", Text: fmt.Sprintf("%s: %d bytes in %s", path, br.SizeBytes, time.Duration(br.DurationMS)*time.Millisecond)})
	return nil
}

// keepOnEngine moves a dump into the engine's state volume, where it
// outlives the runner, and rewrites the record's file and restore command
// to read it from there (docker cp streams it out as a tar).
func (x *Executor) keepOnEngine(ctx context.Context, br *BackupRecord, path string, inContainer bool) error {
	es, ok := x.Store.(*EngineStore)
	if !ok {
		return errors.New("the state is not kept on the engine (--state local)")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	name := "backups/" + es.dir() + "/" + filepath.Base(path)
	if err := es.prepare(ctx); err != nil {
		return err
	}
	if err := es.Keep.WriteFileFrom(ctx, name, br.SizeBytes, f); err != nil {
		return err
	}
	os.Remove(path)
	docker := "docker"
	if c, ok := x.Compose.(*compose.CLI); ok && c.Context != "" {
		docker += " --context " + shell.Quote(c.Context)
	}
	at := es.Keep.Volume + ":/state/" + name
	br.File = at + " (the engine's volume " + es.Keep.Volume + ")"
	restore := br.Restore
	if inContainer {
		restore = strings.TrimSuffix(restore, " < "+shell.Quote(path))
	} else {
		restore = strings.TrimSuffix(restore, " "+shell.Quote(path)) // pg_restore reads stdin
	}
	br.Restore = docker + " cp " + shell.Quote(at) + " - | tar -xO | " + restore
	return nil
}

func safe(s string) string {
	return strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// BackupOnly runs a backup as a run of its own (`upshift backup`), under
// the deploy lock, recorded in the history.
func (x *Executor) BackupOnly(ctx context.Context, b Backup) (*Record, error) {
	rec, _, release, err := x.open(ctx, &composeRun{x: x}, KindBackup, runSpec{})
	if err != nil {
		return rec, err
	}
	defer release()
	st := Step{Name: StepBackup, What: "pg_dump -Fc of the database into " + b.Dir,
		run: func(ctx context.Context) error { return x.backup(ctx, rec, b) }}
	if err := x.runStep(ctx, &composeRun{x: x}, rec, st, ""); err != nil {
		return x.ended(rec, Failed, err)
	}
	rec.Outcome = Succeeded
	x.finish(rec, nil)
	return rec, nil
}
