package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/httpapi"
)

// FuzzAPI sends each route requests the fuzzer shapes (method, path
// suffix, query, body, Content-Type, Content-Encoding, X-Request-ID), with
// customer A's key, none or an unknown one, and checks what every answer
// must be, whatever was sent: no 5xx but 503; on an error, the SPEC §4
// body with the response's request id and the status its code names; a
// refusal given again to the same request; and customer B's license and
// key as they were. go test runs the seeds; go test -fuzz FuzzAPI
// explores.
func FuzzAPI(f *testing.F) {
	a := newTestAPI(f)
	deps := a.Deps
	deps.Metrics = nil
	h := httpapi.NewServer(deps)
	ctx := context.Background()
	// Limits the fuzzer cannot reach in a minute of the test's clock.
	many := int64(1) << 40
	keyOf := func(name string) string {
		c := &quantumlock.Customer{Name: name, Email: name + "@example.com", Plan: quantumlock.PlanEnterprise, RequestsPerMinute: &many}
		key, err := a.Accounts.CreateCustomer(ctx, c)
		if err != nil {
			f.Fatal(err)
		}
		return key
	}
	keyA, keyB := keyOf("a"), keyOf("b")
	do := func(method, target, key, body string) (int, map[string]any) {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("X-API-Key", key)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	made := func(key, path, body, field string) string {
		status, m := do("POST", path, key, body)
		v, _ := m[field].(string)
		if status >= 300 || v == "" {
			f.Fatalf("POST %s: %d %v", path, status, m)
		}
		return v
	}
	// Names in routes and bodies that stand for objects made here: A's
	// own, and B's, which A must find exactly as missing ones.
	names := strings.NewReplacer(
		"$LIC", made(keyA, "/api/v1/licenses/generate", `{"end_customer_id":"e"}`, "license_key"),
		"$AES", made(keyA, "/api/v1/quantum/keys", `{"algorithm":"AES-256-GCM"}`, "key_id"),
		"$ED", made(keyA, "/api/v1/quantum/keys", `{"algorithm":"Ed25519","exportable":true}`, "key_id"),
		"$BLIC", made(keyB, "/api/v1/licenses/generate", `{"end_customer_id":"b"}`, "license_key"),
		"$BKEY", made(keyB, "/api/v1/quantum/keys", `{"algorithm":"Ed25519"}`, "key_id"),
	)
	bLicense, bKey := names.Replace("$BLIC"), names.Replace("$BKEY")
	routes := []struct{ method, path, seed string }{
		{"GET", "/health", ""},
		{"POST", "/api/v1/licenses/generate", `{"end_customer_id":"x","features":["a"],"valid_days":30,"metadata":{"k":[1,2.5,"s",null]}}`},
		{"POST", "/api/v1/licenses/validate", `{"license_key":"$LIC","end_customer_id":"e"}`},
		{"POST", "/api/v1/licenses/validate", `{"license_key":"$BLIC","end_customer_id":"b"}`},
		{"GET", "/api/v1/licenses", ""},
		{"GET", "/api/v1/licenses/$LIC", ""},
		{"GET", "/api/v1/licenses/$BLIC", ""},
		{"POST", "/api/v1/licenses/$BLIC/revoke", `{"reason":"x"}`},
		{"GET", "/api/v1/customers/me", ""},
		{"GET", "/api/v1/customers/stats", ""},
		{"GET", "/api/v1/quantum/health", ""},
		{"POST", "/api/v1/quantum/entropy", `{"bits":13,"encoding":"base64"}`},
		{"POST", "/api/v1/quantum/keys", `{"algorithm":"ChaCha20-Poly1305","label":"l"}`},
		{"GET", "/api/v1/quantum/keys", ""},
		{"GET", "/api/v1/quantum/keys/$AES", ""},
		{"POST", "/api/v1/quantum/keys/$BKEY/rotate", ""},
		{"DELETE", "/api/v1/quantum/keys/$BKEY", ""},
		{"GET", "/api/v1/quantum/keys/$ED/export", ""},
		{"POST", "/api/v1/quantum/crypto/encrypt", `{"plaintext":"aGVsbG8=","key_id":"$AES","aad":"YQ=="}`},
		{"POST", "/api/v1/quantum/crypto/decrypt", `{"ciphertext":"aGVsbG8=","key_id":"$AES","iv":"AAAAAAAAAAAAAAAA","tag":"AAAAAAAAAAAAAAAAAAAAAA=="}`},
		{"POST", "/api/v1/quantum/crypto/sign", `{"message":"aGVsbG8=","key_id":"$ED"}`},
		{"POST", "/api/v1/quantum/crypto/sign", `{"message":"aGVsbG8=","key_id":"$BKEY"}`},
		{"POST", "/api/v1/quantum/crypto/verify", `{"message":"aGVsbG8=","signature":"AAAA","key_id":"$ED"}`},
		{"POST", "/api/v1/quantum/crypto/key-exchange", `{"algorithm":"X25519"}`},
	}
	for i, rt := range routes {
		f.Add(uint8(i), uint8(0), "", "", rt.seed, "application/json", "", "")
	}
	f.Add(uint8(4), uint8(0), "", "skip=1&limit=2&status=active", "", "", "", "rid-1")
	f.Add(uint8(1), uint8(1), "/x", "a=b", `{"end_customer_id":"x"}`, "application/json; charset=latin1", "gzip", "")
	f.Add(uint8(5), uint8(8), "/../$BLIC", "", "", "", "", "")

	f.Fuzz(func(t *testing.T, route, mode uint8, suffix, query, body, contentType, contentEncoding, requestID string) {
		rt := routes[int(route)%len(routes)]
		method := [...]string{rt.method, "PUT", "POST", "GET"}[mode%4]
		target := names.Replace(rt.path + suffix)
		if query != "" {
			target += "?" + names.Replace(query)
		}
		body = names.Replace(body)
		if strings.Contains(body, "RSA") {
			t.Skip("RSA key generation takes seconds")
		}
		key := [...]string{keyA, "", "ql_live_unknown"}[mode/4%3]
		send := func() (*http.Response, []byte) {
			r, err := http.NewRequest(method, "http://api.test"+target, strings.NewReader(body))
			if err != nil {
				t.Skip("not a request:", err)
			}
			for name, v := range map[string]string{"X-API-Key": key, "Content-Type": contentType, "Content-Encoding": contentEncoding, "X-Request-ID": requestID} {
				if v == "" {
					continue
				}
				if strings.ContainsFunc(v, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
					t.Skip("not a header value")
				}
				r.Header.Set(name, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			res := w.Result()
			b, _ := io.ReadAll(res.Body)
			return res, b
		}
		res, b := send()
		if res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %q %q: %d %s", method, target, body, res.StatusCode, b)
		}
		id := res.Header.Get("X-Request-Id")
		if id == "" {
			t.Fatalf("%s %q: no X-Request-ID", method, target)
		}
		if res.StatusCode >= 400 && target != "/health" && method != http.MethodHead {
			var e map[string]string
			if err := json.Unmarshal(b, &e); err != nil || len(e) != 4 || e["detail"] == "" || e["request_id"] != id || !strings.HasSuffix(e["timestamp"], "Z") {
				t.Fatalf("%s %q %q: %d, not the error body: %s", method, target, body, res.StatusCode, b)
			}
			if want := statusOfCode(e["code"]); want != res.StatusCode {
				t.Fatalf("%s %q %q: %d with code %s", method, target, body, res.StatusCode, e["code"])
			}
			// A refusal changed nothing: the same request is refused the
			// same way again.
			if res.StatusCode < 500 && res.StatusCode != http.StatusTooManyRequests {
				res2, b2 := send()
				var e2 map[string]string
				json.Unmarshal(b2, &e2)
				if res2.StatusCode != res.StatusCode || e2["code"] != e["code"] || e2["detail"] != e["detail"] {
					t.Fatalf("%s %q %q: %d %s, then %d %s", method, target, body, res.StatusCode, b, res2.StatusCode, b2)
				}
			}
		}
		// Nothing A sends reaches B's objects.
		if status, m := do("GET", "/api/v1/licenses/"+bLicense, keyB, ""); status != 200 || m["status"] != "active" {
			t.Fatalf("after %s %q %q: B's license %d %v", method, target, body, status, m)
		}
		if status, m := do("GET", "/api/v1/quantum/keys/"+bKey, keyB, ""); status != 200 || m["version"] != float64(1) {
			t.Fatalf("after %s %q %q: B's key %d %v", method, target, body, status, m)
		}
	})
}

// statusOfCode is the status SPEC §4 gives each error code.
func statusOfCode(code string) int {
	switch code {
	case "INVALID_REQUEST", "DECRYPTION_FAILED":
		return 400
	case "UNAUTHORIZED":
		return 401
	case "FORBIDDEN":
		return 403
	case "NOT_FOUND":
		return 404
	case "METHOD_NOT_ALLOWED":
		return 405
	case "CONFLICT":
		return 409
	case "PAYLOAD_TOO_LARGE":
		return 413
	case "UNSUPPORTED_MEDIA_TYPE":
		return 415
	case "RATE_LIMIT_EXCEEDED":
		return 429
	case "QUANTUM_BACKEND_UNAVAILABLE":
		return 503
	}
	return -1
}
