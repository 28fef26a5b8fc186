package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/apitest"
)

// TestOpenAPICoversRoutes fails when a registered route is missing from
// openapi.yaml, or the description lists an operation no route serves.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc, _ := apitest.Doc(t)
	registered := map[string]bool{}
	for _, p := range httpapi.RoutePatterns() {
		method, path, _ := strings.Cut(p, " ")
		registered[method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %q is not in openapi.yaml", p)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !registered[method+" "+path] {
				t.Errorf("openapi.yaml describes %s %s, which no route serves", method, path)
			}
		}
	}
	if !slices.Contains(httpapi.RoutePatterns(), "GET /health") {
		t.Error("RoutePatterns is missing GET /health")
	}
}

// The request schemas in openapi.yaml and the server agree at every
// bound: a request the description allows is not refused as
// INVALID_REQUEST, and one it refuses is 400 INVALID_REQUEST. Each field
// is tried at its limit and just past it.
func TestOpenAPIRequestBoundsAgree(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, rt := apitest.Doc(t)
	x := strings.Repeat
	feats := func(n int, f string) string { return `["` + strings.TrimSuffix(x(f+`","`, n), `","`) + `"]` }
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	decrypt := func(version string) string {
		return `{"ciphertext":"AAAA","key_id":"key_000000000000000000000000","iv":"` + b64(12) + `","tag":"` + b64(16) + `","key_version":` + version + `}`
	}
	for _, tc := range []struct {
		method, path, body string
		allowed            bool
	}{
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"` + x("e", 256) + `"}`, true},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"` + x("e", 257) + `"}`, false},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":""}`, false},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"e","valid_days":3650}`, true},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"e","valid_days":3651}`, false},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"e","valid_days":0}`, false},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"e","features":` + feats(64, x("f", 64)) + `}`, true},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"e","features":` + feats(65, "f") + `}`, false},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"e","features":` + feats(1, x("f", 65)) + `}`, false},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"e","features":[""]}`, false},
		{"POST", "/api/v1/licenses/validate", `{"license_key":"QLOCK-0000-0000-0000","end_customer_id":"` + x("e", 256) + `"}`, true},
		{"POST", "/api/v1/licenses/validate", `{"license_key":"QLOCK-0000-0000-0000","end_customer_id":"` + x("e", 257) + `"}`, false},
		{"GET", "/api/v1/licenses?limit=1000&skip=0", "", true},
		{"GET", "/api/v1/licenses?limit=1001", "", false},
		{"GET", "/api/v1/licenses?limit=0", "", false},
		{"GET", "/api/v1/licenses?skip=-1", "", false},
		{"POST", "/api/v1/quantum/entropy", `{"bits":4096,"encoding":"raw"}`, true},
		{"POST", "/api/v1/quantum/entropy", `{"bits":4097}`, false},
		{"POST", "/api/v1/quantum/entropy", `{"bits":0}`, false},
		{"POST", "/api/v1/quantum/crypto/decrypt", decrypt("1"), true},
		{"POST", "/api/v1/quantum/crypto/decrypt", decrypt("0"), false},
		{"POST", "/api/v1/quantum/crypto/encrypt", `{"plaintext":"aGk=","key_id":""}`, false},
		{"POST", "/api/v1/quantum/crypto/key-exchange", `{"key_bits":128}`, true},
		{"POST", "/api/v1/quantum/crypto/key-exchange", `{"key_bits":100}`, false},
		{"POST", "/api/v1/quantum/crypto/key-exchange", `{"session_id":""}`, false},
		{"POST", "/api/v1/quantum/crypto/key-exchange", `{"peer_public_key":""}`, false},
		{"POST", "/api/v1/quantum/crypto/verify", `{"message":"","signature":"AAAA","quantum_nonce":"AAAA","public_key":""}`, false},
		{"POST", "/api/v1/quantum/crypto/verify", `{"message":"","signature":"AAAA","quantum_nonce":"AAAA","key_id":""}`, false},
		{"POST", "/api/v1/quantum/crypto/sign", `{"message":"aGk=","key_id":""}`, false},
		{"POST", "/api/v1/quantum/rsa", `{"bits":2048}`, true},
		{"POST", "/api/v1/quantum/rsa", `{"bits":1024}`, false},
	} {
		name := tc.method + " " + tc.path + " " + tc.body
		if len(name) > 120 {
			name = name[:120] + "…"
		}
		req, err := http.NewRequest(tc.method, a.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		route, params, err := rt.FindRoute(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		})
		if allowed := err == nil; allowed != tc.allowed {
			t.Errorf("%s: openapi.yaml allows it: %v, want %v (%v)", name, allowed, tc.allowed, err)
		}
		var body any
		if tc.body != "" {
			body = tc.body
		}
		r := c.Do(t, tc.method, tc.path, body)
		refused := r.Status == 400 && r.JSON(t)["code"] == "INVALID_REQUEST"
		if refused == tc.allowed {
			t.Errorf("%s: the server answered %d %s", name, r.Status, r.Body)
		}
	}
}
