package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock/internal/apitest"
)

// TestMetrics checks that --metrics-addr serves Prometheus metrics (and the
// profiler) on its own listener, counting requests by route, and that the API listener does
// not expose them.
func TestMetrics(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	inst := serve(t, env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "QUANTUMLOCK_METRICS_ADDR", "127.0.0.1:0"), "--db", db, "--dev")
	var addr string
	for _, line := range strings.Split(inst.Stderr.String(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving metrics" {
			addr = rec.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no metrics listener logged:\n%s", inst.Stderr.String())
	}
	// The operator listener has the API's header bound: a little under
	// 16 KiB of headers passes, a little over is 431.
	for _, tc := range []struct{ pad, want int }{{16<<10 - 512, http.StatusOK}, {16 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		req.Header.Set("X-Pad", strings.Repeat("p", tc.pad))
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != tc.want {
			t.Errorf("a %d-byte header to the metrics listener: %d, want %d", tc.pad, resp.StatusCode, tc.want)
		}
	}
	key := demoKeyRE.FindString(inst.Stdout.String())
	c := &apitest.Client{BaseURL: inst.URL, APIKey: key}
	c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"m"}`)
	c.Do(t, "POST", "/api/v1/licenses/validate", `{"license_key":"QLOCK-0000-0000-0000","end_customer_id":"m"}`)
	// Methods of the client's own invention, without a key: one label
	// for all of them, not a time series each.
	for _, m := range []string{"FROBNICATE1", "FROBNICATE2"} {
		req, _ := http.NewRequest(m, inst.URL+"/nothing", nil)
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else {
			resp.Body.Close()
		}
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`quantumlock_http_requests_total{method="POST",route="POST /api/v1/licenses/generate",status="201"} 1`,
		`quantumlock_licenses_issued_total{security_level="CRYPTOGRAPHIC"} 1`,
		`quantumlock_license_validations_total{code="NOT_FOUND"} 1`,
		`go_goroutines`,
		`quantumlock_auth_cache_lookups_total{result="hit"}`,
		`quantumlock_auth_cache_lookups_total{result="miss"}`,
		`quantumlock_connections_open `,
		`quantumlock_entropy_bytes_tested_total{source="cryptographic"}`,
		`quantumlock_entropy_pool_bytes{source="qcos_api"} 0`,
		`quantumlock_qrng_requests_total{result="ok"} 0`,
		`quantumlock_qrng_requests_total{result="rejected"} 0`,
		`quantumlock_entropy_health_failures_total{source="cryptographic",test="apt"} 0`,
		`quantumlock_entropy_health_failures_total{source="qcos_api",test="replay"} 0`,
		`quantumlock_connections_reclaimed_total 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), key) {
		t.Error("metrics contain an API key")
	}
	if !strings.Contains(string(body), `quantumlock_http_requests_total{method="OTHER",route="unmatched",status="404"} 2`) || strings.Contains(string(body), "FROBNICATE") {
		t.Error("made-up methods are not counted under one label, OTHER")
	}
	if r := c.Do(t, "GET", "/metrics", nil); r.Status != 404 {
		t.Errorf("API listener serves /metrics: %d", r.Status)
	}
	// The profiler is on the operator listener only.
	if resp, err := http.Get("http://" + addr + "/debug/pprof/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("pprof on the metrics listener: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if r := c.Do(t, "GET", "/debug/pprof/", nil); r.Status != 404 {
		t.Errorf("API listener serves pprof: %d", r.Status)
	}
	// Not the command line, which may hold --qrng-api-key.
	if resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline"); err != nil || resp.StatusCode != 404 {
		t.Errorf("pprof's cmdline on the metrics listener: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
