package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/apitest"
	"github.com/quantumlock/quantumlock/internal/entropytest"
	"github.com/quantumlock/quantumlock/license"
)

// A validation for the wrong end customer answers with the end customer the
// caller named, never the one the license was issued to: the key's holder
// must not learn who the license belongs to.
func TestValidateMismatchEchoesRequestedEndCustomer(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	l := generate(t, c, map[string]any{"end_customer_id": "alice@victim.example"})
	v := call(t, c, "POST", "/api/v1/licenses/validate",
		map[string]any{"license_key": l["license_key"], "end_customer_id": "mallory"}, http.StatusOK)
	if v["code"] != "CUSTOMER_MISMATCH" || v["end_customer_id"] != "mallory" {
		t.Fatalf("validate for another end customer: %v; want CUSTOMER_MISMATCH echoing \"mallory\"", v)
	}
}

// README "Validation": on an invalid result quantum_verified still
// describes the entropy the key was made from, except SIGNATURE_INVALID.
// A quantum license through the API, which also carries SPEC §5's
// QUANTUM_SECURED.
func TestQuantumLicenseThroughTheAPI(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	deps := a.Deps
	deps.Licenses = &license.Service{Store: a.DB, Rand: entropytest.Quantum{}, Now: a.Clock.Now, Secret: license.Secrets(a.Master)}
	deps.Metrics = nil
	srv := httptest.NewServer(httpapi.NewServer(deps))
	t.Cleanup(srv.Close)
	_, c0 := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	c := &apitest.Client{BaseURL: srv.URL, APIKey: c0.APIKey}

	l := generate(t, c, map[string]any{"end_customer_id": "x", "valid_days": 1})
	if l["quantum_verified"] != true || l["security_level"] != "QUANTUM_SECURED" {
		t.Fatalf("generated: %v; want quantum_verified and QUANTUM_SECURED", l)
	}
	validate := func(end string) map[string]any {
		return call(t, c, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": l["license_key"], "end_customer_id": end}, http.StatusOK)
	}
	if v := validate("someone else"); v["code"] != "CUSTOMER_MISMATCH" || v["quantum_verified"] != true {
		t.Errorf("mismatch: %v; want quantum_verified true", v)
	}
	a.Clock.Add(48 * time.Hour)
	if v := validate("x"); v["code"] != "EXPIRED" || v["quantum_verified"] != true {
		t.Errorf("expired: %v; want quantum_verified true", v)
	}
	call(t, c, "POST", "/api/v1/licenses/"+l["license_key"].(string)+"/revoke", map[string]any{}, http.StatusOK)
	if v := validate("x"); v["code"] != "REVOKED" || v["quantum_verified"] != true {
		t.Errorf("revoked: %v; want quantum_verified true", v)
	}
}

// The listing labels every license by the same instant its filter used: a
// status=active page never shows a license labelled "expired", even when the
// clock moves during the request (a clock read per license would show one).
func TestListLabelsByTheFiltersInstant(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	l := generate(t, c, map[string]any{"end_customer_id": "x", "valid_days": 1})
	until, err := time.Parse(time.RFC3339, l["valid_until"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// Whatever number of clock readings precede the listing's own, one of
	// these starts has the expiry fall between two consecutive readings.
	for back := 1; back <= 4; back++ {
		var mu sync.Mutex
		next := until.Add(-time.Duration(back) * time.Second)
		deps := a.Deps
		deps.Metrics = nil
		deps.Now = func() time.Time { // a second later at each reading
			mu.Lock()
			defer mu.Unlock()
			t := next
			next = next.Add(time.Second)
			return t
		}
		srv := httptest.NewServer(httpapi.NewServer(deps))
		cl := &apitest.Client{BaseURL: srv.URL, APIKey: c.APIKey}
		page := call(t, cl, "GET", "/api/v1/licenses?status=active", nil, http.StatusOK)
		srv.Close()
		for _, e := range page["licenses"].([]any) {
			if s := e.(map[string]any)["status"]; s != "active" {
				t.Errorf("start %ds before expiry: status=active lists a license labelled %v", back, s)
			}
		}
	}
}
