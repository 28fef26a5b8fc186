package httpapi_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/apitest"
	"github.com/quantumlock/quantumlock/ratelimit"
)

// failingLimiter is a rate limiter whose backend is down.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, int64, time.Time) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("limiter down")
}

// With the limiter failing, generate's refusal still says where the
// month's quota stands (SPEC §4: every generation response carries the
// X-Quota-* headers); another route's carries none.
func TestLimiterFailureCarriesQuota(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanFree, ptr(int64(3)), nil)
	deps := a.Deps
	deps.Limiter = failingLimiter{}
	srv := httptest.NewServer(httpapi.NewServer(deps))
	t.Cleanup(srv.Close)
	fc := &apitest.Client{BaseURL: srv.URL, APIKey: c.APIKey}
	r := fc.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`)
	if r.Status < 500 {
		t.Fatalf("status %d with the limiter down", r.Status)
	}
	if r.Header.Get("X-Quota-Limit") != "3" || r.Header.Get("X-Quota-Remaining") != "3" || r.Header.Get("X-Quota-Reset") == "" {
		t.Errorf("%d: X-Quota-Limit %q, X-Quota-Remaining %q, X-Quota-Reset %q", r.Status,
			r.Header.Get("X-Quota-Limit"), r.Header.Get("X-Quota-Remaining"), r.Header.Get("X-Quota-Reset"))
	}
	if r := fc.Do(t, "GET", "/api/v1/customers/me", nil); r.Header.Get("X-Quota-Limit") != "" {
		t.Errorf("another route's refusal carries X-Quota-Limit %q", r.Header.Get("X-Quota-Limit"))
	}
}
