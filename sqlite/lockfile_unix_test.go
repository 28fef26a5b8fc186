//go:build unix

package sqlite

import (
	"os"
	"syscall"
	"testing"
)

// Made by root, a new lock file gets the database's owner, as SQLite's own
// files do, so that the server's user can open it later.
func TestLockFileOwnerUnderRoot(t *testing.T) {
	if !fileLocking {
		t.Skip("no file lock on this system")
	}
	if os.Geteuid() != 0 {
		t.Skip("only root can give a file away")
	}
	t.Parallel()
	db, path := openTemp(t)
	db.Close()
	const uid, gid = 65534, 65534
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + "-lock"); err != nil {
		t.Fatal(err)
	}
	again, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	fi, err := os.Stat(path + "-lock")
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != uid || st.Gid != gid {
		t.Errorf("lock file owned by %+v, want %d:%d", fi.Sys(), uid, gid)
	}
}
