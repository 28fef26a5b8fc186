package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/account"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/apitest"
	"github.com/quantumlock/quantumlock/keyring"
	"github.com/quantumlock/quantumlock/license"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/ratelimit"
	"github.com/quantumlock/quantumlock/sqlite"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now is the set time in a zone an hour east of UTC, so that every time
// the API answers is checked to be turned into UTC ("Z", SPEC §4) and no
// rule reads a local calendar.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.In(eastOfUTC)
}

var eastOfUTC = time.FixedZone("UTC+1", 3600)

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// logBuffer collects the server's log lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logLine returns the access-log line of the request with the given id.
func (a *testAPI) logLine(t *testing.T, requestID string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(a.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" && m["request_id"] == requestID {
			return m
		}
	}
	t.Fatalf("no access-log line for request %q", requestID)
	return nil
}

// testAPI is the API on a fresh SQLite store behind a loopback server.
type testAPI struct {
	URL      string
	DBPath   string
	DB       *sqlite.DB
	Accounts *account.Service
	Clock    *clock
	Master   *masterkey.Key
	Logs     *logBuffer   // the server's log, JSON lines
	Deps     httpapi.Deps // what the server was built from
}

func newTestAPI(t testing.TB) *testAPI {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "api.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{t: time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)}
	mk := masterkey.Generate()
	rnd, err := entropy.New(entropy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	accounts := &account.Service{Customers: db, Keys: db, Rand: rnd, Now: clk.Now}
	licenses := &license.Service{Store: db, Rand: rnd, Now: clk.Now,
		Secret: license.Secrets(mk)}
	keys, err := keyring.New(keyring.Config{Keys: db, Nonces: db, Exchanges: db, Randomness: rnd, MasterKey: mk, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	deps := httpapi.Deps{
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		Accounts: accounts, Licenses: licenses, Entropy: rnd, Keyring: keys, Limiter: ratelimit.NewMemory(),
		Store: db, Now: clk.Now, Metrics: httpapi.NewMetrics(),
	}
	srv := httptest.NewServer(httpapi.NewServer(deps))
	t.Cleanup(srv.Close)
	return &testAPI{URL: srv.URL, DBPath: path, DB: db, Accounts: accounts, Clock: clk, Master: mk, Logs: logs, Deps: deps}
}

// serveKeyring serves a's API, without metrics, with a keyring made from
// cfg on a's store, master key and clock (and a's entropy unless cfg names
// other randomness), and returns the server's URL.
func (a *testAPI) serveKeyring(t *testing.T, cfg keyring.Config) string {
	t.Helper()
	cfg.Keys, cfg.Nonces, cfg.Exchanges, cfg.MasterKey, cfg.Clock = a.DB, a.DB, a.DB, a.Master, a.Clock.Now
	if cfg.Randomness == nil {
		cfg.Randomness = a.Deps.Entropy
	}
	keys, err := keyring.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deps := a.Deps
	deps.Keyring, deps.Metrics = keys, nil
	srv := httptest.NewServer(httpapi.NewServer(deps))
	t.Cleanup(srv.Close)
	return srv.URL
}

// customer creates a customer and returns a client holding its API key.
func (a *testAPI) customer(t *testing.T, plan quantumlock.Plan, lpm, rpm *int64) (*quantumlock.Customer, *apitest.Client) {
	t.Helper()
	c := &quantumlock.Customer{Name: "Vendor", Email: "ops@vendor.example", Plan: plan, LicensesPerMonth: lpm, RequestsPerMinute: rpm}
	secret, err := a.Accounts.CreateCustomer(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return c, &apitest.Client{BaseURL: a.URL, APIKey: secret}
}

func ptr[T any](v T) *T { return &v }

func wantStatus(t *testing.T, r *apitest.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if code != "" {
		if got := r.JSON(t)["code"]; got != code {
			t.Fatalf("code %v, want %s: %s", got, code, r.Body)
		}
	}
}

func generate(t *testing.T, c *apitest.Client, body any) map[string]any {
	t.Helper()
	r := c.Do(t, "POST", "/api/v1/licenses/generate", body)
	wantStatus(t, r, http.StatusCreated, "")
	return r.JSON(t)
}

// call sends a request, wants status, and returns the JSON body.
func call(t *testing.T, c *apitest.Client, method, path string, body any, status int) map[string]any {
	t.Helper()
	r := c.Do(t, method, path, body)
	wantStatus(t, r, status, "")
	return r.JSON(t)
}

// wantError wants an error with status and code whose detail contains
// detail (the field it names), and returns the detail.
func wantError(t *testing.T, r *apitest.Response, status int, code, detail string) string {
	t.Helper()
	wantStatus(t, r, status, code)
	d, _ := r.JSON(t)["detail"].(string)
	if !strings.Contains(d, detail) {
		t.Fatalf("detail %q does not name %q", d, detail)
	}
	return d
}

// b64 encodes b as standard base64, as the API's binary fields are.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// unb64 decodes a base64 field of a response, failing the test otherwise.
func unb64(t *testing.T, v any) []byte {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%v is not a string", v)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("%q is not base64: %v", s, err)
	}
	return b
}

// TestRevokedKeyTakesUnknownKeysPath: a revoked API key and an unknown
// one are refused on the same path, so that no one holding an old key can
// tell by timing that it once was valid: both read the database, neither
// is answered from the authentication cache (seen through its counters).
func TestRevokedKeyTakesUnknownKeysPath(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ctx := context.Background()
	c, cl := a.customer(t, quantumlock.PlanFree, nil, nil)
	keys, err := a.DB.APIKeys(ctx, c.ID)
	if err != nil || len(keys) != 1 {
		t.Fatal(keys, err)
	}
	if _, err := a.DB.RevokeAPIKey(ctx, keys[0].ID, a.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	count := func(secret string) (hits, misses int64) {
		h0, m0, on := a.DB.AuthCacheStats()
		if !on {
			t.Skip("auth cache off")
		}
		for range 10 {
			if _, err := a.Accounts.Authenticate(ctx, secret); quantumlock.ErrorCode(err) != quantumlock.EUNAUTHORIZED {
				t.Fatalf("Authenticate = %v", err)
			}
		}
		h1, m1, _ := a.DB.AuthCacheStats()
		return h1 - h0, m1 - m0
	}
	rh, rm := count(cl.APIKey)
	uh, um := count("ql_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	t.Logf("revoked key: %d cache hits, %d misses; unknown key: %d hits, %d misses", rh, rm, uh, um)
	if rh != uh || rm != um {
		t.Errorf("a revoked key is refused on another path than an unknown one (revoked: %d hits/%d DB reads; unknown: %d hits/%d DB reads)", rh, rm, uh, um)
	}
}
