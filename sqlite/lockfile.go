package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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
// path, beside the file a symbolic link leads to, where every process
// finds the same one however it names the database. It takes no lock.
func openFileLock(path string) (*fileLock, error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	f, err := os.OpenFile(path+"-lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock file: %w", err)
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
		// Jittered, so two stores that both let go to take it exclusive
		// do not keep meeting.
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(lockPoll/2 + rand.N(lockPoll)):
		}
	}
}

// close releases the lock, if held, with the file.
func (l *fileLock) close() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
