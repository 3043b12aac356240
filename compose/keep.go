package compose

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Keep is a place on the engine where upshift keeps a deployment's memory,
// reached through the same connection as everything else upshift does
// there (a socket, ssh://, a context, TCP+TLS), needing nothing installed
// or opened on the host and no registry:
//
//   - a named volume (Volume), read and written through the archive API
//     of a container that is created on it and never started (the
//     keeper, named like the volume), made from an image imported from an
//     empty tar (KeepImage): what lasts (a run's history);
//   - journals: volumes that hold nothing, a record in their labels, one
//     made per save (WriteJournal);
//   - locks: containers created under a fixed name, which the engine
//     creates once (a second create of the name is refused with a
//     conflict), their holder in their labels and their lease in a file
//     inside them, renewed through the archive API.
//
// Nothing here ever runs: the containers are created and never started.
type Keep struct {
	c      *client.Client
	Volume string
}

// KeepImage is the image of the keeper and the lock containers: an empty
// filesystem, imported, never pulled.
const KeepImage = "upshift.local/keep:1"

// LabelKeep marks every object of a Keep (its volume's name as value), so
// that `docker ps -a --filter label=io.upshift.keep` lists them.
const LabelKeep = "io.upshift.keep"

// DefaultKeepVolume is the volume upshift keeps state in.
const DefaultKeepVolume = "upshift-state"

// Keep returns the engine's keep in volume ("": DefaultKeepVolume).
func (d *Docker) Keep(volume string) *Keep {
	if volume == "" {
		volume = DefaultKeepVolume
	}
	return &Keep{c: d.c, Volume: volume}
}

// EngineInfo is who the engine is and what its clock says.
type EngineInfo struct {
	ID   string
	Name string
	Time time.Time
}

// Engine returns the engine's identity and time.
func (k *Keep) Engine(ctx context.Context) (EngineInfo, error) {
	res, err := k.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return EngineInfo{}, fmt.Errorf("ask the engine who it is: %w", err)
	}
	info := EngineInfo{ID: res.Info.ID, Name: res.Info.Name}
	info.Time, _ = time.Parse(time.RFC3339Nano, res.Info.SystemTime)
	return info, nil
}

// Prepare makes sure the keep's image, volume and keeper exist (each is
// made once and found after), for a first write: reading a keep that
// was never written finds nothing and makes nothing, so a dry run or a
// history leaves the engine as it was.
func (k *Keep) Prepare(ctx context.Context) error {
	if _, err := k.c.ContainerInspect(ctx, k.Volume, client.ContainerInspectOptions{}); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect the keeper container %s: %w", k.Volume, err)
	}
	if err := k.image(ctx); err != nil {
		return err
	}
	labels := map[string]string{LabelKeep: k.Volume}
	if _, err := k.c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: k.Volume, Labels: labels}); err != nil {
		return fmt.Errorf("create the volume %s: %w", k.Volume, err)
	}
	_, err := k.c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: k.Volume,
		Config:     &container.Config{Image: KeepImage, Cmd: []string{"upshift-keeps-state-here"}, Labels: labels},
		HostConfig: &container.HostConfig{Binds: []string{k.Volume + ":/state"}, NetworkMode: "none"}})
	if err != nil && !cerrdefs.IsConflict(err) && !strings.Contains(err.Error(), "already in use") {
		return fmt.Errorf("create the keeper container %s: %w", k.Volume, err)
	}
	return nil
}

// image imports the empty image once.
func (k *Keep) image(ctx context.Context) error {
	if _, err := k.c.ImageInspect(ctx, KeepImage); err == nil {
		return nil
	}
	var empty bytes.Buffer
	tw := tar.NewWriter(&empty)
	_ = tw.Close()
	ref, tag, _ := strings.Cut(KeepImage, ":")
	rc, err := k.c.ImageImport(ctx, client.ImageImportSource{Source: &empty, SourceName: "-"}, ref,
		client.ImageImportOptions{Tag: tag, Message: "upshift keeps deployment state; nothing in it runs"})
	if err != nil {
		return fmt.Errorf("import the empty image %s: %w", KeepImage, err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// ReadDir returns the regular files under dir (relative to the volume),
// by their path relative to dir; none when dir does not exist.
func (k *Keep) ReadDir(ctx context.Context, dir string) (map[string][]byte, error) {
	return k.read(ctx, k.Volume, path.Join("/state", dir))
}

func (k *Keep) read(ctx context.Context, id, p string) (map[string][]byte, error) {
	res, err := k.c.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: p})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return map[string][]byte{}, nil
		}
		return nil, fmt.Errorf("read %s from %s: %w", p, id, err)
	}
	defer res.Content.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(res.Content)
	base := path.Base(p)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s from %s: %w", p, id, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s from %s: %w", p, id, err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(h.Name, base), "/")
		if rel == "" {
			rel = base
		}
		out[rel] = b
	}
}

// WriteFiles writes files (by path relative to the volume, folders made
// as needed) in one request: files 0600, folders 0700.
func (k *Keep) WriteFiles(ctx context.Context, files map[string][]byte) error {
	return k.write(ctx, k.Volume, "/state", files)
}

func (k *Keep) write(ctx context.Context, id, at string, files map[string][]byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dirs := map[string]bool{}
	for name, b := range files {
		for d := path.Dir(name); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
		_ = b
	}
	for d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o700, ModTime: now}); err != nil {
			return err
		}
	}
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := k.c.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: at, Content: &buf}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("write into %s: %w", id, os.ErrNotExist)
		}
		return fmt.Errorf("write into %s: %w", id, err)
	}
	return nil
}

// LockContainer is a lock as the engine keeps it.
type LockContainer struct {
	ID      string
	Labels  map[string]string
	Created time.Time // the engine's clock
	Lease   []byte    // the lease file, nil before the first renewal
}

// ErrLockGone is a lock container that no longer exists.
var ErrLockGone = errors.New("the lock is gone")

// lockName is the container name of a lock.
func (k *Keep) lockName(name string) string { return k.Volume + "-lock-" + name }

// CreateLock creates the lock name, holding labels, and returns its id;
// ErrLockHeld when it exists.
func (k *Keep) CreateLock(ctx context.Context, name string, labels map[string]string) (string, error) {
	l := map[string]string{LabelKeep: k.Volume}
	for key, v := range labels {
		l[key] = v
	}
	res, err := k.c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: k.lockName(name),
		Config:     &container.Config{Image: KeepImage, Cmd: []string{"upshift-lock"}, Labels: l},
		HostConfig: &container.HostConfig{NetworkMode: "none"}})
	if err != nil {
		if cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already in use") {
			return "", ErrLockHeld
		}
		if cerrdefs.IsNotFound(err) {
			// The image was removed (an image prune): import it again.
			if ierr := k.image(ctx); ierr == nil {
				return k.CreateLock(ctx, name, labels)
			}
		}
		return "", fmt.Errorf("create the lock container %s: %w", k.lockName(name), err)
	}
	return res.ID, nil
}

// Lock reads the lock name (ErrLockGone when there is none).
func (k *Keep) Lock(ctx context.Context, name string) (LockContainer, error) {
	res, err := k.c.ContainerInspect(ctx, k.lockName(name), client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return LockContainer{}, ErrLockGone
		}
		return LockContainer{}, fmt.Errorf("read the lock %s: %w", k.lockName(name), err)
	}
	l := LockContainer{ID: res.Container.ID}
	if res.Container.Config != nil {
		l.Labels = res.Container.Config.Labels
	}
	l.Created, _ = time.Parse(time.RFC3339Nano, res.Container.Created)
	files, err := k.read(ctx, l.ID, "/lease")
	if err != nil {
		return l, err
	}
	l.Lease = files["lease"]
	return l, nil
}

// WriteLease renews the lease of the lock container id (ErrLockGone when
// it no longer exists: another run broke it).
func (k *Keep) WriteLease(ctx context.Context, id string, lease []byte) error {
	err := k.write(ctx, id, "/", map[string][]byte{"lease": lease})
	if errors.Is(err, os.ErrNotExist) {
		return ErrLockGone
	}
	return err
}

// RemoveLock removes the lock container id — that one take of the lock,
// never a later one under the same name.
func (k *Keep) RemoveLock(ctx context.Context, id string) error {
	_, err := k.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove the lock container %s: %w", short(id), err)
	}
	return nil
}

// WriteFileFrom streams one file of size bytes from r into the volume at
// name (relative to it; folders made as needed), 0600: a backup too
// large to hold in memory.
func (k *Keep) WriteFileFrom(ctx context.Context, name string, size int64, r io.Reader) error {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		now := time.Now()
		var dirs []string
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			dirs = append([]string{d}, dirs...)
		}
		for _, d := range dirs {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o700, ModTime: now}); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: size, ModTime: now}); err != nil {
			pw.CloseWithError(err)
			return
		}
		if _, err := io.CopyN(tw, r, size); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(tw.Close())
	}()
	_, err := k.c.CopyToContainer(ctx, k.Volume, client.CopyToContainerOptions{DestinationPath: "/state", Content: pr})
	pr.Close()
	if err != nil {
		return fmt.Errorf("write %s into the volume %s: %w", name, k.Volume, err)
	}
	return nil
}

// Journal entries are volumes that hold nothing: each is one save of the
// journal of a run under way, the record in its labels. A volume is the
// engine's cheapest object to make and remove (a few milliseconds, against
// tens for a write through the archive API, which mounts the keeper's
// filesystem and untars in a chroot), so a journal save costs a run
// almost nothing; a named volume also outlives `docker container prune`
// and, from Engine 23, `docker volume prune`. Volumes are created under a
// name that may already exist without a conflict, so a save takes the
// next number after every entry listed and checks that the volume it got
// holds its own record.
const (
	// LabelJournal names the project (folder) an entry journals.
	LabelJournal = "io.upshift.journal"
	// LabelRecord holds the journaled record.
	LabelRecord = "io.upshift.record"
	labelSeq    = "io.upshift.seq"
)

// JournalEntry is one save of a journal.
type JournalEntry struct {
	Name   string // the volume
	Seq    int
	Record []byte
}

// journalName is the volume of a journal's entry seq.
func (k *Keep) journalName(name string, seq int) string {
	return fmt.Sprintf("%s-run-%s-%d", k.Volume, name, seq)
}

// Journal lists the journal name's entries, oldest first.
func (k *Keep) Journal(ctx context.Context, name string) ([]JournalEntry, error) {
	res, err := k.c.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).
		Add("label", LabelKeep+"="+k.Volume).Add("label", LabelJournal+"="+name)})
	if err != nil {
		return nil, fmt.Errorf("list the journal of %s in %s: %w", name, k.Volume, err)
	}
	var out []JournalEntry
	for _, v := range res.Items {
		e := JournalEntry{Name: v.Name, Record: []byte(v.Labels[LabelRecord])}
		if _, err := fmt.Sscan(v.Labels[labelSeq], &e.Seq); err != nil {
			continue // not a save of upshift's
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b JournalEntry) int { return a.Seq - b.Seq })
	return out, nil
}

// WriteJournal saves record as the journal name's entry seq and returns
// its volume.
func (k *Keep) WriteJournal(ctx context.Context, name string, seq int, record []byte) (string, error) {
	vol := k.journalName(name, seq)
	res, err := k.c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol, Driver: "local", Labels: map[string]string{
		LabelKeep: k.Volume, LabelJournal: name, labelSeq: fmt.Sprint(seq), LabelRecord: string(record)}})
	if err != nil {
		return "", fmt.Errorf("journal the run in the volume %s: %w", vol, err)
	}
	if res.Volume.Labels[LabelRecord] != string(record) {
		return "", fmt.Errorf("journal the run in the volume %s: a volume of that name already exists with other contents; look at it with `docker volume inspect %s`", vol, vol)
	}
	return vol, nil
}

// RemoveJournal removes one entry (the volume vol); one already gone is
// not an error.
func (k *Keep) RemoveJournal(ctx context.Context, vol string) error {
	if _, err := k.c.VolumeRemove(ctx, vol, client.VolumeRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove the journal entry %s: %w", vol, err)
	}
	return nil
}
