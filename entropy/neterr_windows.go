package entropy

import "syscall"

// The system errors transportError names: on Windows the network's own
// (WSAECONNREFUSED, WSAECONNRESET), not the values package syscall makes up
// for the Unix names.
var errConnRefused, errConnReset error = syscall.Errno(10061), syscall.Errno(10054)
