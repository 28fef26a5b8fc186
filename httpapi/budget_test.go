package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/httpapi"
)

// stuckWriter is a client that reads its answer slowly: its first Write
// blocks until release is closed, as a write to a connection whose
// client does not read blocks until the write timeout.
type stuckWriter struct {
	*httptest.ResponseRecorder
	writing chan struct{} // closed when the first Write has begun
	release chan struct{}
	once    sync.Once
}

func newStuckWriter() *stuckWriter {
	return &stuckWriter{ResponseRecorder: httptest.NewRecorder(), writing: make(chan struct{}), release: make(chan struct{})}
}

func (w *stuckWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.writing) })
	<-w.release
	return w.ResponseRecorder.Write(b)
}

// TestResponseBudget holds large answers in flight to slow clients and
// checks that each customer's, and the server's, bytes of them are
// bounded: past a budget an answer is 429 with Retry-After, another
// customer is still answered, and once the slow answers are written the
// next is answered again. Small answers never count.
func TestResponseBudget(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	deps := a.Deps
	// A page of 30 licenses with 64 features of 64 characters each is
	// about 130 KiB: one fits a customer's budget, two do not; three
	// customers' do not fit the server's.
	deps.CustomerResponseBytes, deps.ResponseBytes, deps.Metrics = 200<<10, 300<<10, httpapi.NewMetrics()
	logs := &logBuffer{}
	deps.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	h := httpapi.NewServer(deps)
	features := make([]string, 64)
	for i := range features {
		features[i] = fmt.Sprintf("%02d%s", i, strings.Repeat("f", 62))
	}
	body, _ := json.Marshal(map[string]any{"end_customer_id": "e", "features": features})
	keys := map[string]string{}
	for _, name := range []string{"a", "b", "c"} {
		_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
		keys[name] = c.APIKey
		for range 30 {
			wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/generate", string(body)), 201, "")
		}
	}
	list := func(customer string, w http.ResponseWriter) {
		r := httptest.NewRequest("GET", "/api/v1/licenses?limit=30", nil)
		r.Header.Set("X-API-Key", keys[customer])
		h.ServeHTTP(w, r)
	}
	// hold starts a list whose answer is stuck in its Write.
	var wg sync.WaitGroup
	hold := func(customer string) *stuckWriter {
		w := newStuckWriter()
		wg.Go(func() { list(customer, w) })
		<-w.writing
		return w
	}
	want := func(customer string, status int) *httptest.ResponseRecorder {
		t.Helper()
		w := httptest.NewRecorder()
		list(customer, w)
		if w.Code != status {
			t.Fatalf("list of %s: %d, want %d: %.200s", customer, w.Code, status, w.Body)
		}
		return w
	}

	stuckA := hold("a")
	w := want("a", 429)
	var e struct{ Code, Detail string }
	if json.Unmarshal(w.Body.Bytes(), &e); e.Code != "RATE_LIMIT_EXCEEDED" || !strings.Contains(e.Detail, "large answers") {
		t.Errorf("429 body %s", w.Body)
	}
	if w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Told apart from a customer's rate limit, whose code it shares, in
	// the access log and the metrics.
	if !strings.Contains(logs.String(), `"status":429,"duration_ms"`) || !strings.Contains(logs.String(), `"large_answer_refused":true`) {
		t.Errorf("access log of the refusal: %s", logs.String())
	}
	m := httptest.NewRecorder()
	deps.Metrics.Handler().ServeHTTP(m, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(m.Body.String(), "quantumlock_large_answers_refused_total 1\n") {
		t.Error("the refusal is not counted in quantumlock_large_answers_refused_total")
	}
	// A small answer to the same customer is not held back.
	r := httptest.NewRequest("GET", "/api/v1/customers/me", nil)
	r.Header.Set("X-API-Key", keys["a"])
	small := httptest.NewRecorder()
	h.ServeHTTP(small, r)
	if small.Code != 200 {
		t.Errorf("customers/me beside a stuck list: %d", small.Code)
	}
	// Another customer's list is answered, while the server's budget
	// lasts.
	stuckB := hold("b")
	want("c", 429)

	// Once the slow clients have read their answers, the budgets are
	// whole again.
	close(stuckA.release)
	close(stuckB.release)
	wg.Wait()
	for _, w := range []*stuckWriter{stuckA, stuckB} {
		if w.Code != 200 || w.Body.Len() < 100<<10 {
			t.Errorf("stuck list, once read: %d, %d bytes", w.Code, w.Body.Len())
		}
	}
	want("a", 200)
	want("c", 200)

	// An answer to a request that has taken effect is never refused: an
	// encrypt without key_id has made a key, and a 429 would have the
	// client make another. It counts, so a list after it is refused.
	pt := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 150<<10))
	encrypt := func(customer string) *stuckWriter {
		r := httptest.NewRequest("POST", "/api/v1/quantum/crypto/encrypt", strings.NewReader(`{"plaintext":"`+pt+`"}`))
		r.Header.Set("X-API-Key", keys[customer])
		r.Header.Set("Content-Type", "application/json")
		w := newStuckWriter()
		wg.Go(func() { h.ServeHTTP(w, r) })
		<-w.writing
		return w
	}
	stuckA = hold("a")
	stuckEncrypt := encrypt("a")
	want("a", 429)
	// But only against its customer's budget: answers never refused
	// would fill the server's, and one customer's unread encrypts would
	// have every other customer's lists refused.
	stuckEncrypt2 := encrypt("a")
	want("b", 200)
	close(stuckA.release)
	close(stuckEncrypt.release)
	close(stuckEncrypt2.release)
	wg.Wait()
	for _, w := range []*stuckWriter{stuckEncrypt, stuckEncrypt2} {
		if w.Code != 200 {
			t.Errorf("encrypt over the budget: %d %.200s", w.Code, w.Body)
		}
	}
	want("a", 200)

	// An answer larger than both budgets is still given, alone: no answer
	// the API can give is refused for its size alone.
	deps.CustomerResponseBytes, deps.ResponseBytes = 100<<10, 100<<10
	h = httpapi.NewServer(deps)
	want("a", 200)
}
