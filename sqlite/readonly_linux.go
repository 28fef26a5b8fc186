package sqlite

import "golang.org/x/sys/unix"

// readOnlyFS reports whether the file at path is on a file system mounted
// read-only, a bind mount made read-only included (statfs's ST_RDONLY),
// whoever asks: opening it for writing would fail with EACCES, not EROFS,
// for a user who may not write it anyway. It opens nothing (a FIFO would
// block).
func readOnlyFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Flags&unix.ST_RDONLY != 0
}
