package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// walCkptLockByte is the byte of a WAL database's -shm file that SQLite's
// unix VFS locks for a checkpoint (UNIX_SHM_BASE 120 + WAL_CKPT_LOCK 1).
const walCkptLockByte = 121

// TestHoldCheckpointLock is not a test: TestTrimWaitsForCheckpointLock runs
// the test binary again with QUANTUMLOCK_HOLD_CKPT set, and in that process
// it takes the checkpoint lock of a database as another process's
// checkpointer would (POSIX locks of one process never conflict with each
// other), says so on stdout, and holds it until stdin closes.
func TestHoldCheckpointLock(t *testing.T) {
	shm := os.Getenv("QUANTUMLOCK_HOLD_CKPT")
	if shm == "" {
		t.Skip("a helper process for TestTrimWaitsForCheckpointLock")
	}
	f, err := os.OpenFile(shm, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Waited for (F_SETLKW): the parent's own store checkpoints every
	// 250 ms, holding the same lock for a moment.
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Start: walCkptLockByte, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
}

// TestTrimWaitsForCheckpointLock checks that a trim whose checkpoint finds
// the lock held (by the server's checkpointer, in a run) tries again
// instead of failing the run.
func TestTrimWaitsForCheckpointLock(t *testing.T) {
	ctx := context.Background()
	path, db, customers := openTrimStore(t, "cust_00000000000a")
	defer db.Close()
	c := customers[0]

	helper := exec.Command(os.Args[0], "-test.run=^TestHoldCheckpointLock$")
	helper.Env = append(os.Environ(), "QUANTUMLOCK_HOLD_CKPT="+path+"-shm")
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Wait()
	defer stdin.Close()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "locked\n" {
		rest, _ := io.ReadAll(out) // the helper's whole failure
		t.Fatalf("helper said %q, %v", line+string(rest), err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := trimGenerated(ctx, path, c.ID)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("trim returned while the checkpoint lock was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	stdin.Close() // the helper exits, and its lock goes with it
	if err := <-done; err != nil {
		t.Fatalf("trim after the lock was released: %v", err)
	}
}
