package httpapi_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha3"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cloudflare/circl/pki"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/quantumlock/quantumlock"
)

const (
	signPath   = "/api/v1/quantum/crypto/sign"
	verifyPath = "/api/v1/quantum/crypto/verify"
)

// verifyOutside checks a sign response with the plain library verifiers,
// over quantum_nonce‖message as docs/crypto.md says: the service's
// signatures are ordinary ones.
func verifyOutside(t *testing.T, s map[string]any, message []byte) bool {
	t.Helper()
	data := append(unb64(t, s["quantum_nonce"]), message...)
	sig := unb64(t, s["signature"])
	var keys []any
	rest := []byte(s["public_key"].(string))
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			if k, err = pki.UnmarshalPKIXPublicKey(block.Bytes); err != nil {
				t.Fatalf("public_key block: %v", err)
			}
		}
		keys = append(keys, k)
	}
	switch s["algorithm"] {
	case "SHA3-512-RSA":
		digest := sha3.Sum512(data)
		return rsa.VerifyPSS(keys[0].(*rsa.PublicKey), crypto.SHA3_512, digest[:], sig, &rsa.PSSOptions{SaltLength: 64}) == nil
	case "Ed25519":
		return ed25519.Verify(keys[0].(ed25519.PublicKey), data, sig)
	case "ML-DSA-65":
		return mldsa65.Verify(keys[0].(*mldsa65.PublicKey), data, nil, sig)
	case "Ed25519+ML-DSA-65":
		return len(sig) == ed25519.SignatureSize+mldsa65.SignatureSize &&
			ed25519.Verify(keys[0].(ed25519.PublicKey), data, sig[:ed25519.SignatureSize]) &&
			mldsa65.Verify(keys[1].(*mldsa65.PublicKey), data, nil, sig[ed25519.SignatureSize:])
	}
	t.Fatalf("algorithm %v", s["algorithm"])
	return false
}

// verifyBody is the verify request for a sign response by key_id.
func verifyBody(s map[string]any, message []byte) map[string]any {
	return map[string]any{"message": b64(message), "signature": s["signature"], "quantum_nonce": s["quantum_nonce"], "key_id": s["key_id"]}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	message := []byte("message to sign")

	for _, tc := range []struct{ keyAlg, sigAlg string }{
		{"RSA-2048", "SHA3-512-RSA"},
		{"Ed25519", "Ed25519"},
		{"ML-DSA-65", "ML-DSA-65"},
		{"Ed25519+ML-DSA-65", "Ed25519+ML-DSA-65"},
	} {
		t.Run(tc.sigAlg, func(t *testing.T) {
			t.Parallel()
			k := createKey(t, c, map[string]any{"algorithm": tc.keyAlg})
			s := call(t, c, "POST", signPath, map[string]any{"message": b64(message), "key_id": k["key_id"], "algorithm": tc.sigAlg}, http.StatusOK)
			if s["key_id"] != k["key_id"] || s["key_version"] != 1.0 || s["algorithm"] != tc.sigAlg || s["public_key"] != k["public_key"] ||
				len(unb64(t, s["quantum_nonce"])) != 32 {
				t.Fatalf("sign %v", s)
			}
			if !verifyOutside(t, s, message) {
				t.Fatal("the plain library verifier rejects the signature")
			}
			if verifyOutside(t, s, []byte("message to sigN")) {
				t.Fatal("the plain library verifier accepts another message: the check proves nothing")
			}

			byID := call(t, c, "POST", verifyPath, verifyBody(s, message), http.StatusOK)
			if byID["valid"] != true || byID["key_id"] != k["key_id"] || byID["key_version"] != 1.0 || byID["algorithm"] != tc.sigAlg {
				t.Fatalf("verify by key_id %v", byID)
			}
			byPK := verifyBody(s, message)
			delete(byPK, "key_id")
			byPK["public_key"] = s["public_key"]
			v := call(t, c, "POST", verifyPath, byPK, http.StatusOK)
			if v["valid"] != true || v["key_id"] != nil || v["key_version"] != nil || v["algorithm"] != tc.sigAlg {
				t.Fatalf("verify by public_key %v", v)
			}

			sig := unb64(t, s["signature"])
			sig[len(sig)/2] ^= 0x10
			nonce := unb64(t, s["quantum_nonce"])
			nonce[0] ^= 1
			for name, change := range map[string]map[string]any{
				"BadSignature": {"signature": b64(sig)},
				"OtherMessage": {"message": b64([]byte("message to sigN"))},
				"OtherNonce":   {"quantum_nonce": b64(nonce)},
				"ShortSig":     {"signature": b64(sig[:10])},
			} {
				for _, base := range []map[string]any{verifyBody(s, message), byPK} {
					body := maps.Clone(base)
					maps.Copy(body, change)
					if v := call(t, c, "POST", verifyPath, body, http.StatusOK); v["valid"] != false || v["key_version"] != nil {
						t.Fatalf("%s: %v", name, v)
					}
				}
			}

			// Replay protection: a nonce is accepted once.
			once := verifyBody(s, message)
			once["consume_nonce"] = true
			if v := call(t, c, "POST", verifyPath, once, http.StatusOK); v["valid"] != true {
				t.Fatalf("first consuming verify %v", v)
			}
			if v := call(t, c, "POST", verifyPath, once, http.StatusOK); v["valid"] != false {
				t.Fatalf("replayed nonce %v", v)
			}
			if v := call(t, c, "POST", verifyPath, verifyBody(s, message), http.StatusOK); v["valid"] != true {
				t.Fatal("a verify without consume_nonce must not care about used nonces")
			}

			// Rotation: new signatures use version 2, old ones still verify.
			call(t, c, "POST", "/api/v1/quantum/keys/"+k["key_id"].(string)+"/rotate", nil, http.StatusOK)
			s2 := call(t, c, "POST", signPath, map[string]any{"message": b64(message), "key_id": k["key_id"]}, http.StatusOK)
			if s2["key_version"] != 2.0 || s2["public_key"] == s["public_key"] || s2["algorithm"] != tc.sigAlg || !verifyOutside(t, s2, message) {
				t.Fatalf("sign after rotation %v", s2)
			}
			for _, tc := range []struct {
				s       map[string]any
				version float64
			}{{s, 1}, {s2, 2}} {
				if v := call(t, c, "POST", verifyPath, verifyBody(tc.s, message), http.StatusOK); v["valid"] != true || v["key_version"] != tc.version {
					t.Fatalf("verify version %v after rotation: %v", tc.version, v)
				}
			}
		})
	}

	for _, alg := range []string{"Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65"} {
		t.Run("NewKey/"+alg, func(t *testing.T) {
			t.Parallel()
			s := call(t, c, "POST", signPath, map[string]any{"message": b64(message), "key_id": nil, "algorithm": alg}, http.StatusOK)
			if s["algorithm"] != alg || !verifyOutside(t, s, message) {
				t.Fatalf("sign with a new key %v", s)
			}
			if k := call(t, c, "GET", "/api/v1/quantum/keys/"+s["key_id"].(string), nil, http.StatusOK); k["algorithm"] != alg || k["exportable"] != false {
				t.Fatalf("key made by sign %v", k)
			}
		})
	}

	t.Run("EmptyMessage", func(t *testing.T) {
		t.Parallel()
		k := createKey(t, c, map[string]any{"algorithm": "Ed25519"})
		s := call(t, c, "POST", signPath, map[string]any{"message": "", "key_id": k["key_id"]}, http.StatusOK)
		if !verifyOutside(t, s, nil) || call(t, c, "POST", verifyPath, verifyBody(s, nil), http.StatusOK)["valid"] != true {
			t.Fatal("signature over the nonce alone")
		}
	})
}

// TestSignDefault signs with every default: SHA3-512-RSA with a new
// RSA-3072 key. It is the package's one RSA-3072 generation.
func TestSignDefault(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	message := []byte("bWVzc2FnZSB0byBzaWdu")
	s := call(t, c, "POST", signPath, map[string]any{"message": b64(message)}, http.StatusOK)
	if s["algorithm"] != "SHA3-512-RSA" || len(unb64(t, s["signature"])) != 384 || !strings.HasPrefix(s["public_key"].(string), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("default sign %v", s)
	}
	if !verifyOutside(t, s, message) {
		t.Fatal("rsa.VerifyPSS rejects the default signature")
	}
	if k := call(t, c, "GET", "/api/v1/quantum/keys/"+s["key_id"].(string), nil, http.StatusOK); k["algorithm"] != "RSA-3072" {
		t.Fatalf("default signing key %v", k)
	}
	if v := call(t, c, "POST", verifyPath, verifyBody(s, message), http.StatusOK); v["valid"] != true || v["algorithm"] != "SHA3-512-RSA" {
		t.Fatalf("verify %v", v)
	}
}

// TestVerifyConsumeNonceConcurrent replays one signature from many
// requests at once: exactly one is valid.
func TestVerifyConsumeNonceConcurrent(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	k := createKey(t, c, map[string]any{"algorithm": "Ed25519"})
	s := call(t, c, "POST", signPath, map[string]any{"message": b64([]byte("pay 100")), "key_id": k["key_id"]}, http.StatusOK)
	body := verifyBody(s, []byte("pay 100"))
	body["consume_nonce"] = true
	var (
		wg    sync.WaitGroup
		valid atomic.Int32
	)
	for range 8 {
		wg.Go(func() {
			r := c.Do(t, "POST", verifyPath, body)
			if r.Status != http.StatusOK {
				t.Errorf("verify: %d %s", r.Status, r.Body)
				return
			}
			if r.JSON(t)["valid"] == true {
				valid.Add(1)
			}
		})
	}
	wg.Wait()
	if n := valid.Load(); n != 1 {
		t.Fatalf("%d of 8 concurrent consuming verifies were valid, want exactly 1", n)
	}
}

func TestSignVerifyErrors(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	ed := createKey(t, c, map[string]any{"algorithm": "Ed25519"})
	edKey := ed["key_id"].(string)
	aesKey := createKey(t, c, map[string]any{"algorithm": "AES-256-GCM"})["key_id"].(string)
	s := call(t, c, "POST", signPath, map[string]any{"message": "", "key_id": edKey}, http.StatusOK)
	sig, nonce := `"signature":"`+s["signature"].(string)+`"`, `"quantum_nonce":"`+s["quantum_nonce"].(string)+`"`
	sv := `"message":"",` + sig + `,` + nonce
	big := strings.Repeat("A", (512<<10+3)/3*4+4) // just over 512 KiB, decoded

	for _, tc := range []struct {
		name, path, body, detail string
	}{
		{"ErrMessageMissing", signPath, `{"key_id":"` + edKey + `"}`, "message"},
		{"ErrMessageBase64", signPath, `{"message":"é"}`, "message"},
		{"ErrMessageTooLong", signPath, `{"message":"` + big + `","key_id":"` + edKey + `"}`, "message"},
		{"ErrAlgorithm", signPath, `{"message":"","algorithm":"SHA1-RSA"}`, "algorithm"},
		{"ErrAlgorithmEmpty", signPath, `{"message":"","algorithm":""}`, "algorithm"},
		{"ErrAlgorithmCipher", signPath, `{"message":"","algorithm":"AES-256-GCM"}`, "algorithm"},
		{"ErrAlgorithmNotKeys", signPath, `{"message":"","key_id":"` + edKey + `","algorithm":"ML-DSA-65"}`, "algorithm"},
		{"ErrEncryptionKey", signPath, `{"message":"","key_id":"` + aesKey + `"}`, "key_id"},
		{"ErrKeyIDType", signPath, `{"message":"","key_id":7}`, "key_id"},
		{"ErrVerifyMessageMissing", verifyPath, `{` + sig + `,` + nonce + `,"key_id":"` + edKey + `"}`, "message"},
		{"ErrVerifySignatureMissing", verifyPath, `{"message":"",` + nonce + `,"key_id":"` + edKey + `"}`, "signature"},
		{"ErrVerifySignatureBase64", verifyPath, `{"message":"","signature":"***",` + nonce + `,"key_id":"` + edKey + `"}`, "signature"},
		{"ErrVerifyNonceMissing", verifyPath, `{"message":"",` + sig + `,"key_id":"` + edKey + `"}`, "quantum_nonce"},
		{"ErrVerifyNonceShort", verifyPath, `{"message":"",` + sig + `,"quantum_nonce":"AAAA","key_id":"` + edKey + `"}`, "quantum_nonce"},
		{"ErrVerifyNoKey", verifyPath, `{` + sv + `}`, "key_id or public_key"},
		{"ErrVerifyBothKeys", verifyPath, `{` + sv + `,"key_id":"` + edKey + `","public_key":"AAAA"}`, "public_key"},
		{"ErrVerifyPublicKeyGarbage", verifyPath, `{` + sv + `,"public_key":"not a key"}`, "public_key"},
		{"ErrVerifyPublicKeyPEM", verifyPath, `{` + sv + `,"public_key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}`, "public_key"},
		{"ErrVerifyPublicKeyEmpty", verifyPath, `{` + sv + `,"public_key":""}`, "public_key"},
		{"ErrVerifyAlgorithm", verifyPath, `{` + sv + `,"key_id":"` + edKey + `","algorithm":"ML-DSA-65"}`, "algorithm"},
		{"ErrVerifyAlgorithmUnknown", verifyPath, `{` + sv + `,"key_id":"` + edKey + `","algorithm":"DSA"}`, "algorithm"},
		{"ErrVerifyEncryptionKey", verifyPath, `{` + sv + `,"key_id":"` + aesKey + `"}`, "key_id"},
		{"ErrVerifyMessageTooLong", verifyPath, `{"message":"` + big + `",` + sig + `,` + nonce + `,"key_id":"` + edKey + `"}`, "message"},
		{"ErrVerifyConsumeType", verifyPath, `{` + sv + `,"key_id":"` + edKey + `","consume_nonce":"yes"}`, "consume_nonce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, c.Do(t, "POST", tc.path, tc.body), 400, "INVALID_REQUEST", tc.detail)
		})
	}
	t.Run("ErrKeyNotFound", func(t *testing.T) {
		t.Parallel()
		wantError(t, c.Do(t, "POST", signPath, `{"message":"","key_id":"key_000000000000000000000000"}`), 404, "NOT_FOUND", "Key not found.")
		wantError(t, c.Do(t, "POST", verifyPath, `{`+sv+`,"key_id":"key_000000000000000000000000"}`), 404, "NOT_FOUND", "Key not found.")
	})
	t.Run("DeletedKeyStillVerifiesByPublicKey", func(t *testing.T) {
		t.Parallel()
		k := createKey(t, c, map[string]any{"algorithm": "Ed25519"})
		s := call(t, c, "POST", signPath, map[string]any{"message": "", "key_id": k["key_id"]}, http.StatusOK)
		call(t, c, "DELETE", "/api/v1/quantum/keys/"+k["key_id"].(string), nil, http.StatusOK)
		wantStatus(t, c.Do(t, "POST", verifyPath, verifyBody(s, nil)), 404, "NOT_FOUND")
		body := verifyBody(s, nil)
		delete(body, "key_id")
		body["public_key"] = s["public_key"]
		if call(t, c, "POST", verifyPath, body, http.StatusOK)["valid"] != true {
			t.Fatal("a saved public key no longer verifies")
		}
	})
}

// A replayed nonce is valid false with key_version null, as openapi.yaml
// says of any answer that is not valid by key_id.
func TestVerifyReplayHasNoVersion(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	k := createKey(t, c, map[string]any{"algorithm": "Ed25519"})
	s := call(t, c, "POST", signPath, map[string]any{"message": "", "key_id": k["key_id"]}, http.StatusOK)
	body := verifyBody(s, nil)
	body["consume_nonce"] = true
	call(t, c, "POST", verifyPath, body, http.StatusOK)
	if v := call(t, c, "POST", verifyPath, body, http.StatusOK); v["valid"] != false || v["key_version"] != nil {
		t.Fatalf("replay %v", v)
	}
}

// Two PEM blocks are the hybrid only as Ed25519 then ML-DSA-65. An
// Ed25519 key followed by another is refused; were it taken for the
// hybrid, a bare Ed25519 signature would verify as Ed25519+ML-DSA-65.
func TestVerifyHybridPEMNeedsMLDSA(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	block := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	nonce := make([]byte, 32)
	rand.Read(nonce)
	sig := ed25519.Sign(priv, nonce)
	for _, alg := range []any{nil, "Ed25519+ML-DSA-65"} {
		r := c.Do(t, "POST", verifyPath, map[string]any{"message": "", "signature": b64(sig), "quantum_nonce": b64(nonce),
			"public_key": block + block, "algorithm": alg})
		wantError(t, r, 400, "INVALID_REQUEST", "public_key")
	}
	// A hybrid key's two blocks in the other order, or its ML-DSA block
	// twice, are no hybrid key.
	hybrid := createKey(t, c, map[string]any{"algorithm": "Ed25519+ML-DSA-65"})
	s := call(t, c, "POST", signPath, map[string]any{"message": "", "key_id": hybrid["key_id"]}, http.StatusOK)
	ed, rest := pem.Decode([]byte(hybrid["public_key"].(string)))
	if ed == nil || !strings.Contains(string(rest), "PUBLIC KEY") {
		t.Fatalf("hybrid public key %q", hybrid["public_key"])
	}
	body := verifyBody(s, nil)
	delete(body, "key_id")
	body["public_key"] = hybrid["public_key"]
	if v := call(t, c, "POST", verifyPath, body, http.StatusOK); v["valid"] != true {
		t.Fatalf("the hybrid key in its order does not verify: %v", v)
	}
	ml := strings.TrimSpace(string(rest)) + "\n"
	for _, swapped := range []string{ml + string(pem.EncodeToMemory(ed)), ml + ml} {
		body["public_key"] = swapped
		wantError(t, c.Do(t, "POST", verifyPath, body), 400, "INVALID_REQUEST", "public_key")
	}
}

// docs/crypto.md's limit on public_key: over 16 KiB of text is refused
// even when it would decode to a key (Go's base64 skips line breaks).
func TestVerifyPublicKeyLimit(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	nonce := make([]byte, 32)
	rand.Read(nonce)
	raw := b64(pub)
	padded := raw[:4] + strings.Repeat("\n", 16<<10) + raw[4:]
	r := c.Do(t, "POST", verifyPath, map[string]any{"message": "", "signature": b64(ed25519.Sign(priv, nonce)),
		"quantum_nonce": b64(nonce), "public_key": padded})
	wantError(t, r, 400, "INVALID_REQUEST", "public_key")
}
