//go:build unix

package sqlite

import (
	"os"
	"syscall"
	"testing"
)

// Run as root (sudo quantumlock restore), a restore leaves the database
// with its owner and mode, or the server's user could no longer open it.
func TestRestoreKeepsOwnerAndModeUnderRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can give a file away")
	}
	t.Parallel()
	db, path, _, backup := backedUp(t)
	db.Close()
	const uid, gid = 65534, 65534
	for _, side := range []string{"", "-lock"} {
		if err := os.Chown(path+side, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(t.Context(), backup, path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid || fi.Mode().Perm() != 0o640 {
		t.Errorf("restored database %v owned by %d:%d, want -rw-r----- owned by %d:%d", fi.Mode(), st.Uid, st.Gid, uid, gid)
	}
}
