package main

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clientWrk runs wrk (https://github.com/wg/wrk; Debian's package wrk) as
// the load generator, a separate process in C that costs less CPU per
// request than either Go client. The issue that sets the targets allows
// "a script around wrk" as the harness; this mode keeps everything else of
// the harness (the servers, the seeding, the rounds, the report) and only
// swaps the client.
const clientWrk = "wrk"

// wrkThreads is wrk's -t: one event loop, as a Go client's 32 goroutines
// share the same two CPUs with the server.
const wrkThreads = 1

//go:embed wrk.lua
var wrkScript []byte

// wrkRunner runs phases with wrk. It writes its script and each target's
// corpus into dir once.
type wrkRunner struct {
	dir     string
	script  string
	corpora map[string]string // target name → corpus file
}

// wrkInstalled reports, as an error, a missing wrk.
func wrkInstalled() error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("-client wrk: wrk is not installed (Debian: apt-get install wrk)")
	}
	return nil
}

func newWrkRunner(dir string) (*wrkRunner, error) {
	if err := wrkInstalled(); err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "wrk.lua")
	if err := os.WriteFile(script, wrkScript, 0o600); err != nil {
		return nil, err
	}
	return &wrkRunner{dir: dir, script: script, corpora: map[string]string{}}, nil
}

// corpusFile returns the file of every body t may send, writing it the
// first time.
func (w *wrkRunner) corpusFile(t target) (string, error) {
	if f, ok := w.corpora[t.name]; ok {
		return f, nil
	}
	if t.corpus == nil {
		return "", fmt.Errorf("%s: no corpus for wrk", t.name)
	}
	path := filepath.Join(w.dir, "wrk-"+t.name+".corpus")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriter(f)
	err = t.corpus(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	w.corpora[t.name] = path
	return path, nil
}

// phase warms t up for warmup, then measures it for duration, each with
// one wrk run on conns connections. wrk counts whole seconds, so both are
// rounded up to whole seconds; it has no request limit. What it reports for the
// measured run: the good answers (Requests) and everything else (Errors),
// its own elapsed time and latency percentiles (microsecond resolution;
// requests in flight when its time is up are not counted), and the CPU of
// the serving process and of wrk itself from just before wrk starts
// sending to its exit.
func (w *wrkRunner) phase(ctx context.Context, t target, conns int, warmup, duration time.Duration) (phaseResult, error) {
	if warmup > 0 {
		if _, _, err := w.run(ctx, t, conns, warmup, nil); err != nil {
			return phaseResult{}, err
		}
	}
	var server0 serverSample
	var client0 time.Duration
	errC0 := errors.New("wrk never said it was ready")
	out, wrkCPU, err := w.run(ctx, t, conns, duration, func(pid int) {
		server0 = sampleServer(t.pid)
		client0, errC0 = readCPU(pid)
	})
	server1 := sampleServer(t.pid)
	if err != nil {
		return phaseResult{}, err
	}
	res, err := parseWrk(out)
	if err != nil {
		return phaseResult{}, err
	}
	res.Name = t.name
	server1.since(server0, &res)
	if errC0 == nil {
		res.ClientCPU = wrkCPU - client0
	}
	return res, nil
}

// run runs wrk once against t for d and returns its standard output and
// the CPU it used in all. ready, if set, is called with wrk's pid once its
// thread has loaded the corpus, just before it starts sending.
func (w *wrkRunner) run(ctx context.Context, t target, conns int, d time.Duration, ready func(pid int)) ([]byte, time.Duration, error) {
	corpus, err := w.corpusFile(t)
	if err != nil {
		return nil, 0, err
	}
	key, needle := t.apiKey, t.needle
	if key == "" {
		key = "-"
	}
	if needle == "" {
		needle = "-"
	}
	secs := max(1, int((d+time.Second-1)/time.Second))
	cmd := command(ctx, "wrk",
		"-t", strconv.Itoa(wrkThreads), "-c", strconv.Itoa(conns), "-d", strconv.Itoa(secs)+"s",
		"--timeout", strconv.Itoa(int(requestTimeout/time.Second))+"s",
		"-s", w.script, t.url, "--", corpus, key, strconv.Itoa(t.wantStatus), needle, strconv.Itoa(conns))
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	var msgs []string
	sc := bufio.NewScanner(stderr)
	readied := 0
	for sc.Scan() {
		if sc.Text() == "QLWRK-READY" {
			if readied++; readied == wrkThreads && ready != nil {
				ready(cmd.Process.Pid)
			}
			continue
		}
		msgs = append(msgs, sc.Text())
	}
	io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		return nil, 0, fmt.Errorf("wrk %s: %w: %s", t.name, err, strings.Join(msgs, "; "))
	}
	if readied != wrkThreads {
		return nil, 0, fmt.Errorf("wrk %s: %d of %d threads loaded the corpus: %s", t.name, readied, wrkThreads, strings.Join(msgs, "; "))
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return []byte(stdout.String()), cpu, nil
}

// parseWrk reads the QLWRK lines wrk.lua prints at the end of a run.
func parseWrk(out []byte) (phaseResult, error) {
	var res phaseResult
	var line string
	for l := range strings.Lines(string(out)) {
		l = strings.TrimRight(l, "\n")
		if rest, ok := strings.CutPrefix(l, "QLWRK-ERROR "); ok {
			return res, fmt.Errorf("wrk: %s", rest)
		} else if rest, ok := strings.CutPrefix(l, "QLWRK-FIRST "); ok {
			res.FirstError = rest
		} else if rest, ok := strings.CutPrefix(l, "QLWRK "); ok {
			line = rest
		}
	}
	if line == "" {
		return res, fmt.Errorf("wrk printed no QLWRK line: %.300s", out)
	}
	v := map[string]int64{}
	for _, f := range strings.Fields(line) {
		name, val, ok := strings.Cut(f, "=")
		n, err := strconv.ParseInt(val, 10, 64)
		if !ok || err != nil || n < 0 {
			return res, fmt.Errorf("wrk: bad field %q in %q", f, line)
		}
		v[name] = n
	}
	for _, name := range []string{"ok", "bad", "connect", "read", "write", "timeout", "duration_us", "p50_us", "p99_us", "p999_us", "max_us"} {
		if _, ok := v[name]; !ok {
			return res, fmt.Errorf("wrk: no %s in %q", name, line)
		}
	}
	us := func(name string) time.Duration { return time.Duration(v[name]) * time.Microsecond }
	res.Requests = int(v["ok"])
	res.Errors = int(v["bad"] + v["connect"] + v["read"] + v["write"] + v["timeout"])
	if res.FirstError == "" && res.Errors > 0 {
		res.FirstError = fmt.Sprintf("socket errors: connect %d, read %d, write %d, timeout %d", v["connect"], v["read"], v["write"], v["timeout"])
	}
	res.Elapsed = us("duration_us")
	if res.Elapsed > 0 {
		res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	}
	res.P50, res.P99, res.P999, res.Max = us("p50_us"), us("p99_us"), us("p999_us"), us("max_us")
	return res, nil
}
