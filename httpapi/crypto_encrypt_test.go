package httpapi_test

import (
	"bytes"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/internal/apitest"
)

const (
	encryptPath = "/api/v1/quantum/crypto/encrypt"
	decryptPath = "/api/v1/quantum/crypto/decrypt"
)

// decryptBody is an encrypt response sent back as it came, plus aad.
func decryptBody(e map[string]any, aad []byte) map[string]any {
	d := maps.Clone(e)
	if aad != nil {
		d["aad"] = b64(aad)
	}
	return d
}

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	plaintext := []byte("Hello World! \x00\xff binary too")

	for _, alg := range []string{"AES-256-GCM", "ChaCha20-Poly1305"} {
		for _, aad := range [][]byte{nil, []byte("invoice 42")} {
			t.Run(alg+"/aad="+string(aad), func(t *testing.T) {
				t.Parallel()
				id := createKey(t, c, map[string]any{"algorithm": alg})["key_id"]
				req := map[string]any{"plaintext": b64(plaintext), "key_id": id, "algorithm": alg}
				if aad != nil {
					req["aad"] = b64(aad)
				}
				e := call(t, c, "POST", encryptPath, req, http.StatusOK)
				if e["key_id"] != id || e["key_version"] != 1.0 || e["algorithm"] != alg || e["quantum_secured"] != false ||
					len(unb64(t, e["iv"])) != 12 || len(unb64(t, e["tag"])) != 16 || len(unb64(t, e["ciphertext"])) != len(plaintext) {
					t.Fatalf("encrypt %v", e)
				}
				if bytes.Contains(unb64(t, e["ciphertext"]), []byte("Hello")) {
					t.Fatal("ciphertext holds the plaintext")
				}
				d := call(t, c, "POST", decryptPath, decryptBody(e, aad), http.StatusOK)
				if !bytes.Equal(unb64(t, d["plaintext"]), plaintext) || d["key_id"] != id || d["key_version"] != 1.0 {
					t.Fatalf("decrypt %v", d)
				}
				// The algorithm may be left to the key.
				e2 := call(t, c, "POST", encryptPath, map[string]any{"plaintext": b64(plaintext), "key_id": id, "aad": req["aad"]}, http.StatusOK)
				if e2["algorithm"] != alg || e2["iv"] == e["iv"] {
					t.Fatalf("second encrypt %v", e2)
				}
				delete(e2, "algorithm")
				call(t, c, "POST", decryptPath, decryptBody(e2, aad), http.StatusOK)
			})
		}
	}

	t.Run("NewKey", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			body map[string]any
			alg  string
		}{
			{map[string]any{"plaintext": b64(plaintext)}, "AES-256-GCM"},
			{map[string]any{"plaintext": b64(plaintext), "key_id": nil, "algorithm": "ChaCha20-Poly1305"}, "ChaCha20-Poly1305"},
		} {
			e := call(t, c, "POST", encryptPath, tc.body, http.StatusOK)
			if e["algorithm"] != tc.alg || e["key_version"] != 1.0 {
				t.Fatalf("encrypt under a new key %v", e)
			}
			k := call(t, c, "GET", "/api/v1/quantum/keys/"+e["key_id"].(string), nil, http.StatusOK)
			if k["algorithm"] != tc.alg || k["exportable"] != false {
				t.Fatalf("key made by encrypt %v", k)
			}
			if d := call(t, c, "POST", decryptPath, e, http.StatusOK); !bytes.Equal(unb64(t, d["plaintext"]), plaintext) {
				t.Fatal("round trip under a new key")
			}
		}
	})
	t.Run("EmptyPlaintext", func(t *testing.T) {
		t.Parallel()
		e := call(t, c, "POST", encryptPath, map[string]any{"plaintext": ""}, http.StatusOK)
		if e["ciphertext"] != "" || len(unb64(t, e["tag"])) != 16 {
			t.Fatalf("encrypt of nothing %v", e)
		}
		if d := call(t, c, "POST", decryptPath, e, http.StatusOK); d["plaintext"] != "" {
			t.Fatalf("decrypt of nothing %v", d)
		}
	})
}

// TestDecryptTampered changes each part of a ciphertext in turn: every
// change is the same 400 DECRYPTION_FAILED.
func TestDecryptTampered(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	aad := []byte("order 7")
	for _, alg := range []string{"AES-256-GCM", "ChaCha20-Poly1305"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			id := createKey(t, c, map[string]any{"algorithm": alg})["key_id"]
			other := createKey(t, c, map[string]any{"algorithm": alg})["key_id"]
			otherCipher := createKey(t, c, map[string]any{"algorithm": map[string]string{"AES-256-GCM": "ChaCha20-Poly1305", "ChaCha20-Poly1305": "AES-256-GCM"}[alg]})["key_id"]
			signing := createKey(t, c, map[string]any{"algorithm": "Ed25519"})["key_id"]
			e := call(t, c, "POST", encryptPath, map[string]any{"plaintext": b64([]byte("attack at dawn")), "key_id": id, "aad": b64(aad)}, http.StatusOK)
			good := decryptBody(e, aad)
			call(t, c, "POST", decryptPath, good, http.StatusOK)

			flip := func(field string, i int) string {
				b := unb64(t, e[field])
				b[i] ^= 1
				return b64(b)
			}
			ct := unb64(t, e["ciphertext"])
			cases := map[string]map[string]any{
				"WrongKey":      {"key_id": other},
				"OtherCipher":   {"key_id": otherCipher},
				"SigningKey":    {"key_id": signing},
				"WrongVersion":  {"key_version": 2},
				"IVBit":         {"iv": flip("iv", 0)},
				"IVShort":       {"iv": b64(unb64(t, e["iv"])[:11])},
				"TagBit":        {"tag": flip("tag", 15)},
				"TagShort":      {"tag": b64(unb64(t, e["tag"])[:12])},
				"AADChanged":    {"aad": b64([]byte("order 8"))},
				"AADMissing":    {"aad": nil},
				"CiphertextBit": {"ciphertext": flip("ciphertext", len(ct)-1)},
				"Truncated":     {"ciphertext": b64(ct[:len(ct)-1])},
			}
			var details []string
			for name, change := range cases {
				body := maps.Clone(good)
				for k, v := range change {
					if v == nil {
						delete(body, k)
					} else {
						body[k] = v
					}
				}
				t.Run(name, func(t *testing.T) {
					details = append(details, wantError(t, c.Do(t, "POST", decryptPath, body), 400, "DECRYPTION_FAILED", "Decryption failed"))
				})
			}
			for _, d := range details {
				if d != details[0] {
					t.Fatalf("failures are told apart: %q vs %q", d, details[0])
				}
			}
			// None of it used anything up: the original still decrypts.
			call(t, c, "POST", decryptPath, good, http.StatusOK)
		})
	}
}

// TestEncryptRotation: after a rotation new ciphertexts use the new
// version and old ones still decrypt.
func TestEncryptRotation(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	id := createKey(t, c, map[string]any{"algorithm": "ChaCha20-Poly1305"})["key_id"].(string)
	old := call(t, c, "POST", encryptPath, map[string]any{"plaintext": b64([]byte("v1 data")), "key_id": id}, http.StatusOK)
	call(t, c, "POST", "/api/v1/quantum/keys/"+id+"/rotate", nil, http.StatusOK)
	cur := call(t, c, "POST", encryptPath, map[string]any{"plaintext": b64([]byte("v2 data")), "key_id": id}, http.StatusOK)
	if old["key_version"] != 1.0 || cur["key_version"] != 2.0 {
		t.Fatalf("versions %v, %v", old["key_version"], cur["key_version"])
	}
	for _, tc := range []struct {
		e       map[string]any
		version any // sent as key_version
		want    string
	}{{old, 1.0, "v1 data"}, {old, nil, "v1 data"}, {cur, 2.0, "v2 data"}, {cur, nil, "v2 data"}} {
		body := maps.Clone(tc.e)
		body["key_version"] = tc.version
		d := call(t, c, "POST", decryptPath, body, http.StatusOK)
		if string(unb64(t, d["plaintext"])) != tc.want || d["key_version"] != tc.e["key_version"] {
			t.Fatalf("decrypt %v with key_version %v: %v", tc.e, tc.version, d)
		}
	}
	// A key_version names exactly one version, either way round, and one
	// below 1 is no version at all.
	for _, tc := range []struct {
		e       map[string]any
		version int
	}{{old, 2}, {cur, 1}} {
		body := maps.Clone(tc.e)
		body["key_version"] = tc.version
		wantStatus(t, c.Do(t, "POST", decryptPath, body), 400, "DECRYPTION_FAILED")
	}
	for _, v := range []int{-1, -100} {
		body := maps.Clone(cur)
		body["key_version"] = v
		wantError(t, c.Do(t, "POST", decryptPath, body), 400, "INVALID_REQUEST", "key_version")
	}
}

func TestEncryptErrors(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	aesKey := createKey(t, c, map[string]any{"algorithm": "AES-256-GCM"})["key_id"].(string)
	edKey := createKey(t, c, map[string]any{"algorithm": "Ed25519"})["key_id"].(string)
	e := call(t, c, "POST", encryptPath, map[string]any{"plaintext": b64([]byte("x")), "key_id": aesKey}, http.StatusOK)
	pt := `"plaintext":"` + b64([]byte("x")) + `"`
	big := strings.Repeat("A", (512<<10+3)/3*4+4) // 512 KiB + 3 bytes, decoded

	for _, tc := range []struct {
		name, path, body, detail string
	}{
		{"ErrPlaintextMissing", encryptPath, `{}`, "plaintext"},
		{"ErrPlaintextNull", encryptPath, `{"plaintext":null}`, "plaintext"},
		{"ErrPlaintextBase64", encryptPath, `{"plaintext":"not base64!"}`, "plaintext"},
		{"ErrPlaintextUnpadded", encryptPath, `{"plaintext":"eA"}`, "plaintext"},
		{"ErrPlaintextType", encryptPath, `{"plaintext":12}`, "plaintext"},
		{"ErrPlaintextTooLong", encryptPath, `{"plaintext":"` + big + `"}`, "plaintext"},
		{"ErrAADBase64", encryptPath, `{` + pt + `,"aad":"%%%"}`, "aad"},
		{"ErrAADTooLong", encryptPath, `{` + pt + `,"aad":"` + strings.Repeat("A", (64<<10+3)/3*4+4) + `"}`, "aad"},
		{"ErrAlgorithm", encryptPath, `{` + pt + `,"algorithm":"AES-128-CBC"}`, "algorithm"},
		{"ErrAlgorithmSigning", encryptPath, `{` + pt + `,"algorithm":"Ed25519"}`, "algorithm"},
		{"ErrAlgorithmNotKeys", encryptPath, `{` + pt + `,"key_id":"` + aesKey + `","algorithm":"ChaCha20-Poly1305"}`, "algorithm"},
		{"ErrSigningKey", encryptPath, `{` + pt + `,"key_id":"` + edKey + `"}`, "key_id"},
		{"ErrEmptyKeyID", encryptPath, `{` + pt + `,"key_id":""}`, "key_id"},
		{"ErrUnknownField", encryptPath, `{` + pt + `,"nonce":"AAAA"}`, "nonce"},
		{"ErrDecryptKeyIDMissing", decryptPath, `{"ciphertext":"","iv":"` + e["iv"].(string) + `","tag":"` + e["tag"].(string) + `"}`, "key_id"},
		{"ErrDecryptIVMissing", decryptPath, `{"ciphertext":"","key_id":"` + aesKey + `","tag":"` + e["tag"].(string) + `"}`, "iv"},
		{"ErrDecryptTagMissing", decryptPath, `{"ciphertext":"","key_id":"` + aesKey + `","iv":"` + e["iv"].(string) + `"}`, "tag"},
		{"ErrDecryptCiphertextMissing", decryptPath, `{"key_id":"` + aesKey + `","iv":"` + e["iv"].(string) + `","tag":"` + e["tag"].(string) + `"}`, "ciphertext"},
		{"ErrDecryptTagBase64", decryptPath, `{"ciphertext":"","key_id":"` + aesKey + `","iv":"` + e["iv"].(string) + `","tag":"?"}`, "tag"},
		{"ErrDecryptVersionZero", decryptPath, `{"ciphertext":"","key_id":"` + aesKey + `","key_version":0,"iv":"` + e["iv"].(string) + `","tag":"` + e["tag"].(string) + `"}`, "key_version"},
		{"ErrDecryptTooLong", decryptPath, `{"ciphertext":"` + big + `","key_id":"` + aesKey + `","iv":"` + e["iv"].(string) + `","tag":"` + e["tag"].(string) + `"}`, "ciphertext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, c.Do(t, "POST", tc.path, tc.body), 400, "INVALID_REQUEST", tc.detail)
		})
	}
	t.Run("ErrKeyNotFound", func(t *testing.T) {
		t.Parallel()
		wantError(t, c.Do(t, "POST", encryptPath, `{`+pt+`,"key_id":"key_000000000000000000000000"}`), 404, "NOT_FOUND", "Key not found.")
		body := maps.Clone(e)
		body["key_id"] = "key_000000000000000000000000"
		wantError(t, c.Do(t, "POST", decryptPath, body), 404, "NOT_FOUND", "Key not found.")
	})
	t.Run("ErrBodyTooLarge", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, c.Do(t, "POST", encryptPath, `{"plaintext":"`+strings.Repeat("A", 1<<20)+`"}`), 413, "PAYLOAD_TOO_LARGE")
	})
	t.Run("ErrMediaType", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, c.Do(t, "POST", encryptPath, `plaintext=eA==`, "Content-Type", "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE")
	})
	t.Run("MaxSizesFit", func(t *testing.T) {
		t.Parallel()
		// The largest plaintext and aad keyring takes still fit in one body.
		body := map[string]any{"plaintext": b64(make([]byte, 512<<10)), "aad": b64(make([]byte, 64<<10))}
		e := call(t, c, "POST", encryptPath, body, http.StatusOK)
		call(t, c, "POST", decryptPath, decryptBody(e, make([]byte, 64<<10)), http.StatusOK)
	})
}

// encryptFor is a helper for other tests: it encrypts data under key.
func encryptFor(t *testing.T, c *apitest.Client, key any, data []byte) map[string]any {
	t.Helper()
	return call(t, c, "POST", encryptPath, map[string]any{"plaintext": b64(data), "key_id": key}, http.StatusOK)
}

// Decrypt checks its input as encrypt does: an algorithm that is no
// cipher is INVALID_REQUEST naming it, and aad has the same 64 KiB limit.
func TestDecryptInputChecks(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	e := call(t, c, "POST", encryptPath, map[string]any{"plaintext": b64([]byte("x"))}, http.StatusOK)
	body := maps.Clone(e)
	body["algorithm"] = "Ed25519"
	wantError(t, c.Do(t, "POST", decryptPath, body), 400, "INVALID_REQUEST", "algorithm")
	body = maps.Clone(e)
	body["aad"] = b64(make([]byte, 64<<10+1))
	wantError(t, c.Do(t, "POST", decryptPath, body), 400, "INVALID_REQUEST", "aad")
}

// README: base64 in a request skips line breaks and does not check the
// last character's unused bits; anything else outside the alphabet, or
// unpadded, is refused naming the field.
func TestBase64AsDocumented(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	for v, ok := range map[string]bool{"AAAA\nAAAA": true, "AAAA\r\n": true, "AB==": true, "AA==": true,
		"AA": false, "AA=": false, "AA AA": false, "AA-_": false, "AA\tA=": false} {
		r := c.Do(t, "POST", encryptPath, map[string]any{"plaintext": v})
		if ok {
			wantStatus(t, r, 200, "")
		} else {
			wantError(t, r, 400, "INVALID_REQUEST", "plaintext")
		}
	}
}
