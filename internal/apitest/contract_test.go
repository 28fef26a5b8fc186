package apitest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps Check's complaints instead of
// failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }

// Each response breaks SPEC §4/§8 or openapi.yaml's prose, and Check must
// reject it, except those named "a valid …", which it must accept.
func TestCheckRejectsResponsesThatBreakTheContract(t *testing.T) {
	lic := `{"license_key":"QLOCK-7A3F-9B2C-4E1D","quantum_signature":"` + strings.Repeat("a", 128) +
		`","end_customer_id":"x","features":[],"valid_until":"2027-03-15T12:00:00Z","quantum_verified":false,` +
		`"qcos_fidelity":null,"security_level":"CRYPTOGRAPHIC","generated_at":"2026-03-15T12:00:00Z"}`
	e429 := `{"detail":"Rate limit exceeded.","code":"RATE_LIMIT_EXCEEDED","timestamp":"2026-03-15T12:00:00Z","request_id":"r1"}`
	key := `{"key_id":"key_0123456789abcdef01234567","algorithm":"AES-256-GCM","purpose":"encryption","version":1,` +
		`"exportable":false,"label":"","created_at":"2026-03-15T12:00:00Z","public_key":null,` +
		`"key":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=","quantum_secured":false,` +
		`"versions":[{"version":1,"created_at":"2026-03-15T12:00:00Z","public_key":null,"quantum_secured":false}]}`
	hdr := func(rl bool) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r1"}, "Cache-Control": {"no-store"}}
		if rl {
			h.Set("X-RateLimit-Limit", "10")
			h.Set("X-RateLimit-Remaining", "9")
			h.Set("X-RateLimit-Reset", "1773576060")
		}
		return h
	}
	for _, tc := range []struct {
		name, method, path string
		status             int
		h                  http.Header
		body               string
	}{
		{"a valid 201", "POST", "/api/v1/licenses/generate", 201, hdr(true), lic},
		{"a valid HEAD", "HEAD", "/api/v1/licenses", 200, hdr(true), ""},
		{"HEAD with a body", "HEAD", "/api/v1/licenses", 200, hdr(true), `{}`},
		{"HEAD with a status its GET never has", "HEAD", "/api/v1/licenses", 201, hdr(true), ""},
		{"201 without X-RateLimit-* (SPEC §4)", "POST", "/api/v1/licenses/generate", 201, hdr(false), lic},
		{"429 without Retry-After (SPEC §4)", "POST", "/api/v1/quantum/entropy", 429, hdr(true), e429},
		{"time not in Z (SPEC §4)", "POST", "/api/v1/licenses/generate", 201, hdr(true),
			strings.Replace(lic, `"2026-03-15T12:00:00Z"`, `"2026-03-15T13:00:00+01:00"`, 1)},
		{"a cacheable answer", "POST", "/api/v1/licenses/generate", 201, func() http.Header { h := hdr(true); h.Del("Cache-Control"); return h }(), lic},
		{"GET key with material (SPEC §8)", "GET", "/api/v1/quantum/keys/key_0123456789abcdef01234567", 200, hdr(true), key},
	} {
		req, _ := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
		rec := &recorder{TB: t}
		Check(rec, req, &Response{Status: tc.status, Header: tc.h, Body: []byte(tc.body)})
		if valid := strings.HasPrefix(tc.name, "a valid "); valid != (len(rec.errs) == 0) {
			t.Errorf("%s: Check said %q", tc.name, rec.errs)
		}
	}
}
