package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"syscall"
	"time"
)

// fileLock is an advisory lock on a file beside the database, "<name>-lock".
// Every store holds it shared from Open to Close, and a store takes it
// exclusive, alone, while it applies migrations. So a newer binary cannot
// change the schema under a running older one, which would go on writing
// rows the way the old schema has them; it waits and then refuses, naming
// the reason (see migrate). The lock is not SQLite's: SQLite's own locks
// last a transaction, and this one lasts as long as a process uses the
// file.
//
// The lock is a flock(2) lock on Unix systems and a LockFileEx lock on
// Windows. Both belong to the open file, not the process, so two stores in
// one process are two holders, and closing one's descriptor leaves the
// other's lock in place. Elsewhere (fileLock's try always succeeds) there is
// no such protection.
type fileLock struct {
	f *os.File
}

// openFileLock opens (creating if needed) the lock file of the database at
// path, which must exist, beside the file a symbolic link leads to, where
// every process finds the same one however it names the database. It
// takes no lock.
//
// The file is opened for reading and writing where permitted, and else
// for reading only, which is all either kind of lock needs on a local
// file system (NFS emulates flock with POSIX locks, whose exclusive kind
// needs a writable descriptor). A new one gets the database's permissions
// whatever the umask and, made by root, its owner, as SQLite does with the
// "-wal" and "-shm" files: a CLI command run as root must not leave a file
// the server's own user cannot open.
func openFileLock(path string) (*fileLock, error) { return openSideLock(path, "-lock") }

// openSideLock is openFileLock for the lock file named path+suffix: "-lock",
// or "-serve" for the lock a server holds (DB.ClaimServing).
func openSideLock(path, suffix string) (*fileLock, error) {
	path = realPath(path)
	db, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock file: %w", err)
	}
	f, err := os.OpenFile(path+suffix, os.O_RDWR|os.O_CREATE, db.Mode().Perm())
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		// A shared lock needs no more than reading, also on a read-only
		// file system (a mounted snapshot to back up from).
		f, err = os.OpenFile(path+suffix, os.O_RDONLY, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock file: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		// Best effort, as SQLite's: a file someone else owns keeps its
		// mode, and the lock still works for whoever can read it.
		if fi.Mode().Perm() != db.Mode().Perm() {
			f.Chmod(db.Mode().Perm())
		}
		matchOwner(f, fi, db)
	}
	return &fileLock{f: f}, nil
}

// lockPoll is how often a waiting lock is tried again. Neither flock nor
// LockFileEx can wait with a timeout, so waiting is polling.
const lockPoll = 10 * time.Millisecond

// wait takes the lock, shared or exclusive, trying until deadline or ctx's
// end, and reports whether it got it.
func (l *fileLock) wait(ctx context.Context, exclusive bool, deadline time.Time) (bool, error) {
	for {
		ok, err := l.try(exclusive)
		if ok || err != nil {
			return ok, err
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		if err := pause(ctx); err != nil {
			return false, err
		}
	}
}

// pause waits about lockPoll, or until ctx ends. The wait is jittered, so
// that two stores that both let go of the lock to take it exclusive do not
// keep meeting.
func pause(ctx context.Context) error {
	t := time.NewTimer(lockPoll/2 + rand.N(lockPoll))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// close releases the lock, if held, and the file. The lock is released
// first: Windows may release a lock that a handle's closing leaves behind
// only some time later.
func (l *fileLock) close() error {
	if l == nil {
		return nil
	}
	// An error here is a lock not held (Windows says so; flock does not),
	// and closing releases any lock anyway.
	l.unlock()
	return l.f.Close()
}
