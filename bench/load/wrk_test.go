package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := "Running 6s test @ http://127.0.0.1:1/x\n  1 threads and 32 connections\n" +
		"QLWRK ok=900 bad=90 connect=1 read=2 write=3 timeout=4 duration_us=2000000 p50_us=1500 p99_us=9000 p999_us=12000 max_us=20000\n" +
		"QLWRK-FIRST 200: {\"valid\":false}\n"
	res, err := parseWrk([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 900 || res.Errors != 100 || res.Elapsed != 2*time.Second || res.RPS != 450 ||
		res.P50 != 1500*time.Microsecond || res.P99 != 9*time.Millisecond || res.P999 != 12*time.Millisecond ||
		res.Max != 20*time.Millisecond || res.FirstError != `200: {"valid":false}` {
		t.Errorf("parsed %+v", res)
	}

	res, err = parseWrk([]byte("QLWRK ok=5 bad=0 connect=0 read=3 write=0 timeout=0 duration_us=1000000 p50_us=1 p99_us=2 p999_us=3 max_us=4\n"))
	if err != nil || res.Errors != 3 || !strings.Contains(res.FirstError, "read 3") {
		t.Errorf("socket errors: %+v, %v", res, err)
	}

	for _, bad := range []string{
		"",
		"Running 6s test\n",
		"QLWRK ok=1 bad=0\n",
		"QLWRK ok=1 bad=0 connect=0 read=0 write=0 timeout=0 duration_us=x p50_us=1 p99_us=2 p999_us=3 max_us=4\n",
		"QLWRK ok=1 bad=-1 connect=0 read=0 write=0 timeout=0 duration_us=1 p50_us=1 p99_us=2 p999_us=3 max_us=4\n",
		"QLWRK ok=1 bad=0 connect=0 read=0 write=0 timeout=0 duration_us=1 p50_us=1 p99_us p999_us=3 max_us=4\n",
		// The script found a histogram it cannot read.
		"QLWRK-ERROR wrk's latency histogram holds 9 samples for 5 answers\nQLWRK ok=5 bad=0 connect=0 read=0 write=0 timeout=0 duration_us=1 p50_us=1 p99_us=2 p999_us=3 max_us=4\n",
	} {
		if _, err := parseWrk([]byte(bad)); err == nil {
			t.Errorf("parseWrk(%q): no error", bad)
		}
	}
}

// TestWrkPhase drives a test server with the real wrk and the harness's
// script: every body comes from the corpus with its API key, and an answer
// without the needle counts as an error. It needs wrk, which .ci/run
// installs where it can.
func TestWrkPhase(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed")
	}
	var good, bad, wrong atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v" || r.Header.Get("X-API-Key") != "k1" ||
			r.Header.Get("Content-Type") != "application/json" {
			wrong.Add(1)
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		switch string(body) {
		case `{"n":1}`, `{"n":2}`:
			good.Add(1)
			w.Write([]byte(`{"valid":true}`))
		case `{"n":3}`:
			bad.Add(1)
			w.Write([]byte(`{"valid":false}`))
		default:
			wrong.Add(1)
			http.Error(w, "unexpected body", http.StatusBadRequest)
		}
	}))
	defer srv.Close()

	w, err := newWrkRunner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tg := target{name: "v", url: srv.URL + "/v", pid: os.Getpid(), apiKey: "k1", wantStatus: http.StatusOK, needle: `"valid":true`,
		corpus: func(b *bufio.Writer) error {
			_, err := b.WriteString("{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
			return err
		}}
	res, err := w.phase(context.Background(), tg, 4, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if wrong.Load() != 0 {
		t.Fatalf("%d requests the script should not have sent", wrong.Load())
	}
	if res.Requests == 0 || res.Errors == 0 || !strings.HasPrefix(res.FirstError, `200: {"valid":false}`) {
		t.Fatalf("phase: %+v", res)
	}
	// wrk stops with requests in flight, which it does not count.
	if n := int64(res.Requests); n > good.Load() || n < good.Load()-4 {
		t.Errorf("wrk counted %d good answers; the server gave %d", n, good.Load())
	}
	if share := float64(res.Errors) / float64(res.Requests+res.Errors); share < 0.2 || share > 0.47 {
		t.Errorf("%.2f of the answers were errors; a third of the corpus is", share)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 || res.ServerCPU <= 0 || res.ClientCPU <= 0 {
		t.Errorf("phase figures: %+v", res)
	}
	if res.Name != "v" {
		t.Errorf("name %q", res.Name)
	}
}

// TestWrkRawPercentiles checks wrk.lua's undoing of wrk's coordinated-
// omission samples and its nearest rank inside wrk's own LuaJIT, with no
// timing involved: testdata/percentiles.lua builds wrk's histogram from
// known samples, corrects it as wrk does, and compares what the script
// finds with the real samples, over 2,000 random histograms and the edge
// cases (samples at exact multiples of the interval; 17 million samples).
func TestWrkRawPercentiles(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed")
	}
	t.Parallel()
	script, err := filepath.Abs("wrk.lua")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk", "-s", filepath.Join("testdata", "percentiles.lua"), "http://127.0.0.1:1/")
	cmd.Env = append(os.Environ(), "QLWRK_SCRIPT="+script)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "QLWRK-TEST cases=2002 failures=0") {
		t.Fatalf("%v:\n%s", err, out)
	}
}
