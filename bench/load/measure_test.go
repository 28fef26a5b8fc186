package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"
)

// TestQuantileNearestRank: docs/benchmarks.md says p50/p99/p99.9 are
// nearest rank: the ceil(q*n)-th smallest sample (1-based).
func TestQuantileNearestRank(t *testing.T) {
	for _, q := range []struct {
		f        float64
		num, den int
	}{{0.50, 50, 100}, {0.99, 99, 100}, {0.999, 999, 1000}} {
		bad := 0
		for n := 1; n <= 5000; n++ {
			s := make([]time.Duration, n)
			for i := range s {
				s[i] = time.Duration(i + 1) // the k-th smallest is k
			}
			rank := (q.num*n + q.den - 1) / q.den // ceil(q*n), exactly
			if got := quantile(s, q.f); got != time.Duration(rank) {
				if bad++; bad <= 3 {
					t.Errorf("q=%v n=%d: rank %d, nearest rank is %d", q.f, n, got, rank)
				}
			}
		}
		if bad > 3 {
			t.Errorf("q=%v: %d of 5000 sizes wrong in all", q.f, bad)
		}
	}
}

// fakeSender answers from a script: latency i+1 µs for the i-th call, and
// status/body from answer(i).
type fakeSender struct {
	n      int
	answer func(i int) (int, string, error)
}

func (f *fakeSender) send(body []byte, resp *bytes.Buffer) (time.Duration, int, error) {
	i := f.n
	f.n++
	status, b, err := f.answer(i)
	resp.Reset()
	resp.WriteString(b)
	return time.Duration(i+1) * time.Microsecond, status, err
}
func (f *fakeSender) close() {}

// TestDriveCountsOnlySuccesses: only the expected status with the needle
// is a success; everything else is an error, and its latency is not a
// sample.
func TestDriveCountsOnlySuccesses(t *testing.T) {
	tg := target{name: "v", wantStatus: 200, needle: `"valid":true`,
		body: func(_ *rand.Rand, b []byte) []byte { return append(b, "{}"...) }}
	s := &fakeSender{answer: func(i int) (int, string, error) {
		switch i % 4 {
		case 0:
			return 200, `{"valid":true}`, nil
		case 1:
			return 200, `{"valid":false,"x_valid":true}`, nil
		case 2:
			return 500, `{"valid":true}`, nil
		default:
			return 0, "", fmt.Errorf("boom")
		}
	}}
	res, err := drive(context.Background(), []sender{s}, tg, time.Hour, 400, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || res.Errors != 300 {
		t.Fatalf("requests %d errors %d, want 100 and 300", res.Requests, res.Errors)
	}
	// Successes are calls 0,4,8,... with latencies 1,5,9,...,397 µs.
	if res.Max != 397*time.Microsecond || res.P50 != 197*time.Microsecond {
		t.Errorf("max %v p50 %v", res.Max, res.P50)
	}
}

// TestRunPhaseWindow: the server figures cover the measured part only,
// not the warm-up: here the warm-up is four times the measured part, so a
// window that took it in would show several times the read system calls
// per request.
func TestRunPhaseWindow(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte(`{"valid":true}`))
	}))
	defer srv.Close()
	tg := target{name: "v", url: srv.URL + "/v", pid: os.Getpid(), wantStatus: 200, needle: `"valid":true`,
		body: func(_ *rand.Rand, b []byte) []byte { return append(b, "{}"...) }}
	cl := clients{kind: clientRaw, http: newClient(2)}
	res, err := runPhase(context.Background(), cl, tg, 2, 400*time.Millisecond, 100*time.Millisecond, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	total := served.Load()
	if res.Requests == 0 || int64(res.Requests) > total*2/5 {
		t.Fatalf("measured %d of %d requests served", res.Requests, total)
	}
	// Per request: the server's read and background read, the client's
	// read(s); in-process, all in one count.
	if per := float64(res.ServerReads) / float64(res.Requests); per > 8 {
		t.Errorf("%.1f read system calls per measured request: the warm-up is in the window", per)
	}
}

// TestWrkPercentilesAreTheGoClients: a server that answers one request in
// 200 after 20 ms and the rest at once. The Go raw client's p99 (nearest
// rank over every sample) is an instant answer; wrk's should be too if the
// report's p99 column means the same thing under -client wrk.
func TestWrkPercentilesAreTheGoClients(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed")
	}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%200 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		w.Write([]byte(`{"valid":true}`))
	}))
	defer srv.Close()
	tg := target{name: "v", url: srv.URL + "/v", pid: os.Getpid(), wantStatus: 200, needle: `"valid":true`,
		body:   func(_ *rand.Rand, b []byte) []byte { return append(b, "{}"...) },
		corpus: func(b *bufio.Writer) error { _, err := b.WriteString("{}\n"); return err }}
	goRes, err := runPhase(context.Background(), clients{kind: clientRaw, http: newClient(4)}, tg, 4, 0, 2*time.Second, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWrkRunner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wrkRes, err := w.phase(context.Background(), tg, 4, 0, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("go raw: %d requests, p50 %v p99 %v p99.9 %v max %v", goRes.Requests, goRes.P50, goRes.P99, goRes.P999, goRes.Max)
	t.Logf("wrk:    %d requests, p50 %v p99 %v p99.9 %v max %v", wrkRes.Requests, wrkRes.P50, wrkRes.P99, wrkRes.P999, wrkRes.Max)
	if wrkRes.P99 > 5*time.Millisecond && goRes.P99 < 2*time.Millisecond {
		t.Errorf("wrk's p99 %v against the Go client's %v: with 0.5%% of answers slow, p99 is a fast answer", wrkRes.P99, goRes.P99)
	}
}
