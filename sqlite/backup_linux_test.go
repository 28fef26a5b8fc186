//go:build linux

package sqlite

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// A restore whose swap fails leaves the database as it was: its WAL, moved
// back, keeps its owner and mode, so the server's user can still open it.
// (Root only: the rename is made to fail by a bind mount of the database
// onto itself, and the files are given to another user.)
func TestRestoreFailedSwapKeepsWALOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := t.Context()
	db, path, _, backup := backedUp(t)
	db.Close()
	holdWALBack(t, path)
	const uid, gid = 65534, 65534
	for _, side := range []string{"", "-wal", "-shm", "-lock"} {
		if err := os.Chown(path+side, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path+side, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// A rename over a mount point fails (EBUSY).
	if out, err := exec.Command("mount", "--bind", path, path).CombinedOutput(); err != nil {
		t.Skipf("mount: %v: %s", err, out)
	}
	_, rerr := Restore(ctx, backup, path)
	if out, err := exec.Command("umount", path).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	if rerr == nil {
		t.Fatal("restored")
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatalf("the WAL was not put back: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid || fi.Mode().Perm() != 0o640 {
		t.Errorf("put-back WAL is %v owned by %d:%d; was -rw-r----- owned by %d:%d", fi.Mode(), st.Uid, st.Gid, uid, gid)
	}
	if m, _ := filepath.Glob(path + ".*"); len(m) > 0 {
		t.Errorf("the failed restore left %v", m)
	}
}
