//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// fileLocking says whether this system has the lock (see fileLock).
const fileLocking = true

// try takes the lock without waiting and reports whether it got it. A
// store never converts a lock it holds (flock does that by releasing it
// first): it lets go and takes the other kind.
func (l *fileLock) try(exclusive bool) (bool, error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(l.f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, syscall.EINTR):
		default:
			return false, err
		}
	}
}

// unlock releases the lock.
func (l *fileLock) unlock() error {
	return syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
}

// matchOwner gives the new lock file f (whose state is fi) the owner of
// the database (db) when the process runs as root. Errors are ignored.
func matchOwner(f *os.File, fi, db os.FileInfo) {
	want, ok1 := db.Sys().(*syscall.Stat_t)
	have, ok2 := fi.Sys().(*syscall.Stat_t)
	if os.Geteuid() != 0 || !ok1 || !ok2 || (want.Uid == have.Uid && want.Gid == have.Gid) {
		return
	}
	f.Chown(int(want.Uid), int(want.Gid))
}
