//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package sqlite

import "os"

// fileLocking says whether this system has the lock (see fileLock).
const fileLocking = false

// try always succeeds: on these systems the store has no lock to take,
// and a newer binary can migrate the schema under a running older one.
func (l *fileLock) try(exclusive bool) (bool, error) { return true, nil }

// unlock does nothing.
func (l *fileLock) unlock() error { return nil }

// matchOwner does nothing.
func matchOwner(f *os.File, fi, db os.FileInfo) {}
