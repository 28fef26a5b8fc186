package sqlite

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// shmLocks counts the POSIX locks this process holds on the file at path,
// from /proc/locks (Linux).
func shmLocks(path string) (int, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("no inode number on this platform")
	}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0, err
	}
	pid, ino := strconv.Itoa(os.Getpid()), ":"+strconv.FormatUint(st.Ino, 10)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		// "1: POSIX  ADVISORY  READ 1234 08:01:5678 128 128"
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "POSIX" && f[4] == pid && strings.HasSuffix(f[5], ino) {
			n++
		}
	}
	return n, nil
}

// TestWALIndexTruncated checks that a WAL index file cut short under its
// mapping (which walIndex's rules keep SQLite from doing) makes version
// report a failed read instead of crashing the process with SIGBUS.
func TestWALIndexTruncated(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	newCustomer(t, db, "cust_000000000001")
	if _, ok := db.wal.version(); !ok {
		t.Fatal("no version from a live WAL index")
	}
	b, err := os.ReadFile(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	w, name := walIndexCopy(t, b)
	defer w.close()
	if _, ok := w.version(); !ok {
		t.Fatal("no version from the copy")
	}
	if err := os.Truncate(name, 0); err != nil {
		t.Fatal(err)
	}
	if v, ok := w.version(); ok {
		t.Fatalf("version of a truncated file = %x, ok", v)
	}
}
