package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// requestTimeout bounds every single request of the harness.
const requestTimeout = 30 * time.Second

// newClient returns the one client every phase shares: keep-alive, at most
// conns connections per host and all of them kept idle between requests,
// so a phase runs on exactly conns long-lived connections.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4 * conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
	}
}

// target is what one phase sends and how it recognises a good answer.
type target struct {
	name   string
	url    string
	pid    int    // the process serving url, whose CPU time the phase reports
	apiKey string // "" for the ceiling
	// body appends the next request body to buf; rng is the worker's own.
	body func(rng *rand.Rand, buf []byte) []byte
	// corpus writes every body that body may return, one per line, each
	// as likely as body makes it: what wrk picks from (-client wrk).
	corpus func(w *bufio.Writer) error
	// A success is an answer with status wantStatus whose body contains
	// needle ("" for any body). They are data rather than a function so
	// that wrk's script can apply them too.
	wantStatus int
	needle     string
}

// ok reports whether a response is the expected success.
func (t target) ok(status int, body []byte) bool {
	return status == t.wantStatus && bytes.Contains(body, []byte(t.needle))
}

// phaseResult is one phase's measurement.
type phaseResult struct {
	Name       string
	Requests   int // completed with the expected answer
	Errors     int // transport errors and unexpected answers
	FirstError string
	Elapsed    time.Duration
	RPS        float64
	P50, P99   time.Duration
	P999, Max  time.Duration
	// CPU time used during the measured part by the serving process and by
	// this harness (the client), from /proc; zero where unreadable.
	ServerCPU, ClientCPU time.Duration
	// ServerReads is the serving process's read system calls during the
	// measured part (syscr in /proc/PID/io): reads of requests from their
	// sockets and, on the server, the database pages SQLite had to read
	// from the OS. -1 where unreadable.
	ServerReads int64
	// ServerVol and ServerInvol are the serving process's threads'
	// voluntary and involuntary context switches during the measured part;
	// -1 where unreadable.
	ServerVol, ServerInvol int64
}

// cpuPerRequest returns d spread over the phase's requests.
func (p phaseResult) cpuPerRequest(d time.Duration) time.Duration {
	if p.Requests == 0 {
		return 0
	}
	return d / time.Duration(p.Requests)
}

// readsPerRequest formats ServerReads spread over the phase's requests,
// or "–" where unknown.
func (p phaseResult) readsPerRequest() string {
	if p.ServerReads < 0 || p.Requests == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(p.ServerReads)/float64(p.Requests))
}

// switchesPerRequest formats ServerVol and ServerInvol spread over the
// phase's requests, or "–" where unknown.
func (p phaseResult) switchesPerRequest() string {
	if p.ServerVol < 0 || p.Requests == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f · %.2f", float64(p.ServerVol)/float64(p.Requests), float64(p.ServerInvol)/float64(p.Requests))
}

// runPhase warms t up for warmup, then measures it for duration with conns
// workers, each on its own keep-alive connection, stopping early after
// maxRequests requests in all. Requests in flight at the deadline finish
// and count; elapsed runs to the last one's end. The workers keep their
// connections from the warm-up to the end of the phase.
func runPhase(ctx context.Context, cl clients, t target, conns int, warmup, duration time.Duration, maxRequests int) (phaseResult, error) {
	senders := make([]sender, conns)
	defer func() {
		for _, s := range senders {
			if s != nil {
				s.close()
			}
		}
		cl.http.CloseIdleConnections()
	}()
	for i := range senders {
		s, err := cl.newSender(ctx, t)
		if err != nil {
			return phaseResult{}, err
		}
		senders[i] = s
	}
	if warmup > 0 {
		if _, err := drive(ctx, senders, t, warmup, maxRequests, false); err != nil {
			return phaseResult{}, err
		}
	}
	server0 := sampleServer(t.pid)
	client0, errC0 := readCPU(0)
	res, err := drive(ctx, senders, t, duration, maxRequests, true)
	server1 := sampleServer(t.pid)
	client1, errC1 := readCPU(0)
	server1.since(server0, &res)
	if errC0 == nil && errC1 == nil {
		res.ClientCPU = client1 - client0
	}
	return res, err
}

// serverSample is the serving process's counters at one moment, each with
// the error of its read.
type serverSample struct {
	cpu                     time.Duration
	reads, vol, invol       int64
	cpuErr, readsErr, swErr error
}

// sampleServer reads the CPU time, read system calls and context switches
// of process pid.
func sampleServer(pid int) serverSample {
	var s serverSample
	s.cpu, s.cpuErr = readCPU(pid)
	s.reads, s.readsErr = readSyscalls(pid)
	s.vol, s.invol, s.swErr = contextSwitches(pid)
	return s
}

// since sets res's server figures to what changed from b to s: -1 for
// reads and switches, and 0 for CPU, where either read failed.
func (s serverSample) since(b serverSample, res *phaseResult) {
	res.ServerVol, res.ServerInvol = -1, -1
	if s.swErr == nil && b.swErr == nil {
		res.ServerVol, res.ServerInvol = s.vol-b.vol, s.invol-b.invol
	}
	res.ServerReads = -1
	if s.readsErr == nil && b.readsErr == nil {
		res.ServerReads = s.reads - b.reads
	}
	if s.cpuErr == nil && b.cpuErr == nil {
		res.ServerCPU = s.cpu - b.cpu
	}
}

// workerResult is what one worker saw.
type workerResult struct {
	lat      []time.Duration
	errors   int
	firstErr string
	end      time.Time
}

// drive runs one worker per sender until the deadline or maxRequests.
func drive(ctx context.Context, senders []sender, t target, duration time.Duration, maxRequests int, keep bool) (phaseResult, error) {
	conns := len(senders)
	// One budget shared by the workers, so that maxRequests bounds the
	// part's requests, not each worker's share rounded up.
	var left atomic.Int64
	left.Store(int64(maxRequests))
	results := make([]workerResult, conns)
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w] = worker(ctx, senders[w], t, uint64(w), deadline, &left, keep)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return phaseResult{}, err
	}
	res := phaseResult{Name: t.name}
	end := start
	var lat []time.Duration
	for _, r := range results {
		lat = append(lat, r.lat...)
		res.Errors += r.errors
		if res.FirstError == "" {
			res.FirstError = r.firstErr
		}
		if r.end.After(end) {
			end = r.end
		}
	}
	res.Elapsed = end.Sub(start)
	res.Requests = len(lat)
	if !keep {
		return res, nil
	}
	if res.Elapsed > 0 {
		res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = quantile(lat, 0.50)
		res.P99 = quantile(lat, 0.99)
		res.P999 = quantile(lat, 0.999)
		res.Max = lat[len(lat)-1]
	}
	return res, nil
}

// quantile returns the q-quantile of sorted samples (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	// The ceil(q*n)-th smallest; the slack keeps 0.99*100 from rounding
	// up past 99 in binary floating point.
	i := int(math.Ceil(q*float64(len(sorted))-1e-9)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func worker(ctx context.Context, s sender, t target, id uint64, deadline time.Time, left *atomic.Int64, keep bool) workerResult {
	var (
		r    workerResult
		rng  = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), id))
		body []byte
		resp bytes.Buffer
	)
	if keep {
		r.lat = make([]time.Duration, 0, max(0, min(left.Load(), 1<<16)))
	}
	for ctx.Err() == nil && time.Now().Before(deadline) && left.Add(-1) >= 0 {
		body = t.body(rng, body[:0])
		lat, status, err := s.send(body, &resp)
		if err == nil && !t.ok(status, resp.Bytes()) {
			err = fmt.Errorf("%s: status %d: %.200s", t.name, status, resp.Bytes())
		}
		if err != nil {
			r.errors++
			if r.firstErr == "" {
				r.firstErr = err.Error()
			}
			continue
		}
		if keep {
			r.lat = append(r.lat, lat)
		}
	}
	r.end = time.Now()
	return r
}
