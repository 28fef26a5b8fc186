package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/account"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/license"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/ratelimit"
	"github.com/quantumlock/quantumlock/sqlite"
)

// The benchmarks below drive the licensing hot paths through the whole
// handler stack that `quantumlock serve` runs: access log (JSON, to
// io.Discard so the encoding cost stays in), panic recovery, routing, body
// limit, authentication against SQLite, the per-minute limiter, strict JSON
// decoding, the license service and a real SQLite file in WAL mode. They
// measure; they never assert a timing. Results are in docs/benchmarks.md.

// benchSeed is how many licenses the validate benchmarks pick from.
const benchSeed = 1000

// benchEnv is a server on a fresh database with one enterprise customer
// whose per-minute limit and monthly quota cannot interfere.
type benchEnv struct {
	handler http.Handler
	apiKey  string
	keys    []string // seeded license keys, all for end customer "ec-bench"
}

func newBenchEnv(b *testing.B, seed int) *benchEnv {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })

	mk := masterkey.Generate()
	var rnd quantumlock.Randomness = entropy.System{}
	now := quantumlock.SystemClock
	accounts := &account.Service{Customers: db, Keys: db, Rand: rnd, Now: now}
	licenses := &license.Service{Store: db, Rand: rnd, Now: now, Secret: license.Secrets(mk)}

	rpm, unlimited := int64(1_000_000_000), int64(0)
	c := &quantumlock.Customer{Name: "Bench Vendor", Email: "bench@example.com", Plan: quantumlock.PlanEnterprise,
		RequestsPerMinute: &rpm, LicensesPerMonth: &unlimited}
	apiKey, err := accounts.CreateCustomer(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	env := &benchEnv{apiKey: apiKey}
	for range seed {
		l, _, err := licenses.Generate(ctx, c, license.Params{EndCustomerID: "ec-bench", Features: []string{"pro", "sso"}})
		if err != nil {
			b.Fatal(err)
		}
		env.keys = append(env.keys, l.Key)
	}
	env.handler = httpapi.NewServer(httpapi.Deps{
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Accounts: accounts, Licenses: licenses,
		Limiter: ratelimit.NewMemory(), Store: db, Now: now,
	})
	return env
}

func (e *benchEnv) request(path string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-API-Key", e.apiKey)
	return r
}

// validateBodies returns one request body per seeded key.
func (e *benchEnv) validateBodies(b *testing.B) [][]byte {
	bodies := make([][]byte, len(e.keys))
	for i, k := range e.keys {
		var err error
		bodies[i], err = json.Marshal(map[string]string{"license_key": k, "end_customer_id": "ec-bench"})
		if err != nil {
			b.Fatal(err)
		}
	}
	return bodies
}

var generateBody = []byte(`{"end_customer_id":"ec-bench","features":["pro","sso"],"valid_days":365}`)

// checkValid fails the benchmark unless rec is a 200 with "valid":true, so
// a broken path cannot pass for a fast one.
func checkValid(b *testing.B, rec *httptest.ResponseRecorder) {
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"valid":true`)) {
		b.Fatalf("validate: status %d body %s", rec.Code, rec.Body.Bytes())
	}
}

// BenchmarkValidate is one validate request at a time through the handler
// (httptest.ResponseRecorder, no network): the per-request CPU and
// allocation cost.
func BenchmarkValidate(b *testing.B) {
	e := newBenchEnv(b, benchSeed)
	bodies := e.validateBodies(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, e.request("/api/v1/licenses/validate", bodies[i%len(bodies)]))
		checkValid(b, rec)
	}
}

// BenchmarkValidateParallel is validate from GOMAXPROCS goroutines at once
// (b.RunParallel), showing how the read pool and the handler scale.
func BenchmarkValidateParallel(b *testing.B) {
	e := newBenchEnv(b, benchSeed)
	bodies := e.validateBodies(b)
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, e.request("/api/v1/licenses/validate", bodies[next.Add(1)%uint64(len(bodies))]))
			checkValid(b, rec)
		}
	})
}

// BenchmarkGenerate is one generate request at a time through the handler:
// entropy, signing, and one IMMEDIATE SQLite transaction (quota bump and
// insert) per request.
func BenchmarkGenerate(b *testing.B) {
	e := newBenchEnv(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, e.request("/api/v1/licenses/generate", generateBody))
		if rec.Code != http.StatusCreated {
			b.Fatalf("generate: status %d body %s", rec.Code, rec.Body.Bytes())
		}
	}
}

// BenchmarkGenerateParallel is generate from GOMAXPROCS goroutines at once:
// the single writer connection serialises the transactions.
func BenchmarkGenerateParallel(b *testing.B) {
	e := newBenchEnv(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, e.request("/api/v1/licenses/generate", generateBody))
			if rec.Code != http.StatusCreated {
				b.Fatalf("generate: status %d body %s", rec.Code, rec.Body.Bytes())
			}
		}
	})
}

// BenchmarkValidateLoopback is validate over a real loopback connection
// (httptest.Server, one keep-alive client connection): adds net/http's
// server and client costs to BenchmarkValidate.
func BenchmarkValidateLoopback(b *testing.B) {
	e := newBenchEnv(b, benchSeed)
	bodies := e.validateBodies(b)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	client := srv.Client()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/licenses/validate", bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", e.apiKey)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"valid":true`)) {
			b.Fatalf("validate: status %d err %v body %s", resp.StatusCode, err, body)
		}
	}
}
