package sqlite

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
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
