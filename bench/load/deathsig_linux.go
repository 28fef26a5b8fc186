package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal asks the kernel to kill the child if the harness dies
// before it can stop the child itself.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
