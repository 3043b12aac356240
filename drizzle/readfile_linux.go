package drizzle

import "syscall"

// shortReadIsEOF reports whether the file system of the open folder fd
// serves regular files through the page cache, where read returns less
// than asked only at the end of the file. Network and FUSE file systems
// (a bind mount from Docker Desktop, say) may return less at any point
// and keep the second read.
func shortReadIsEOF(fd int) bool {
	var st syscall.Statfs_t
	if syscall.Fstatfs(fd, &st) != nil {
		return false
	}
	switch uint32(st.Type) {
	case 0xEF53, // ext2/3/4
		0x58465342, // xfs
		0x9123683E, // btrfs
		0x01021994, // tmpfs
		0x794C7630, // overlayfs, the root of every container
		0x2FC12FC1, // zfs
		0xF2F52010: // f2fs
		return true
	}
	return false
}
