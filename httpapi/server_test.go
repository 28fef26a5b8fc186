package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/apitest"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.Clock.Set(time.Date(2026, 3, 15, 12, 0, 20, 0, time.UTC))
	_, c := a.customer(t, quantumlock.PlanFree, nil, nil) // 10 per minute

	for i := range 10 {
		r := c.Do(t, "GET", "/api/v1/customers/me", nil)
		wantStatus(t, r, 200, "")
		if r.Header.Get("X-RateLimit-Limit") != "10" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(9-i) {
			t.Fatalf("request %d: limit %s remaining %s", i+1, r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
		}
	}
	reset := time.Date(2026, 3, 15, 12, 1, 0, 0, time.UTC).Unix()
	r := c.Do(t, "POST", "/api/v1/licenses/validate", `{"license_key":"QLOCK-0000-0000-0000","end_customer_id":"x"}`)
	wantStatus(t, r, 429, "RATE_LIMIT_EXCEEDED")
	if r.Header.Get("Retry-After") != "40" || r.Header.Get("X-RateLimit-Reset") != strconv.FormatInt(reset, 10) || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("429 headers: %v", r.Header)
	}
	if d := r.JSON(t)["detail"].(string); !strings.Contains(d, "per minute") {
		t.Errorf("detail %q does not say which limit", d)
	}
	a.Clock.Set(time.Unix(reset, 0).UTC())
	wantStatus(t, c.Do(t, "GET", "/api/v1/customers/me", nil), 200, "")
}

// The limit is the customer's, whichever of its API keys a request
// carries: more keys are not more requests.
func TestRateLimitAcrossKeys(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.Clock.Set(time.Date(2026, 3, 15, 12, 0, 20, 0, time.UTC))
	cust, c1 := a.customer(t, quantumlock.PlanFree, nil, nil) // 10 per minute
	_, secret, err := a.Accounts.CreateAPIKey(context.Background(), cust.ID)
	if err != nil {
		t.Fatal(err)
	}
	c2 := &apitest.Client{BaseURL: a.URL, APIKey: secret}
	for i := range 10 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		wantStatus(t, c.Do(t, "GET", "/api/v1/customers/me", nil), 200, "")
	}
	wantStatus(t, c1.Do(t, "GET", "/api/v1/customers/me", nil), 429, "RATE_LIMIT_EXCEEDED")
	wantStatus(t, c2.Do(t, "GET", "/api/v1/customers/me", nil), 429, "RATE_LIMIT_EXCEEDED")
}

func TestCustomers(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)

	t.Run("Me", func(t *testing.T) {
		cust, c := a.customer(t, quantumlock.PlanBusiness, nil, nil)
		m := c.Do(t, "GET", "/api/v1/customers/me", nil).JSON(t)
		if m["id"] != cust.ID || m["plan"] != "business" || m["email"] != cust.Email || m["created_at"] != cust.CreatedAt.Format(time.RFC3339) {
			t.Errorf("me %v", m)
		}
	})
	t.Run("StatsLimited", func(t *testing.T) {
		_, c := a.customer(t, quantumlock.PlanStartup, nil, nil)
		generate(t, c, `{"end_customer_id":"a"}`)
		l := generate(t, c, `{"end_customer_id":"b","valid_days":1}`)
		r := generate(t, c, `{"end_customer_id":"c"}`)
		c.Do(t, "POST", "/api/v1/licenses/"+r["license_key"].(string)+"/revoke", nil)
		_ = l
		a.Clock.Add(25 * time.Hour)
		st := c.Do(t, "GET", "/api/v1/customers/stats", nil).JSON(t)
		want := map[string]any{"plan": "startup", "licenses_generated_month": 3.0, "licenses_remaining_month": 9997.0,
			"max_licenses_month": 10000.0, "total_licenses_all_time": 3.0, "active_licenses": 1.0,
			"requests_per_minute": 100.0, "period_resets_at": "2026-04-01T00:00:00Z"}
		for k, v := range want {
			if st[k] != v {
				t.Errorf("%s = %v, want %v", k, st[k], v)
			}
		}
	})
	t.Run("StatsUnlimited", func(t *testing.T) {
		_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
		r := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"a"}`)
		if r.Header.Get("X-Quota-Limit") != "" {
			t.Error("X-Quota headers on an unlimited plan")
		}
		st := c.Do(t, "GET", "/api/v1/customers/stats", nil).JSON(t)
		if st["max_licenses_month"] != nil || st["licenses_remaining_month"] != nil || st["licenses_generated_month"] != 1.0 {
			t.Errorf("unlimited stats %v", st)
		}
	})
	t.Run("OverrideUnlimited", func(t *testing.T) {
		_, c := a.customer(t, quantumlock.PlanFree, ptr(int64(0)), ptr(int64(77)))
		st := c.Do(t, "GET", "/api/v1/customers/stats", nil).JSON(t)
		if st["max_licenses_month"] != nil || st["plan"] != "free" || st["requests_per_minute"] != 77.0 {
			t.Errorf("free plan with unlimited override: %v", st)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	cust, c1 := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	ctx := context.Background()
	k2, secret2, err := a.Accounts.CreateAPIKey(ctx, cust.ID)
	if err != nil {
		t.Fatal(err)
	}
	c2 := &apitest.Client{BaseURL: a.URL, APIKey: secret2}
	l := generate(t, c1, `{"end_customer_id":"x"}`)
	// Both keys act as the same customer.
	wantStatus(t, c2.Do(t, "GET", "/api/v1/licenses/"+l["license_key"].(string), nil), 200, "")

	if _, err := a.DB.RevokeAPIKey(ctx, k2.ID, a.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c2.Do(t, "GET", "/api/v1/customers/me", nil), 401, "UNAUTHORIZED")
	wantStatus(t, c1.Do(t, "GET", "/api/v1/customers/me", nil), 200, "")

	for name, key := range map[string]string{
		"Truncated":   secret2[:len(secret2)-1],
		"OtherPrefix": "sk_live_" + secret2[8:],
		"Long":        strings.Repeat("ql_live_", 40),
	} {
		t.Run("Err"+name, func(t *testing.T) {
			wantStatus(t, c1.Do(t, "GET", "/api/v1/customers/me", nil, "X-API-Key", key), 401, "UNAUTHORIZED")
		})
	}
}

func TestFallbacksAndHeaders(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)

	t.Run("NotFound", func(t *testing.T) {
		r := c.Do(t, "GET", "/api/v1/nothing", nil)
		wantStatus(t, r, 404, "NOT_FOUND")
		if r.Header.Get("X-RateLimit-Remaining") == "" {
			t.Error("an authenticated 404 has no X-RateLimit-Remaining")
		}
		wantStatus(t, c.Do(t, "GET", "/nothing", nil, "X-API-Key", ""), 404, "NOT_FOUND")
		// The base path itself, without its slash: the JSON 404, not a
		// redirect.
		wantStatus(t, c.Do(t, "GET", "/api/v1", nil), 404, "NOT_FOUND")
		wantStatus(t, c.Do(t, "POST", "/api/v1", nil), 404, "NOT_FOUND")
		wantStatus(t, c.Do(t, "GET", "/api/v1", nil, "X-API-Key", ""), 401, "UNAUTHORIZED")
	})
	t.Run("UncleanPath", func(t *testing.T) {
		// A path not in canonical form is no endpoint: the JSON 404 after
		// authentication under the base path, not the mux's HTML redirect
		// to the cleaned path, which would answer callers without a key.
		for _, p := range []string{"//api/v1/customers/me", "/api/v1/customers/./me", "/api/v1//licenses",
			"/api/v1/licenses/../customers/me", "/api/v1/./"} {
			wantStatus(t, c.Do(t, "GET", p, nil), 404, "NOT_FOUND")
			wantStatus(t, c.Do(t, "GET", p, nil, "X-API-Key", ""), 401, "UNAUTHORIZED")
		}
		wantStatus(t, c.Do(t, "GET", "//health", nil, "X-API-Key", ""), 404, "NOT_FOUND")
		wantStatus(t, c.Do(t, "GET", "/./openapi.yaml", nil, "X-API-Key", ""), 404, "NOT_FOUND")
	})
	t.Run("UnmatchedNeedsKey", func(t *testing.T) {
		// Under the base path, no key is 401 whatever the path or method.
		wantStatus(t, c.Do(t, "GET", "/api/v1/nothing", nil, "X-API-Key", ""), 401, "UNAUTHORIZED")
		wantStatus(t, c.Do(t, "DELETE", "/api/v1/customers/me", nil, "X-API-Key", ""), 401, "UNAUTHORIZED")
		wantStatus(t, c.Do(t, "PUT", "/api/v1/licenses/generate", nil, "X-API-Key", "ql_live_unknown"), 401, "UNAUTHORIZED")
	})
	t.Run("UnmatchedCounts", func(t *testing.T) {
		_, slow := a.customer(t, quantumlock.PlanEnterprise, nil, ptr(int64(2)))
		wantStatus(t, slow.Do(t, "GET", "/api/v1/nothing", nil), 404, "NOT_FOUND")
		wantStatus(t, slow.Do(t, "DELETE", "/api/v1/customers/me", nil), 405, "METHOD_NOT_ALLOWED")
		r := slow.Do(t, "GET", "/api/v1/nothing", nil)
		wantStatus(t, r, 429, "RATE_LIMIT_EXCEEDED")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
	t.Run("QueryFirstFaultNamed", func(t *testing.T) {
		// A query with two faults is answered with the first, every time,
		// not with whichever a map's order reaches first.
		for _, tc := range []struct{ path, first string }{
			{"/api/v1/licenses?alpha=1&omega=1", `"alpha"`},
			{"/api/v1/licenses?omega=1&alpha=1", `"omega"`},
			{"/api/v1/licenses?limit=&skip=", "limit"},
			{"/api/v1/licenses?skip=&limit=", "skip"},
			{"/api/v1/customers/me?b=1&a=1", `"b"`},
		} {
			for range 20 {
				wantError(t, c.Do(t, "GET", tc.path, nil), 400, "INVALID_REQUEST", tc.first)
			}
		}
	})
	t.Run("QueryRefusedWhereNoneTaken", func(t *testing.T) {
		// A route that takes no parameters says so rather than answer
		// as if it had heard them; an unknown path is still 404.
		wantError(t, c.Do(t, "POST", "/api/v1/licenses/generate?valid_days=5", `{"end_customer_id":"q"}`), 400, "INVALID_REQUEST", "valid_days")
		wantError(t, c.Do(t, "GET", "/api/v1/customers/me?x=1", nil), 400, "INVALID_REQUEST", "x")
		wantStatus(t, c.Do(t, "GET", "/api/v1/nothing?x=1", nil), 404, "NOT_FOUND")
		// A trailing slash names no route: no wildcard matches an empty
		// segment.
		wantStatus(t, c.Do(t, "GET", "/api/v1/licenses/", nil), 404, "NOT_FOUND")
		wantStatus(t, c.Do(t, "GET", "/api/v1/quantum/keys/", nil), 404, "NOT_FOUND")
		wantStatus(t, c.Do(t, "GET", "/api/v1/customers/me?x=1", nil, "X-API-Key", ""), 401, "UNAUTHORIZED")
	})
	t.Run("EncodedSlashCountsOnce", func(t *testing.T) {
		// "%2F" decodes to a path not in canonical form, while the mux
		// matches the encoded one to a route: the route's own handler
		// must not run as well (it counted the request a second time,
		// and read a body of any size).
		_, slow := a.customer(t, quantumlock.PlanEnterprise, nil, ptr(int64(5)))
		wantStatus(t, slow.Do(t, "GET", "/api/v1/quantum/keys/a%2F%2Fb", nil), 404, "NOT_FOUND")
		// Not 405 either, for a method the encoded path's route lacks.
		wantStatus(t, slow.Do(t, "GET", "/api/v1/licenses/x%2F%2Fy/revoke", nil), 404, "NOT_FOUND")
		big := map[string]any{"reason": strings.Repeat("x", 2<<20)}
		wantStatus(t, slow.Do(t, "POST", "/api/v1/licenses/x%2F%2Fy/revoke", big), 404, "NOT_FOUND")
		r := slow.Do(t, "GET", "/api/v1/customers/me", nil)
		if got := r.Header.Get("X-RateLimit-Remaining"); got != "1" {
			t.Errorf("after four requests of five: X-RateLimit-Remaining %q, want 1", got)
		}
	})
	t.Run("EncodedSlashInBase", func(t *testing.T) {
		// The decoded path names a route, the path as written none: it is
		// an unknown path under the API, so 401 without a key (not the
		// route's 405, allowing the very method it refused) and counted
		// with one.
		for _, p := range []string{"/api%2Fv1/customers/me", "/api/v1%2fcustomers/me", "/api%2Fv1/quantum/keys"} {
			wantStatus(t, c.Do(t, "GET", p, nil, "X-API-Key", ""), 401, "UNAUTHORIZED")
		}
		_, slow := a.customer(t, quantumlock.PlanEnterprise, nil, ptr(int64(3)))
		wantStatus(t, slow.Do(t, "GET", "/api%2Fv1/customers/me", nil), 404, "NOT_FOUND")
		wantStatus(t, slow.Do(t, "GET", "/api/v1%2Fcustomers/me", nil), 404, "NOT_FOUND")
		r := slow.Do(t, "GET", "/api/v1/customers/me", nil)
		if got := r.Header.Get("X-RateLimit-Remaining"); got != "0" {
			t.Errorf("after three requests of three: X-RateLimit-Remaining %q, want 0", got)
		}
		// Outside the API it is any unknown path.
		wantStatus(t, c.Do(t, "GET", "/health%2F", nil), 404, "NOT_FOUND")
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		r := c.Do(t, "DELETE", "/api/v1/customers/me", nil)
		wantStatus(t, r, 405, "METHOD_NOT_ALLOWED")
		if r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("Allow %q", r.Header.Get("Allow"))
		}
		// A path a route names whose other methods a wildcard route
		// matches (GET /licenses/{license_key}) is that route's, not a
		// license key's: 405 allowing only its own methods.
		for _, tc := range []struct{ method, path, allow string }{
			{"GET", "/api/v1/licenses/generate", "POST"},
			{"HEAD", "/api/v1/licenses/validate", "POST"},
			{"PUT", "/api/v1/licenses/generate", "POST"},
			{"DELETE", "/api/v1/licenses/validate", "POST"},
			{"PUT", "/api/v1/quantum/keys", "GET, HEAD, POST"},
			{"DELETE", "/api/v1/licenses/QLOCK-0000-0000-0000", "GET, HEAD"},
			{"GET", "/api/v1/quantum/keys/k/rotate", "POST"},
		} {
			r := c.Do(t, tc.method, tc.path, nil)
			if r.Status != 405 || r.Header.Get("Allow") != tc.allow {
				t.Errorf("%s %s: %d, Allow %q, want 405 allowing %q", tc.method, tc.path, r.Status, r.Header.Get("Allow"), tc.allow)
			}
		}
		// Counted and authenticated first, as every 405.
		wantStatus(t, c.Do(t, "GET", "/api/v1/licenses/generate", nil, "X-API-Key", ""), 401, "UNAUTHORIZED")
	})
	t.Run("OneAPIKey", func(t *testing.T) {
		// Two X-API-Key headers are refused, in either order, even when
		// both are the same valid key: which one a proxy reads is
		// anyone's guess.
		for _, keys := range [][]string{{c.APIKey, "ql_live_unknown"}, {"ql_live_unknown", c.APIKey}, {c.APIKey, c.APIKey}} {
			r := c.Do(t, "GET", "/api/v1/customers/me", nil, "X-API-Key", keys[0], "+X-API-Key", keys[1])
			wantError(t, r, 401, "UNAUTHORIZED", "one X-API-Key")
		}
	})
	t.Run("Challenge", func(t *testing.T) {
		// RFC 9110: a 401 says which scheme to use.
		for _, key := range []string{"", "ql_live_unknown"} {
			r := c.Do(t, "GET", "/api/v1/customers/me", nil, "X-API-Key", key)
			if got := r.Header.Get("WWW-Authenticate"); got != `ApiKey header="X-API-Key"` {
				t.Errorf("401 with key %q: WWW-Authenticate %q", key, got)
			}
		}
		if got := c.Do(t, "GET", "/api/v1/customers/me", nil).Header.Get("WWW-Authenticate"); got != "" {
			t.Errorf("200 with WWW-Authenticate %q", got)
		}
	})
	t.Run("RequestIDEchoed", func(t *testing.T) {
		r := c.Do(t, "GET", "/api/v1/customers/me", nil, "X-Request-ID", "trace-42.a:b")
		if r.Header.Get("X-Request-ID") != "trace-42.a:b" {
			t.Errorf("X-Request-ID %q", r.Header.Get("X-Request-ID"))
		}
	})
	t.Run("RequestIDReplacedWhenInsane", func(t *testing.T) {
		r := c.Do(t, "GET", "/api/v1/customers/me", nil, "X-Request-ID", "bad id\twith spaces")
		if id := r.Header.Get("X-Request-ID"); id == "" || strings.ContainsAny(id, " \t") {
			t.Errorf("X-Request-ID %q", id)
		}
		r = c.Do(t, "GET", "/api/v1/customers/me", nil, "X-Request-ID", strings.Repeat("a", 129))
		if len(r.Header.Get("X-Request-ID")) > 128 {
			t.Error("overlong request id echoed")
		}
		// Two ids, each sane: neither, since a proxy in front may have
		// logged the other.
		r = c.Do(t, "GET", "/api/v1/customers/me", nil, "X-Request-ID", "proxy-1", "+X-Request-ID", "client-2")
		if id := r.Header.Get("X-Request-ID"); id == "proxy-1" || id == "client-2" || len(r.Header.Values("X-Request-ID")) != 1 {
			t.Errorf("two request ids answered with %q", r.Header.Values("X-Request-ID"))
		}
	})
	t.Run("RequestIDsUnique", func(t *testing.T) {
		seen := map[string]bool{}
		for range 20 {
			id := c.Do(t, "GET", "/health", nil).Header.Get("X-Request-ID")
			if seen[id] {
				t.Fatalf("request id %q repeated", id)
			}
			seen[id] = true
		}
	})
	t.Run("OpenAPI", func(t *testing.T) {
		r := c.Do(t, "GET", "/openapi.yaml", nil, "X-API-Key", "")
		if r.Status != 200 || !strings.HasPrefix(string(r.Body), "openapi: 3.1") {
			t.Errorf("openapi.yaml: %d %.40s", r.Status, r.Body)
		}
	})
	t.Run("AccessLogRoute", func(t *testing.T) {
		for _, tc := range []struct{ method, path, id, route string }{
			{"GET", "/api/v1/licenses/QLOCK-0000-0000-0000", "route-matched", "GET /api/v1/licenses/{license_key}"},
			{"GET", "/api/v1/nothing", "route-404", "unmatched"},
			{"DELETE", "/api/v1/customers/me", "route-405", "unmatched"},
			// Matched by the lookup's pattern, but no lookup: another
			// endpoint's wrong method.
			{"GET", "/api/v1/licenses/generate", "route-405-literal", "unmatched"},
		} {
			c.Do(t, tc.method, tc.path, nil, "X-Request-ID", tc.id)
			if got := a.logLine(t, tc.id)["route"]; got != tc.route {
				t.Errorf("%s %s logged route %v, want %q", tc.method, tc.path, got, tc.route)
			}
		}
	})
	t.Run("Health", func(t *testing.T) {
		r := c.Do(t, "GET", "/health", nil, "X-API-Key", "")
		if h := r.JSON(t); r.Status != 200 || h["status"] != "ok" || h["store"] != "ok" {
			t.Errorf("health %d %v", r.Status, h)
		}
	})
}

func TestHealthStoreDown(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.DB.Close()
	c := &apitest.Client{BaseURL: a.URL}
	r := c.Do(t, "GET", "/health", nil)
	if h := r.JSON(t); r.Status != http.StatusServiceUnavailable || h["store"] != "unavailable" {
		t.Errorf("health with a closed store: %d %v", r.Status, h)
	}
	// An error like any other: the error body too (SPEC §4).
	wantError(t, r, http.StatusServiceUnavailable, "INTERNAL_ERROR", "store")
	if h := r.JSON(t); h["request_id"] != r.Header.Get("X-Request-ID") {
		t.Errorf("request_id %v, X-Request-ID %q", h["request_id"], r.Header.Get("X-Request-ID"))
	}
}

// writesFailing is a store that answers but whose writes failed lately.
type writesFailing struct {
	httpapi.Pinger
	at time.Time
}

func (w writesFailing) WriteFailure() (string, time.Time) { return "disk_full", w.at }

// A store that reads but whose writes fail (a full disk) is 200 degraded,
// not "ok": it still validates, and a monitor learns what failed and when.
func TestHealthWritesFailing(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	d := a.Deps
	d.Store = writesFailing{a.DB, time.Date(2026, 3, 15, 11, 59, 30, 0, time.UTC)}
	srv := httptest.NewServer(httpapi.NewServer(d))
	t.Cleanup(srv.Close)
	r := (&apitest.Client{BaseURL: srv.URL}).Do(t, "GET", "/health", nil)
	h := r.JSON(t)
	if r.Status != http.StatusOK || h["status"] != "degraded" || h["store"] != "writes_failing" ||
		h["store_error"] != "disk_full" || h["last_write_failure"] != "2026-03-15T11:59:30Z" {
		t.Errorf("health with failing writes: %d %v", r.Status, h)
	}
	// The real store, whose writes succeed, is "ok" without the fields.
	r = (&apitest.Client{BaseURL: a.URL}).Do(t, "GET", "/health", nil)
	if h := r.JSON(t); h["status"] != "ok" || len(h) != 3 {
		t.Errorf("health: %v", h)
	}
}

// openapi.yaml: every GET route also answers HEAD, with the same status
// and headers and no body; a route without GET answers HEAD 405.
func TestHeadAnswersAsGet(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	key := generate(t, c, `{"end_customer_id":"x"}`)["license_key"].(string)
	for _, p := range []string{"/health", "/openapi.yaml", "/api/v1/customers/me", "/api/v1/customers/stats",
		"/api/v1/licenses?limit=5", "/api/v1/licenses/" + key, "/api/v1/licenses/QLOCK-0000-0000-0000", "/api/v1/quantum/keys"} {
		get := c.Do(t, "GET", p, nil)
		head := c.Do(t, "HEAD", p, nil)
		if head.Status != get.Status || len(head.Body) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes, GET %d", p, head.Status, len(head.Body), get.Status)
		}
		for _, h := range []string{"Content-Type", "X-RateLimit-Limit", "Cache-Control"} {
			if head.Header.Get(h) != get.Header.Get(h) {
				t.Errorf("HEAD %s: %s %q, GET %q", p, h, head.Header.Get(h), get.Header.Get(h))
			}
		}
	}
	r := c.Do(t, "HEAD", "/api/v1/quantum/crypto/encrypt", nil)
	if r.Status != 405 || !strings.Contains(r.Header.Get("Allow"), "POST") {
		t.Errorf("HEAD on a POST route: %d, Allow %q", r.Status, r.Header.Get("Allow"))
	}
}

// The month is the UTC calendar's: half an hour before March ends in UTC
// (already April on the test clock's zone, an hour east), the stats still
// count March.
func TestStatsMonthIsUTC(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.Clock.Set(time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC))
	_, c := a.customer(t, quantumlock.PlanStartup, nil, nil)
	generate(t, c, `{"end_customer_id":"x"}`)
	st := call(t, c, "GET", "/api/v1/customers/stats", nil, http.StatusOK)
	if st["period_resets_at"] != "2026-04-01T00:00:00Z" || st["licenses_generated_month"] != 1.0 {
		t.Errorf("stats at 23:30 UTC on March 31: %v", st)
	}
}

// TestAssignedRequestIDsCountNothing: the ids the service assigns are
// answered to every caller, so they must not count requests: with a
// counter in them, two of one customer's ids would tell how many requests
// all the others made in between (SPEC §3: no customer sees another's
// activity). They are unique, and consecutive ones share nothing.
func TestAssignedRequestIDsCountNothing(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, alice := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, bob := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	seen := map[string]bool{}
	prev := ""
	for i := range 20 {
		bob.Do(t, "GET", "/api/v1/customers/stats", nil)
		id := alice.Do(t, "GET", "/api/v1/customers/me", nil).Header.Get("X-Request-ID")
		if seen[id] || id == "" {
			t.Fatalf("request id %q repeated or missing", id)
		}
		seen[id] = true
		// A counter in any encoding leaves consecutive ids alike in most
		// places; enciphered ones agree in about one in sixteen.
		if i > 0 {
			same := 0
			for j := range min(len(id), len(prev)) {
				if id[j] == prev[j] {
					same++
				}
			}
			if len(id) < 16 || same > len(id)/2 {
				t.Fatalf("consecutive request ids %q and %q agree in %d of %d places", prev, id, same, len(id))
			}
		}
		prev = id
	}
}
