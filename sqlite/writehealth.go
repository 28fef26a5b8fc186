package sqlite

import (
	"sync/atomic"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

// writeFailedRecently is how long after a write failed for a reason of the
// storage the store still reports it (WriteFailure).
const writeFailedRecently = time.Minute

// writeFailure is a write (a transaction, a statement, a checkpoint) that
// failed for a reason of the storage itself: a full disk, a file system
// remounted read-only, an I/O error. A store in that state still reads, so it answers Ping and every
// validation, while issuing and revoking fail.
type writeFailure struct {
	kind string    // disk_full, read_only, io_error, corrupt or cannot_open
	at   time.Time // with its monotonic reading: its age survives clock steps
}

// writeFailureKind names the failures of the storage itself in err's
// chain, or returns "" for every other error (busy, constraint, context),
// which says nothing about whether writes can succeed.
func writeFailureKind(err error) string { return failureKind(resultCode(err)) }

// failureKind names an (extended) SQLite result code of a failure of the
// storage itself, or returns "".
func failureKind(code int) string {
	switch code & 0xff {
	case sqlite3.SQLITE_FULL:
		return "disk_full"
	case sqlite3.SQLITE_READONLY:
		return "read_only"
	case sqlite3.SQLITE_IOERR:
		return "io_error"
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return "corrupt"
	case sqlite3.SQLITE_CANTOPEN:
		return "cannot_open"
	}
	return ""
}

// writeHealth keeps the store's last write failure. A write that succeeds
// does not clear it: on a full disk a write that fits the pages and WAL
// space already there (an empty transaction, a refused duplicate) succeeds
// while the next one that needs more fails, so "the last write succeeded"
// would flap while nothing is mended. Only time clears it.
type writeHealth struct {
	last atomic.Pointer[writeFailure]
}

// record notes the outcome of one write: a transaction (DB.write), a
// statement that writes on its own, or a checkpoint. Every error but one
// of the storage, and a success, costs nothing.
func (h *writeHealth) record(err error) {
	if err == nil {
		return
	}
	if kind := writeFailureKind(err); kind != "" {
		h.last.Store(&writeFailure{kind: kind, at: time.Now()})
	}
}

// WriteFailure returns the kind of the last write that failed for a reason
// of the storage (disk_full, read_only, io_error, corrupt or cannot_open)
// and when, if that was less than a minute ago; else "".
func (db *DB) WriteFailure() (kind string, at time.Time) {
	if f := db.writes.last.Load(); f != nil && time.Since(f.at) < writeFailedRecently {
		return f.kind, f.at.UTC()
	}
	return "", time.Time{}
}
