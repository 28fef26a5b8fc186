//go:build !windows

package entropy

import "syscall"

// The system errors transportError names: a connection refused, and one
// the remote reset.
var errConnRefused, errConnReset error = syscall.ECONNREFUSED, syscall.ECONNRESET
