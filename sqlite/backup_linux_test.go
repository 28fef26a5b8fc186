//go:build linux

package sqlite

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/quantumlock/quantumlock"
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

// keepPrevious names the kept database last, after the journal or WAL it
// needs: a kept name holding the database means its side files are there.
// Here the journal cannot be copied (it is a directory), and inotify shows
// whether the kept database's name appeared before that failure.
func TestKeptDatabaseNamedLast(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("d"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path+"-journal", 0o700); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK)
	if err != nil {
		t.Skip("no inotify:", err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MOVED_TO|syscall.IN_CREATE); err != nil {
		t.Skip("no inotify:", err)
	}
	if _, err := keepPrevious(context.Background(), path, true); err == nil {
		t.Fatal("kept a journal that is a directory")
	}
	buf := make([]byte, 64*1024)
	n, _ := syscall.Read(fd, buf)
	seen := 0
	for off := 0; off+syscall.SizeofInotifyEvent <= n; {
		ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := strings.TrimRight(string(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		off += syscall.SizeofInotifyEvent + int(ev.Len)
		seen++
		if strings.Contains(name, ".before-restore-") && !strings.Contains(name, ".partial-") && !strings.HasSuffix(name, "-journal") && !strings.HasSuffix(name, "-wal") {
			t.Errorf("the kept database %s appeared before its journal was kept", name)
		}
	}
	if seen == 0 {
		t.Error("inotify saw nothing: the test proves nothing")
	}
}

// A backup is taken from a read-only file system, such as a mounted
// snapshot of a live server's volume: the lock file is opened for reading
// there, as where the process may not write it (it was refused, "read-only
// file system"), and the backup holds what was still only in the WAL.
// (Root only: the read-only file system is a tmpfs remounted read-only.)
func TestBackupFromReadOnlyMount(t *testing.T) {
	dir, mnt, readOnly := tmpfsMount(t)
	// The database as a snapshot of a running server's volume holds it:
	// the file, its -wal and -shm (commits not yet checkpointed) and -lock.
	path, c := snapshotInto(t, mnt, "", "-wal", "-shm", "-lock")
	readOnly()
	dst := filepath.Join(dir, "backup.db")
	if _, err := Backup(context.Background(), path, dst); err != nil {
		t.Fatalf("backup of a database on a read-only file system: %v", err)
	}
	holdsTheSnapshot(t, dst, c)
}

// snapshotInto copies the given files (sides of the name: "", "-wal",
// ...) of a live store, a customer c's 10 licenses all still in its -wal,
// into dir as quantumlock.db, as a snapshot of a running server's volume
// holds them, and returns the path and c.
func snapshotInto(t *testing.T, dir string, sides ...string) (string, *quantumlock.Customer) {
	t.Helper()
	live, livePath := openTemp(t)
	c := newCustomer(t, live, "cust_000000000001")
	for n := range 10 {
		createLicense(t, live, c.ID, n)
	}
	path := filepath.Join(dir, "quantumlock.db")
	for _, side := range sides {
		b, err := os.ReadFile(livePath + side)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+side, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	live.Close()
	return path, c
}

// holdsTheSnapshot checks that the database at path holds the last of the
// licenses snapshotInto made, which only the snapshot's -wal held.
func holdsTheSnapshot(t *testing.T, path string, c *quantumlock.Customer) {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.License(context.Background(), c.ID, newLicense(c.ID, 9).Key); err != nil {
		t.Errorf("%s lacks a license only the snapshot's -wal held: %v", path, err)
	}
}

// A backup that cannot read its source names it, with what to check: on a
// read-only file system, a database in WAL mode without the -shm SQLite
// would have to make, the read-only mount. (Root only, as above.)
func TestBackupNamesItsSourceAndHint(t *testing.T) {
	dir, mnt, readOnly := tmpfsMount(t)
	// A database in WAL mode closed cleanly: no -wal (the left-WAL check
	// has nothing to read) and no -shm.
	src := filepath.Join(dir, "src.db")
	closedWithLicenses(t, src, "cust_000000000001", 5)
	file, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(mnt, "quantumlock.db")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly()
	_, err = Backup(context.Background(), path, filepath.Join(dir, "backup.db"))
	if err == nil {
		t.Skip("SQLite read the database without a -shm: nothing to name")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("backup error %q names neither %s nor the read-only mount", err, path)
	}
}

// A read-only snapshot of a live server's volume without the lock file
// (file, -wal and -shm) can be backed up and restored from: the lock file
// cannot be made there, and nothing there can be written. (Root only.)
func TestReadOnlySnapshotWithoutLockFile(t *testing.T) {
	dir, mnt, readOnly := tmpfsMount(t)
	path, c := snapshotInto(t, mnt, "", "-wal", "-shm")
	readOnly()
	if _, err := Backup(context.Background(), path, filepath.Join(dir, "bk.db")); err != nil {
		t.Errorf("backup from the snapshot: %v", err)
	} else {
		holdsTheSnapshot(t, filepath.Join(dir, "bk.db"), c)
	}
	restored := filepath.Join(dir, "restored.db")
	if _, err := Restore(context.Background(), path, restored); err != nil {
		t.Fatalf("restore from the snapshot: %v", err)
	}
	holdsTheSnapshot(t, restored, c)
}

// tmpfsMount mounts a small tmpfs in a new temporary directory dir, at
// mnt, unmounted when t ends, and returns readOnly, which remounts it
// read-only. It skips t where it cannot mount (not root).
func tmpfsMount(t *testing.T) (dir, mnt string, readOnly func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir = t.TempDir()
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	return dir, mnt, func() {
		t.Helper()
		if err := syscall.Mount("", mnt, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("cannot remount read-only: %v", err)
		}
	}
}

// readOnlyFS tells a read-only bind mount (Docker's ":ro", a Kubernetes
// readOnly volume) from the writable mount of the same files, by the
// mount's flags rather than by an open that, for a user who may not write
// the file anyway, fails with EACCES. (Root only.)
func TestReadOnlyFSBindMount(t *testing.T) {
	dir, mnt, _ := tmpfsMount(t)
	src := filepath.Join(mnt, "q.db")
	if err := os.WriteFile(src, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bind := filepath.Join(dir, "bind")
	if err := os.Mkdir(bind, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(mnt, bind, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind mount: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(bind, syscall.MNT_DETACH) })
	if err := syscall.Mount("", bind, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount the bind mount read-only: %v", err)
	}
	if !readOnlyFS(filepath.Join(bind, "q.db")) {
		t.Error("a read-only bind mount not told read-only")
	}
	if readOnlyFS(src) {
		t.Error("the writable mount of the same files told read-only")
	}
}

// backup names the read-only mount also when the left-WAL check is what
// fails: a -wal and no -shm on a read-only file system. (Root only.)
func TestBackupLeftWALCheckHint(t *testing.T) {
	dir, mnt, readOnly := tmpfsMount(t)
	file, wal, _ := openWALOf(t, filepath.Join(dir, "src.db"), "cust_000000000001", 5)
	path := filepath.Join(mnt, "quantumlock.db")
	for side, b := range map[string][]byte{"": file, "-wal": wal, "-lock": nil} {
		if err := os.WriteFile(path+side, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	readOnly()
	_, err := Backup(context.Background(), path, filepath.Join(dir, "backup.db"))
	if err == nil {
		t.Skip("SQLite read the database without a -shm: nothing to name")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("backup error %q names neither %s nor the read-only mount", err, path)
	}
}
