//go:build unix

package sqlite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// The copy a restore keeps of the old database appears under its name
// whole or not at all: a process killed while copying (a second signal
// once, or SIGKILL) left a truncated file under the kept name. A FIFO as
// the source holds the copy half-way for as long as the test likes.
func TestCopyFileWholeOrNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "q.db.before-restore-x")
	if err := syscall.Mkfifo(src, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan error, 1)
	go func() { done <- copyFile(src, dst) }()
	w, err := os.OpenFile(src, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, rest := bytes.Repeat([]byte("a"), 3000), bytes.Repeat([]byte("b"), 5000)
	if _, err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	partial := func() (name string, size int64) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), filepath.Base(dst)+".partial-") {
				if fi, err := e.Info(); err == nil {
					return e.Name(), fi.Size()
				}
			}
		}
		return "", 0
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, size := partial(); size == int64(len(first)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copy never got its first bytes")
		}
	}
	if _, err := os.Lstat(dst); err == nil {
		t.Fatal("the kept name exists while the copy is half-way")
	}
	if name, _ := partial(); name != "" {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("the partial copy: %v, %v; want mode 0600", fi, err)
		}
	}
	w.Write(rest)
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, append(first, rest...)) {
		t.Errorf("the kept copy: %d bytes, %v; want %d", len(got), err, len(first)+len(rest))
	}
	if name, _ := partial(); name != "" {
		t.Errorf("%s left behind", name)
	}
	// A copy that fails leaves neither name: a directory cannot be read.
	if err := copyFile(dir, filepath.Join(dir, "other")); err == nil {
		t.Error("copying a directory succeeded")
	}
	if _, err := os.Lstat(filepath.Join(dir, "other")); err == nil {
		t.Error("a failed copy left the kept name")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 { // src and dst, nothing else
		t.Errorf("a failed copy left files: %v", ents)
	}
	// An existing name is refused, as before.
	if err := copyFile(filepath.Join(dir, "q.db.before-restore-x"), dst); err == nil {
		t.Error("copying over an existing kept name succeeded")
	}
}

// A FIFO named as backup's source or restore's is refused at once:
// reading one waits for a writer that may never come.
func TestBackupRestoreRefuseFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Backup(ctx, fifo, filepath.Join(dir, "bk.db")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("backup from a FIFO: %v", err)
	}
	if _, err := Restore(ctx, fifo, filepath.Join(dir, "r.db")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("restore from a FIFO: %v", err)
	}
	// Nor is one named as the database: restore would rename the backup
	// over it, and Open leave a journal beside it.
	backup := filepath.Join(dir, "bk.db")
	closedWithLicenses(t, backup, "cust_00000000000a", 1)
	if _, err := Restore(ctx, backup, fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("restore onto a FIFO: %v", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v, %v", fi, err)
	}
	if db, err := Open(ctx, fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		if err == nil {
			db.Close()
		}
		t.Errorf("Open of a FIFO: %v", err)
	}
	for _, side := range []string{"-journal", "-lock"} {
		if _, err := os.Lstat(fifo + side); err == nil {
			t.Errorf("%s left beside the FIFO", side)
		}
	}
}
