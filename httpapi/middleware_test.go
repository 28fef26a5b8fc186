package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testServer(logs *syncBuffer) *server {
	return &server{
		logger: slog.New(slog.NewJSONHandler(logs, nil)),
		now:    func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	}
}

func TestRecoverer(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := testServer(&logs)
	h := s.observe(s.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).route = "GET /boom"
		panic("secret internal state 0xdeadbeef")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))

	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Code != "INTERNAL_ERROR" || body.Detail != "Internal error." || body.RequestID == "" {
		t.Errorf("body %+v", body)
	}
	if strings.Contains(rec.Body.String(), "deadbeef") {
		t.Error("panic value leaked to the client")
	}
	if l := logs.String(); !strings.Contains(l, "deadbeef") || !strings.Contains(l, body.RequestID) {
		t.Errorf("panic not logged with its request id: %s", l)
	}
}

func TestAccessLogHasNoSecrets(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := testServer(&logs)
	h := s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := infoFrom(r)
		i.route, i.customerID = "GET /api/v1/licenses/{license_key}", "cust_0123456789ab"
		w.WriteHeader(204)
	}))
	req := httptest.NewRequest("GET", "/api/v1/licenses/QLOCK-AAAA-BBBB-CCCC?end_customer_id=alice", nil)
	req.Header.Set("X-API-Key", "ql_live_supersecretsupersecretsupersecre")
	h.ServeHTTP(httptest.NewRecorder(), req)

	var line map[string]any
	if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
		t.Fatalf("not one JSON line: %v: %s", err, logs.String())
	}
	for k, want := range map[string]any{"method": "GET", "route": "GET /api/v1/licenses/{license_key}", "status": 204.0, "customer_id": "cust_0123456789ab"} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	if line["request_id"] == nil || line["duration_ms"] == nil {
		t.Errorf("line lacks request_id or duration: %v", line)
	}
	for _, secret := range []string{"supersecret", "QLOCK-AAAA", "alice"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("access log contains %q", secret)
		}
	}

	// A made-up method, which could carry anything, is logged as OTHER.
	var logs2 syncBuffer
	s = testServer(&logs2)
	h = s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }))
	req = httptest.NewRequest("QL_LIVE_SUPERSECRET", "/api/v1/customers/me", nil)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if strings.Contains(logs2.String(), "SUPERSECRET") || !strings.Contains(logs2.String(), `"method":"OTHER"`) {
		t.Errorf("a made-up method logged as sent: %s", logs2.String())
	}

	// An API key sent as the request id (a client or proxy set up wrong)
	// is neither echoed nor logged: the request gets an id of its own.
	for _, id := range []string{"ql_live_supersecretsupersecretsupersecre", "trace:QL_LIVE_SUPERSECRET"} {
		var logs3 syncBuffer
		s = testServer(&logs3)
		h = s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
		req = httptest.NewRequest("GET", "/api/v1/customers/me", nil)
		req.Header.Set("X-Request-ID", id)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-ID"); got == "" || strings.Contains(strings.ToLower(got), "supersecret") {
			t.Errorf("X-Request-ID %q answered with %q", id, got)
		}
		if strings.Contains(strings.ToLower(logs3.String()), "supersecret") {
			t.Errorf("X-Request-ID %q logged: %s", id, logs3.String())
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now  time.Duration
		want int64
	}{{0, 60}, {59 * time.Second, 1}, {59*time.Second + 500*time.Millisecond, 1}, {60 * time.Second, 1}, {30*time.Second + time.Millisecond, 30}} {
		if got := retryAfter(base.Add(tc.now), base.Add(time.Minute)); got != tc.want {
			t.Errorf("retryAfter at +%v = %d, want %d", tc.now, got, tc.want)
		}
	}
}

// Every 429 has Retry-After: the limiter's and the quota's own, or a
// second for any other.
func TestRateLimitErrorHasRetryAfter(t *testing.T) {
	t.Parallel()
	s := testServer(&syncBuffer{})
	err := quantumlock.Errorf(quantumlock.ERATELIMIT, "Busy.")
	rec := httptest.NewRecorder()
	s.writeError(rec, httptest.NewRequest("POST", "/", nil), err)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("429 without its own Retry-After: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	rec.Header().Set("Retry-After", "42")
	s.writeError(rec, httptest.NewRequest("POST", "/", nil), err)
	if rec.Header().Get("Retry-After") != "42" {
		t.Errorf("a 429's own Retry-After replaced: %q", rec.Header().Get("Retry-After"))
	}
}

func TestCanceledRequestIsNotAnAlarm(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := testServer(&logs)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("POST", "/api/v1/quantum/rsa", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	s.writeError(rec, r, fmt.Errorf("waiting for an RSA slot: %w", context.Canceled))
	if rec.Code != 500 || !strings.Contains(logs.String(), `"level":"INFO","msg":"request canceled"`) {
		t.Errorf("status %d, log %s", rec.Code, logs.String())
	}
	logs2 := &syncBuffer{}
	s2 := testServer(logs2)
	s2.writeError(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), errors.New("disk on fire"))
	if !strings.Contains(logs2.String(), `"level":"ERROR","msg":"internal error"`) {
		t.Errorf("a real internal error logged as %s", logs2.String())
	}
}

// A request that failed because its client went away is marked so in its
// access-log line, and counted under status "canceled", not "500": an
// alert on the 5xx rate is for the server's faults, not clients' timeouts.
func TestCanceledRequestAccessLineAndMetrics(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := testServer(&logs)
	s.Metrics = NewMetrics()
	fail := errors.New("disk on fire")
	h := s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).route = "POST /x"
		if r.URL.Path == "/gone" {
			s.writeError(w, r, fmt.Errorf("sqlite: commit: %w", r.Context().Err()))
			return
		}
		s.writeError(w, r, fail)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/gone", nil).WithContext(ctx))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/fault", nil))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var gone, fault string
	for _, l := range lines {
		switch {
		case strings.Contains(l, `"msg":"request"`) && gone == "":
			gone = l
		case strings.Contains(l, `"msg":"request"`):
			fault = l
		}
	}
	if !strings.Contains(gone, `"canceled":true`) || strings.Contains(fault, `"canceled"`) {
		t.Errorf("access lines:\n%s\n%s", gone, fault)
	}
	rec := httptest.NewRecorder()
	s.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, status := range []string{"canceled", "500"} {
		series := `quantumlock_http_requests_total{method="POST",route="POST /x",status="` + status + `"} 1`
		if !strings.Contains(rec.Body.String(), series) {
			t.Errorf("no %s in\n%s", series, rec.Body)
		}
	}
}

// saneRequestID lets through README's characters only, [A-Za-z0-9_.:-],
// 1–128 of them: nothing that could break a header or a log line, or
// quote or space its way into another field.
func TestSaneRequestID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a", "Z9", "trace-42.a:b_c", strings.Repeat("x", 128)} {
		if !saneRequestID(id) {
			t.Errorf("%q refused", id)
		}
	}
	if saneRequestID("") || saneRequestID(strings.Repeat("x", 129)) {
		t.Error("an empty or 129-character id accepted")
	}
	for _, id := range []string{"ql_live_abc", "x-QL_Live_abc", "ql_live_"} {
		if saneRequestID(id) {
			t.Errorf("%q, which holds an API key's prefix, accepted", id)
		}
	}
	if !saneRequestID("ql_livE") || !saneRequestID("qllive_abc") {
		t.Error("an id near the API key prefix refused")
	}
	for c := 0; c < 256; c++ {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-_.:", rune(c))
		if got := saneRequestID("ab" + string([]byte{byte(c)}) + "cd"); got != ok {
			t.Errorf("byte %#x: sane %v, want %v", c, got, ok)
		}
	}
}

// A panic after the response has begun is logged, and nothing more is
// written: an error body appended to the started one would corrupt it.
func TestRecovererAfterResponseBegan(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := testServer(&logs)
	h := s.observe(s.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).route = "GET /boom"
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"partial":`))
		panic("late")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != `{"partial":` {
		t.Errorf("after the response began: %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "late") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

// failingBody is a request body whose connection fails partway.
type failingBody struct{ sent bool }

func (b *failingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, `{"license_key": "QLOCK-`), nil
	}
	return 0, io.ErrUnexpectedEOF
}

func (b *failingBody) Close() error { return nil }

// A body the connection cut off is not answered as bad JSON, and the access
// line marks the request cut off: the answer may never have arrived.
func TestCutOffBodyLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := testServer(&logs)
	h := s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := decode(r, &v); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(204)
	}))
	req := httptest.NewRequest("POST", "/api/v1/licenses/validate", &failingBody{})
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = 100
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "could not be read to its end") {
		t.Errorf("answered %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), `"cut_off":true`) {
		t.Errorf("access line: %s", logs.String())
	}
	// A whole body that is bad JSON is not cut off.
	var logs2 syncBuffer
	s = testServer(&logs2)
	h = s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		s.writeError(w, r, decode(r, &v))
	}))
	req = httptest.NewRequest("POST", "/api/v1/licenses/validate", strings.NewReader(`{"a":`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if strings.Contains(logs2.String(), "cut_off") {
		t.Errorf("bad JSON logged as cut off: %s", logs2.String())
	}
}
