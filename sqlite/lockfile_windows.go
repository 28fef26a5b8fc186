//go:build windows

package sqlite

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// fileLocking says whether this system has the lock (see fileLock).
const fileLocking = true

// try takes the lock, on the file's first byte, without waiting and
// reports whether it got it.
func (l *fileLock) try(exclusive bool) (bool, error) {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	err := windows.LockFileEx(windows.Handle(l.f.Fd()), flags, 0, 1, 0, new(windows.Overlapped))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return false, nil
	default:
		return false, err
	}
}

// unlock releases the lock.
func (l *fileLock) unlock() error {
	return windows.UnlockFileEx(windows.Handle(l.f.Fd()), 0, 1, 0, new(windows.Overlapped))
}

// matchOwner does nothing: files on Windows have no Unix owner.
func matchOwner(f *os.File, fi, db os.FileInfo) {}
