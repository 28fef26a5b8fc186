//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing where the kernel offers no parent-death
// signal; the harness still stops its children on every normal exit.
func setDeathSignal(*exec.Cmd) {}
