package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a child gets to exit after SIGTERM before SIGKILL.
const stopGrace = 20 * time.Second

// command returns a child process command whose context cancellation sends
// SIGTERM (then SIGKILL after stopGrace), and that the kernel kills if the
// harness dies without cleaning up (see setDeathSignal).
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	setDeathSignal(cmd)
	return cmd
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module; run from the repository or pass -repo")
	}
	return filepath.Dir(gomod), nil
}

// buildServer builds cmd/quantumlock from the module at repo into dir.
func buildServer(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "quantumlock")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/quantumlock")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/quantumlock: %w\n%s", err, out)
	}
	return bin, nil
}

// createdCustomer is the part of `quantumlock customers create` output the
// harness needs.
type createdCustomer struct {
	ID     string `json:"id"`
	APIKey string `json:"api_key"`
	Plan   string `json:"plan"`
}

// createCustomer runs the CLI to create the benchmark customer: enterprise,
// a per-minute limit no load can reach, and no monthly quota.
func createCustomer(ctx context.Context, bin, db string) (createdCustomer, error) {
	var c createdCustomer
	cmd := exec.CommandContext(ctx, bin, "customers", "create", "--db", db,
		"--name", "Load Harness", "--email", "load@example.com", "--plan", "enterprise",
		"--requests-per-minute", "1000000000", "--licenses-per-month", "0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return c, fmt.Errorf("customers create: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ID == "" || c.APIKey == "" {
		return c, fmt.Errorf("customers create: unexpected output %q", out)
	}
	return c, nil
}

// serverProc is a running quantumlock server.
type serverProc struct {
	cmd     *exec.Cmd
	addr    string
	opsAddr string // operator listener, "" unless asked for
	log     string
	done    chan error
}

// startServer starts `quantumlock serve` on 127.0.0.1:0 with the master key
// in the environment, its log (one JSON line per request) going to a file,
// and waits for the `listening` line to learn the address.
//
// With ops set, the server also serves its operator listener (metrics and
// /debug/pprof/) on another 127.0.0.1 port, kept in opsAddr.
func startServer(ctx context.Context, bin, db, masterKey, logPath string, ops bool) (*serverProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	args := []string{"serve", "--addr", "127.0.0.1:0", "--db", db}
	if ops {
		args = append(args, "--metrics-addr", "127.0.0.1:0")
	}
	cmd := command(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "QUANTUMLOCK_MASTER_KEY="+masterKey)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	p := &serverProc{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		// The operator listener is logged before `listening`.
		if addr := logAddr(logPath, "listening"); addr != "" {
			if ops {
				p.opsAddr = logAddr(logPath, "serving metrics")
			}
			for _, a := range []string{addr, p.opsAddr} {
				if err := checkLoopback(a); a != "" && err != nil {
					p.stop()
					return nil, err
				}
			}
			p.addr = addr
			return p, nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("server exited before listening (%v); log tail:\n%s", err, tail(logPath, 20))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("server did not log `listening` within 30s; log tail:\n%s", tail(logPath, 20))
}

// logAddr returns the addr of the first log line with message msg in the
// file at path, or "".
func logAddr(path, msg string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 0; sc.Scan() && n < 1000; n++ {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg && line.Addr != "" {
			return line.Addr
		}
	}
	return ""
}

// checkLoopback refuses any address that is not on 127.0.0.1, so no load
// ever leaves the machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		return fmt.Errorf("address %q is not on 127.0.0.1", addr)
	}
	return nil
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pid returns the server's process id.
func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits for the server to exit, killing it after
// stopGrace. It is safe to call more than once.
func (p *serverProc) stop() error {
	if p == nil || p.cmd.Process == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(stopGrace):
		p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return fmt.Errorf("server did not stop within %s; killed", stopGrace)
	}
}

// ceilingProc is the ceiling server: this program re-executed with
// ceilingFlag. It exits when its stdin closes, so it cannot outlive the
// harness.
type ceilingProc struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	addr  string
	done  chan error
}

func startCeiling(ctx context.Context) (*ceilingProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := command(ctx, self, ceilingFlag)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ceiling server: %w", err)
	}
	p := &ceilingProc{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() { // drain, in case the child ever writes more
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(line, "listening ")
		if !ok {
			p.stop()
			return nil, fmt.Errorf("ceiling server said %q", line)
		}
		if err := checkLoopback(addr); err != nil {
			p.stop()
			return nil, err
		}
		p.addr = addr
		return p, nil
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, errors.New("ceiling server did not start within 10s")
	}
}

func (p *ceilingProc) pid() int { return p.cmd.Process.Pid }

func (p *ceilingProc) stop() {
	if p == nil {
		return
	}
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// procMemory is a process's resident memory from /proc/PID/status, in KiB.
type procMemory struct {
	RSS, HWM int64
}

func readMemory(pid int) (procMemory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMemory{}, err
	}
	var m procMemory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) == 2 && f[1] == "kB" {
			*dst, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	if m.RSS == 0 || m.HWM == 0 {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS/VmHWM", pid)
	}
	return m, nil
}

// peakSampler records the highest VmRSS it sees, sampling every interval
// until stopped.
type peakSampler struct {
	stopc chan struct{}
	done  chan int64
	once  sync.Once
	peak  int64
}

func samplePeak(pid int, interval time.Duration) *peakSampler {
	s := &peakSampler{stopc: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if m, err := readMemory(pid); err == nil {
				peak = max(peak, m.RSS)
			}
			select {
			case <-s.stopc:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop returns the peak VmRSS in KiB. It may be called more than once.
func (s *peakSampler) stop() int64 {
	s.once.Do(func() {
		close(s.stopc)
		s.peak = <-s.done
	})
	return s.peak
}

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ),
// 100 on every Linux this harness targets.
const clockTick = 10 * time.Millisecond

// readCPU returns the user plus system CPU time a process has used so far,
// from /proc/PID/stat (pid 0 means this process).
func readCPU(pid int) (time.Duration, error) {
	name := "self"
	if pid != 0 {
		name = strconv.Itoa(pid)
	}
	b, err := os.ReadFile("/proc/" + name + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// fields are counted from after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no command name", name)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", name, len(f)+2)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: utime %q stime %q", name, f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// readSyscalls returns the read system calls a process has made so far,
// syscr in /proc/PID/io.
func readSyscalls(pid int) (int64, error) {
	name := "/proc/" + strconv.Itoa(pid) + "/io"
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "syscr: "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no syscr", name)
}

// contextSwitches returns the voluntary and involuntary context switches
// of all of a process's threads so far, from /proc/PID/task/*/status.
// Threads that exited take their counts with them; a Go server keeps its
// threads.
func contextSwitches(pid int) (vol, invol int64, err error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	for _, t := range tasks {
		name := filepath.Join(dir, t.Name(), "status")
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited since the listing
		} else if err != nil {
			return 0, 0, err
		}
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if !ok || (k != "voluntary_ctxt_switches" && k != "nonvoluntary_ctxt_switches") {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %s: %w", name, k, err)
			}
			if k == "voluntary_ctxt_switches" {
				vol += n
			} else {
				invol += n
			}
		}
	}
	return vol, invol, nil
}
