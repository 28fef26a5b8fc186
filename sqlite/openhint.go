package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	sqlite3 "modernc.org/sqlite/lib"
)

// openHint adds to an error of Open what an operator should check, where
// SQLite's own words point elsewhere: a full disk that stops SQLite making
// its "-shm" file reads as "disk I/O error", a read-only mount as "unable
// to open database file", and a directory the process may not write as "attempt
// to write a readonly database", though the database file itself may be
// writable. Other errors are returned as they are.
func openHint(path string, err error) error {
	var hint string
	switch code := resultCode(err); code {
	case sqlite3.SQLITE_IOERR_SHMOPEN, sqlite3.SQLITE_IOERR_SHMSIZE, sqlite3.SQLITE_IOERR_SHMMAP, sqlite3.SQLITE_READONLY_CANTINIT:
		// CANTINIT, and SHMOPEN at times, is a -shm file this process
		// may not write, which no other process has open.
		hint = fmt.Sprintf("SQLite could not open, make or grow %s-shm beside the database: is the disk full, the file system read-only, or that file another user's (check its owner and mode)?", path)
	case sqlite3.SQLITE_READONLY_DIRECTORY:
		hint = fmt.Sprintf("the directory holding %s is not writable by this user, and SQLite makes %[1]s-wal and %[1]s-shm in it", path)
	default:
		if code&0xff != sqlite3.SQLITE_CANTOPEN && code&0xff != sqlite3.SQLITE_READONLY {
			return err
		}
		if readOnlyFS(path) {
			// Told by the mount, before the open below, which on a
			// read-only bind mount gives EACCES to a user who may not
			// write the file anyway.
			hint = fmt.Sprintf("the file system holding %s is mounted read-only", path)
			break
		}
		f, oerr := os.OpenFile(path, os.O_RDWR, 0)
		switch {
		case oerr == nil:
			f.Close()
			return err
		case errors.Is(oerr, syscall.EROFS):
			hint = fmt.Sprintf("the file system holding %s is mounted read-only", path)
		case errors.Is(oerr, fs.ErrPermission):
			hint = fmt.Sprintf("%s is not writable by this user", path)
		default:
			return err
		}
	}
	return fmt.Errorf("%w (%s)", err, hint)
}
