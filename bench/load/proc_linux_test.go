package main

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestReadSyscalls(t *testing.T) {
	pid := os.Getpid()
	r0, err := readSyscalls(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Each ReadFile makes at least one read system call of its own.
	for range 10 {
		if _, err := os.ReadFile("/proc/self/stat"); err != nil {
			t.Fatal(err)
		}
	}
	r1, err := readSyscalls(pid)
	if err != nil {
		t.Fatal(err)
	}
	if r1-r0 < 10 {
		t.Errorf("read system calls went from %d to %d over ten file reads", r0, r1)
	}
	if _, err := readSyscalls(-1); err == nil {
		t.Error("readSyscalls(-1) did not fail")
	}
}

func TestReadsPerRequest(t *testing.T) {
	for _, c := range []struct {
		p    phaseResult
		want string
	}{
		{phaseResult{Requests: 4, ServerReads: 13}, "3.25"},
		{phaseResult{Requests: 4, ServerReads: -1}, "–"},
		{phaseResult{Requests: 0, ServerReads: 5}, "–"},
	} {
		if got := c.p.readsPerRequest(); got != c.want {
			t.Errorf("%d reads over %d requests: %q, want %q", c.p.ServerReads, c.p.Requests, got, c.want)
		}
	}
}

func TestContextSwitches(t *testing.T) {
	pid := os.Getpid()
	v0, _, err := contextSwitches(pid)
	if err != nil {
		t.Fatal(err)
	}
	// A thread that sleeps in the kernel gives up its CPU: one voluntary
	// switch per sleep.
	runtime.LockOSThread()
	for range 10 {
		ts := syscall.NsecToTimespec(100_000)
		if err := syscall.Nanosleep(&ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	runtime.UnlockOSThread()
	v1, _, err := contextSwitches(pid)
	if err != nil {
		t.Fatal(err)
	}
	if v1-v0 < 10 {
		t.Errorf("voluntary context switches went from %d to %d over ten sleeps", v0, v1)
	}
	if _, _, err := contextSwitches(-1); err == nil {
		t.Error("contextSwitches(-1) did not fail")
	}
}

func TestSwitchesPerRequest(t *testing.T) {
	for _, c := range []struct {
		p    phaseResult
		want string
	}{
		{phaseResult{Requests: 4, ServerVol: 1, ServerInvol: 3}, "0.25 · 0.75"},
		{phaseResult{Requests: 4, ServerVol: -1, ServerInvol: -1}, "–"},
		{phaseResult{Requests: 0, ServerVol: 5, ServerInvol: 5}, "–"},
	} {
		if got := c.p.switchesPerRequest(); got != c.want {
			t.Errorf("%d · %d switches over %d requests: %q, want %q", c.p.ServerVol, c.p.ServerInvol, c.p.Requests, got, c.want)
		}
	}
}

// TestReadCPUSelf: readCPU(0) moves with this process's user+system time
// (getrusage), not with another field of /proc/self/stat.
func TestReadCPUSelf(t *testing.T) {
	ru := func() time.Duration {
		var r syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
			t.Fatal(err)
		}
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	c0, err := readCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	r0 := ru()
	x := 0
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	_ = x
	c1, err := readCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	r1 := ru()
	got, want := c1-c0, r1-r0
	if got < want-40*time.Millisecond || got > want+40*time.Millisecond {
		t.Errorf("readCPU moved %v; getrusage moved %v", got, want)
	}
	if pc, err := readCPU(os.Getpid()); err != nil || pc < c1 {
		t.Errorf("readCPU(own pid) %v, %v; readCPU(0) %v", pc, err, c1)
	}
}
