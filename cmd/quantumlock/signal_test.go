//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the real main in a child process: the signals
// go to a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv("QUANTUMLOCK_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"quantumlock"}, os.Args[2:]...) // after "--"
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The first SIGTERM starts a graceful shutdown that waits for a request in
// flight; a second signal ends the process at once instead of waiting out
// --shutdown-timeout.
func TestSecondSignalEndsAtOnce(t *testing.T) {
	t.Parallel()
	cmd, exited, log := serveChildWithRequestInFlight(t)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		t.Fatal("the first signal did not wait for the request in flight")
	case <-time.After(500 * time.Millisecond):
	}
	secondSignalEnds(t, cmd, exited, syscall.SIGINT)
	// The log says why it ends there, not at "stopped", as a crash would.
	if !strings.Contains(log.String(), `"msg":"second signal: stopping at once`) {
		t.Errorf("no line for the second signal in the log:\n%s", log)
	}
}

// A copy of the first signal sent with it, as timeout(1) sends SIGTERM to
// its child and again to its process group, is the same request: the
// shutdown still waits for the request in flight. The same signal sent
// again later ends the process.
func TestEchoOfFirstSignalStillGraceful(t *testing.T) {
	t.Parallel()
	cmd, exited, _ := serveChildWithRequestInFlight(t)
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(2 * time.Millisecond) // apart, so that the kernel does not merge them
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		t.Fatalf("two SIGTERMs 2 ms apart ended the process (%v) with a request in flight", cmd.ProcessState)
	case <-time.After(time.Second):
	}
	secondSignalEnds(t, cmd, exited, syscall.SIGTERM)
}

func TestEcho(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		s     os.Signal
		after time.Duration
		want  bool
	}{
		{syscall.SIGTERM, 0, true},
		{syscall.SIGTERM, echoWindow - time.Nanosecond, true},
		{syscall.SIGTERM, echoWindow, false},
		{syscall.SIGINT, 0, false},
	} {
		if got := echo(syscall.SIGTERM, at, tc.s, at.Add(tc.after)); got != tc.want {
			t.Errorf("%v %v after SIGTERM: echo %v, want %v", tc.s, tc.after, got, tc.want)
		}
	}
}

// A second signal right behind the first is not lost while the first
// starts the shutdown. (Two different signals: the kernel may merge two of
// the same kind that are both pending.)
func TestSecondSignalAtOnceIsNotLost(t *testing.T) {
	t.Parallel()
	cmd, exited, _ := serveChildWithRequestInFlight(t)
	cmd.Process.Signal(syscall.SIGTERM)
	secondSignalEnds(t, cmd, exited, syscall.SIGINT)
}

// serveChildWithRequestInFlight starts the real main serving in a child
// process, with a request in flight that never finishes and a 60 s
// shutdown timeout. exited is closed when the child has exited.
func serveChildWithRequestInFlight(t *testing.T) (cmd *exec.Cmd, exited chan struct{}, log *strings.Builder) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "--", "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "q.db"), "--shutdown-timeout", "60s")
	cmd.Env = append(os.Environ(), "QUANTUMLOCK_TEST_RUN_MAIN=1", "QUANTUMLOCK_MASTER_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	lines := bufio.NewScanner(stderr)
	var addr string
	for addr == "" && lines.Scan() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "listening" {
			addr = rec.Addr
		}
	}
	exited = make(chan struct{})
	log = new(strings.Builder) // the lines after "listening", to read once exited is closed
	go func() {
		for lines.Scan() { // keep the pipe drained
			log.Write(lines.Bytes())
			log.WriteByte('\n')
		}
		cmd.Wait()
		close(exited)
	}()
	if addr == "" {
		t.Fatal("the server did not start")
	}
	// A request in flight: headers sent, the body never finished.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write([]byte("POST /api/v1/licenses/validate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"))
	time.Sleep(200 * time.Millisecond)
	return cmd, exited, log
}

// secondSignalEnds sends sig after a SIGTERM and checks that the process
// ends within seconds.
func secondSignalEnds(t *testing.T, cmd *exec.Cmd, exited chan struct{}, sig syscall.Signal) {
	t.Helper()
	start := time.Now()
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("a second signal did not end the process")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the second signal took %v", d)
	}
	// Ended by a signal itself, as its default action ends a process.
	// (Two sent back to back may be taken in either order.)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || (ws.Signal() != syscall.SIGINT && ws.Signal() != syscall.SIGTERM) {
		t.Errorf("the process ended with %v, not by the signal", cmd.ProcessState)
	}
}

// Shutdown waits for a request in flight at most --shutdown-timeout, then
// closes the store: run returns soon after the timeout, and the database's
// lock file is free for another process (a newer binary, say) at once.
func TestShutdownTimeoutThenStoreClosed(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	inst := serve(t, env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), "--db", db, "--shutdown-timeout", "200ms")
	c, err := net.Dial("tcp", strings.TrimPrefix(inst.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A body that never finishes keeps the request in flight.
	c.Write([]byte("POST /api/v1/licenses/validate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := inst.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run returned %v after the signal, with a 200ms shutdown timeout", d)
	}
	lock, err := os.Open(db + "-lock")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("the store still holds its lock after run returned: %v", err)
	}
	// The request still in flight past the timeout has lost its
	// connection (README), rather than hold it open to a closed store.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the connection of the request in flight is still open after run returned")
	}
}

// For restore, the first signal cancels and every later one is reported
// and ignored: a second used to end the process while it copied the old
// database, leaving a truncated file under the kept copy's name. The
// signals go to this test process itself, which the handler keeps alive;
// with a second signal ending it, the test binary would die. Not parallel:
// nothing else may be catching these signals meanwhile.
func TestRestoreSignalsAfterTheFirstIgnored(t *testing.T) {
	var stderr syncBuffer
	ctx, release := shutdownContext(&stderr, false, "ignored")
	defer release()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first signal did not cancel")
	}
	for i := range 2 {
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		want := strings.Repeat("ignored\n", i+1)
		for deadline := time.Now().Add(10 * time.Second); stderr.String() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after %d more signals stderr holds %q, want %q", i+1, stderr.String(), want)
			}
		}
	}
}

// Only restore ignores the signals after the first.
func TestEndsAtSecondSignalAllButRestore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"serve", "--dev"}, true},
		{[]string{"backup", "--to", "b.db"}, true},
		{[]string{"customers", "create"}, true},
		{[]string{"restore", "--from", "b.db"}, false},
		{[]string{"restore"}, false},
	} {
		if got := endsAtSecondSignal(tc.args); got != tc.want {
			t.Errorf("endsAtSecondSignal(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
