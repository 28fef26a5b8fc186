package main

import (
	"os"
	"runtime"
	"testing"
)

func TestReadSyscalls(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/PID/io is Linux's")
	}
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
