//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
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

// lockChildEnv names the lock file's database for a copy of this test
// binary run as another user (TestLockFileReadOnlyAsAnotherUser).
const lockChildEnv = "QUANTUMLOCK_TEST_LOCK_CHILD"

// TestMain runs the child's part when lockChildEnv is set.
func TestMain(m *testing.M) {
	if path := os.Getenv(lockChildEnv); path != "" {
		lockChild(path)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lockChild opens path's lock file as openFileLock does and prints how it
// was opened and which locks it could take, while the parent holds it
// shared.
func lockChild(path string) {
	lk, err := openFileLock(path)
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	flags, err := unix.FcntlInt(lk.f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		fmt.Println("fcntl:", err)
		return
	}
	exclusive, errEx := lk.try(true)
	shared, errSh := lk.try(false)
	fmt.Printf("read-only=%v exclusive=%v,%v shared=%v,%v\n",
		flags&unix.O_ACCMODE == unix.O_RDONLY, exclusive, errEx, shared, errSh)
}

// A lock file the process may only read still serves: the store opens it
// read-only, takes it shared, and is kept from taking it exclusive while
// another holds it. Run as root this needs a process of another user: a
// copy of this test binary run as nobody. (Not as root, TestLockFileMode
// covers the same.)
func TestLockFileReadOnlyAsAnotherUser(t *testing.T) {
	if !fileLocking {
		t.Skip("no file lock on this system")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	dir := t.TempDir()
	// The child must reach the directory (its parent is the test's own).
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The copy is made before the test runs in parallel: a process that
	// another test forks while the copy is open for writing would keep
	// it open until it execs, and running the copy then fails with
	// "text file busy".
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "child.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Parallel()

	path := filepath.Join(dir, "q.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() // holds the lock shared
	if err := os.Chmod(path+"-lock", 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin)
	cmd.Dir = dir
	// Not GOCOVERDIR: nobody may not write where a coverage run wants
	// the child's counters, and would say so on stderr.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOCOVERDIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, lockChildEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		// Not started: nobody cannot reach the temporary directory, or
		// there is no such user here.
		t.Skipf("cannot run a process as nobody here: %v", err)
	case err != nil:
		t.Fatalf("child: %v: %s%s", err, out, stderr.String())
	}
	want := "read-only=true exclusive=false,<nil> shared=true,<nil>"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("as nobody: %s, want %s", got, want)
	}
}
