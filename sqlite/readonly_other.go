//go:build !linux

package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// readOnlyFS reports whether the file at path is on a file system mounted
// read-only, as far as opening it for writing tells (EROFS, where the
// system reports it; on Windows never). O_NONBLOCK keeps a FIFO from
// blocking the open.
func readOnlyFS(path string) bool {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		f.Close()
	}
	return errors.Is(err, syscall.EROFS)
}
