package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWrkHelperProcess is not a test: TestWrkDiesWithHarness runs the test
// binary again with QL_WRK_HELPER=URL; in that process it starts one wrk
// phase of 20 s, as the harness does, and prints wrk's pid.
func TestWrkHelperProcess(t *testing.T) {
	url := os.Getenv("QL_WRK_HELPER")
	if url == "" {
		t.Skip("a helper process for TestWrkDiesWithHarness")
	}
	w, err := newWrkRunner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tg := target{name: "v", url: url, wantStatus: 200,
		corpus: func(b *bufio.Writer) error { _, err := b.WriteString("{}\n"); return err }}
	w.run(context.Background(), tg, 1, 20*time.Second, func(pid int) { fmt.Printf("wrkpid %d\n", pid) })
}

// TestWrkDiesWithHarness: the harness's children get SIGTERM on exit and
// SIGKILL from the kernel if the harness dies (docs/benchmarks.md); wrk is
// one of them, and goes with a harness that is killed mid-phase, rather
// than load the shared CPUs for the rest of its run.
func TestWrkDiesWithHarness(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	helper := exec.Command(os.Args[0], "-test.run=^TestWrkHelperProcess$")
	helper.Env = append(os.Environ(), "QL_WRK_HELPER="+srv.URL+"/v")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "wrkpid "))
	if err != nil || perr != nil {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	helper.Process.Kill() // the harness dies
	helper.Wait()
	time.Sleep(500 * time.Millisecond)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") &&
		strings.Contains(string(b), "(wrk)") {
		syscall.Kill(pid, syscall.SIGKILL) // clean up the orphan this test started
		t.Errorf("wrk (pid %d) still running after the harness process was killed", pid)
	}
}
