package httpapi_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/quantumlock/quantumlock"
)

// pemKey parses the single PEM block of s with the given type.
func pemKey(t *testing.T, s any, typ string, parse func([]byte) (any, error)) any {
	t.Helper()
	str, _ := s.(string)
	block, rest := pem.Decode([]byte(str))
	if block == nil || block.Type != typ || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("not one PEM %s block: %q", typ, s)
	}
	k, err := parse(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRSA(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)

	for _, exportable := range []bool{false, true} {
		name := map[bool]string{false: "NotExportable", true: "Exportable"}[exportable]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k := call(t, c, "POST", "/api/v1/quantum/rsa", map[string]any{"bits": 2048, "exportable": exportable, "label": "releases"}, http.StatusCreated)
			pub := pemKey(t, k["public_key"], "PUBLIC KEY", func(b []byte) (any, error) { return x509.ParsePKIXPublicKey(b) }).(*rsa.PublicKey)
			if pub.N.BitLen() != 2048 || k["bits"] != 2048.0 || k["algorithm"] != "RSA-2048" || k["exportable"] != exportable ||
				k["quantum_secured"] != false || k["created_at"] != timeString(a.Clock.Now()) {
				t.Fatalf("rsa %v", k)
			}
			priv, has := k["private_key"]
			if has != exportable {
				t.Fatalf("exportable %v but private_key present %v", exportable, has)
			}
			if exportable {
				sk := pemKey(t, priv, "PRIVATE KEY", x509.ParsePKCS8PrivateKey).(*rsa.PrivateKey)
				if !sk.PublicKey.Equal(pub) {
					t.Fatal("private_key does not match public_key")
				}
			}
			// It is a managed SHA3-512-RSA signing key like any other.
			mk := call(t, c, "GET", "/api/v1/quantum/keys/"+k["key_id"].(string), nil, http.StatusOK)
			if mk["algorithm"] != "RSA-2048" || mk["purpose"] != "signing" || mk["public_key"] != k["public_key"] || mk["label"] != "releases" {
				t.Fatalf("managed key %v", mk)
			}
			s := call(t, c, "POST", signPath, map[string]any{"message": b64([]byte("release 1.0")), "key_id": k["key_id"]}, http.StatusOK)
			if s["algorithm"] != "SHA3-512-RSA" || !verifyOutside(t, s, []byte("release 1.0")) {
				t.Fatalf("sign with the RSA key %v", s)
			}
			exp := c.Do(t, "GET", "/api/v1/quantum/keys/"+k["key_id"].(string)+"/export", nil)
			if exportable {
				wantStatus(t, exp, http.StatusOK, "")
				if exp.JSON(t)["key"] != priv {
					t.Fatal("export differs from the private_key returned at creation")
				}
			} else {
				wantStatus(t, exp, http.StatusForbidden, "FORBIDDEN")
			}
		})
	}

	for name, tc := range map[string]struct{ body, detail string }{
		"ErrBits1024":     {`{"bits":1024}`, "bits"},
		"ErrBits3000":     {`{"bits":3000}`, "bits"},
		"ErrBitsZero":     {`{"bits":0}`, "bits"},
		"ErrBitsType":     {`{"bits":"2048"}`, "bits"},
		"ErrLabelTooLong": {`{"bits":2048,"label":"` + strings.Repeat("x", 257) + `"}`, "label"},
		"ErrUnknownField": {`{"bits":2048,"e":3}`, "e"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantError(t, c.Do(t, "POST", "/api/v1/quantum/rsa", tc.body), 400, "INVALID_REQUEST", tc.detail)
		})
	}
}

// A customer at its key limit is refused RSA generation before the gate
// (docs/crypto.md: it "checks it before it spends the CPU"): many
// concurrent requests with room for one at a time are all 403, none is
// told the gate is full.
func TestRSAKeyLimitBeforeGate(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	c = atKeyLimit(t, a, c, 1)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			wantError(t, c.Do(t, "POST", "/api/v1/quantum/rsa", map[string]any{"bits": 4096}), 403, "FORBIDDEN", "at most 1 keys")
		})
	}
	wg.Wait()
}
