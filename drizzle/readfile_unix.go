//go:build unix

package drizzle

import (
	"errors"
	"io/fs"
	"sync"

	"golang.org/x/sys/unix"
)

// readBufs are the buffers files are first read into: an array on the
// stack would be zeroed for every one of a thousand files.
var readBufs = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// plainDir is the migrations folder, opened once: each file is opened
// relative to it, so its path is not looked up again a thousand times.
type plainDir struct {
	fd int
	// shortIsEOF: the folder's file system ends a read of a regular file
	// early only at the end of the file, so a short read needs no second
	// read to confirm it: 500 fewer system calls for 500 migrations.
	shortIsEOF bool
}

func openPlainDir(path string) *plainDir {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &plainDir{fd: -1}
	}
	return &plainDir{fd: fd, shortIsEOF: shortReadIsEOF(fd)}
}

func (d *plainDir) Close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
	}
}

// readPlain reads the regular file name (no slash) in dir with plain
// system calls: openat with O_NOFOLLOW, so that neither a path nor a
// symlink can lead outside dir, one read, close. An *os.File would add the
// poller's registration, several fcntl calls and a stat per file, which is
// most of the cost of reading a thousand small migrations on every deploy.
// ok is false when the file is not a plain regular file (a symlink, say),
// for the caller's os.Root path to decide.
func readPlain(dir *plainDir, name string) (b []byte, ok bool, err error) {
	if dir.fd < 0 {
		return nil, false, nil
	}
	// O_NONBLOCK: a FIFO under a migration's name must not hang the open.
	fd, err := unix.Openat(dir.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, false, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return nil, false, nil // a symlink (ELOOP), permissions: os.Root decides
	}
	defer unix.Close(fd)
	// Most migrations fit the buffer: a second read that returns nothing
	// confirms the end where the file system may return short reads. Only
	// a larger file, or an empty one, needs a stat.
	bp := readBufs.Get().(*[16 << 10]byte)
	defer readBufs.Put(bp)
	small := bp[:]
	n, end := 0, false
	for !end && n < len(small) {
		m, err := readFull(fd, small[n:])
		if err == unix.EAGAIN { // a FIFO with a writer
			return nil, false, &fs.PathError{Op: "read", Path: name, Err: errNotRegular}
		}
		if err != nil {
			return nil, false, nil
		}
		n, end = n+m, m == 0 || dir.shortIsEOF && m < len(small)-n
	}
	if n == 0 || !end {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, false, nil
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, false, &fs.PathError{Op: "read", Path: name, Err: errNotRegular}
		}
		if n == 0 {
			return []byte{}, true, nil
		}
		b = make([]byte, n, st.Size+1)
		copy(b, small[:n])
		for {
			if len(b) == cap(b) {
				b = append(b, 0)[:len(b)]
			}
			m, err := readFull(fd, b[len(b):cap(b)])
			if err != nil {
				return nil, false, nil
			}
			if m == 0 {
				return b, true, nil
			}
			b = b[:len(b)+m]
		}
	}
	return append([]byte(nil), small[:n]...), true, nil
}

var errNotRegular = errors.New("not a regular file")

// readFull is one read, retried on EINTR.
func readFull(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}
