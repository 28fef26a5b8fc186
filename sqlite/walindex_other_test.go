//go:build !linux

package sqlite

import "errors"

// shmLocks needs /proc/locks; elsewhere the test that uses it skips.
func shmLocks(string) (int, error) {
	return 0, errors.New("/proc/locks is Linux only")
}
