package httpapi_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/apitest"
	"github.com/quantumlock/quantumlock/keyring"
	"github.com/quantumlock/quantumlock/masterkey"
)

// createKey creates a key over the API and returns the 201 body.
func createKey(t *testing.T, c *apitest.Client, body any) map[string]any {
	t.Helper()
	return call(t, c, "POST", "/api/v1/quantum/keys", body, http.StatusCreated)
}

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)

	for _, tc := range []struct{ alg, purpose string }{
		{"AES-256-GCM", "encryption"},
		{"ChaCha20-Poly1305", "encryption"},
		{"Ed25519", "signing"},
		{"ML-DSA-65", "signing"},
		{"Ed25519+ML-DSA-65", "signing"},
		{"RSA-2048", "signing"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			k := createKey(t, c, map[string]any{"algorithm": tc.alg, "label": "billing " + tc.alg})
			id := k["key_id"].(string)
			if k["algorithm"] != tc.alg || k["purpose"] != tc.purpose || k["version"] != 1.0 || k["exportable"] != false ||
				k["label"] != "billing "+tc.alg || k["created_at"] != timeString(a.Clock.Now()) {
				t.Fatalf("created %v", k)
			}
			if _, ok := k["key"]; ok {
				t.Fatal("a non-exportable key came back with its material")
			}
			if tc.purpose == "encryption" {
				if k["public_key"] != nil {
					t.Fatalf("symmetric key with public_key %v", k["public_key"])
				}
			} else if pk, _ := k["public_key"].(string); !strings.HasPrefix(pk, "-----BEGIN PUBLIC KEY-----") {
				t.Fatalf("public_key %v", k["public_key"])
			}

			got := call(t, c, "GET", "/api/v1/quantum/keys/"+id, nil, http.StatusOK)
			if got["key_id"] != id || got["public_key"] != k["public_key"] || len(got["versions"].([]any)) != 1 {
				t.Fatalf("get %v, created %v", got, k)
			}

			rot := call(t, c, "POST", "/api/v1/quantum/keys/"+id+"/rotate", nil, http.StatusOK)
			vs := rot["versions"].([]any)
			if rot["version"] != 2.0 || len(vs) != 2 || vs[0].(map[string]any)["version"] != 1.0 || vs[1].(map[string]any)["version"] != 2.0 {
				t.Fatalf("rotated %v", rot)
			}
			if tc.purpose == "signing" && (rot["public_key"] == k["public_key"] || vs[0].(map[string]any)["public_key"] != k["public_key"]) {
				t.Fatal("rotation kept the public key, or lost the old one")
			}
			if call(t, c, "GET", "/api/v1/quantum/keys/"+id, nil, http.StatusOK)["version"] != 2.0 {
				t.Fatal("get after rotate is not at version 2")
			}

			var listed bool
			for _, lk := range call(t, c, "GET", "/api/v1/quantum/keys", nil, http.StatusOK)["keys"].([]any) {
				listed = listed || lk.(map[string]any)["key_id"] == id
			}
			if !listed {
				t.Fatal("key not listed")
			}

			// A body, if any, is an empty object, as for rotate.
			wantError(t, c.Do(t, "DELETE", "/api/v1/quantum/keys/"+id, `{"plaintext":"x"}`), 400, "INVALID_REQUEST", "plaintext")
			wantStatus(t, c.Do(t, "DELETE", "/api/v1/quantum/keys/"+id, strings.Repeat(" ", 1<<20+1)), 413, "PAYLOAD_TOO_LARGE")
			// No body at all: whatever Content-Type came with it.
			wantError(t, c.Do(t, "DELETE", "/api/v1/quantum/keys/"+id, `x`, "Content-Type", "application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type")
			wantStatus(t, c.Do(t, "POST", "/api/v1/quantum/keys/"+id+"/rotate", nil, "Content-Type", "application/x-www-form-urlencoded"), http.StatusOK, "")
			r := c.Do(t, "DELETE", "/api/v1/quantum/keys/"+id, nil, "Content-Type", "application/x-www-form-urlencoded")
			wantStatus(t, r, http.StatusOK, "")
			del := r.JSON(t)
			if del["key_id"] != id || del["deleted"] != true {
				t.Fatalf("delete %v", del)
			}
			for _, rq := range []struct{ method, path string }{
				{"GET", "/api/v1/quantum/keys/" + id},
				{"POST", "/api/v1/quantum/keys/" + id + "/rotate"},
				{"DELETE", "/api/v1/quantum/keys/" + id},
			} {
				wantStatus(t, c.Do(t, rq.method, rq.path, nil), http.StatusNotFound, "NOT_FOUND")
			}
		})
	}

	t.Run("DefaultAlgorithm", func(t *testing.T) {
		t.Parallel()
		for _, body := range []any{nil, `{}`, `{"algorithm":null,"label":null}`} {
			if k := createKey(t, c, body); k["algorithm"] != "AES-256-GCM" || k["label"] != "" {
				t.Fatalf("default key %v", k)
			}
		}
	})
}

func TestKeyList(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	l := call(t, c, "GET", "/api/v1/quantum/keys", nil, http.StatusOK)
	if l["total"] != 0.0 || len(l["keys"].([]any)) != 0 {
		t.Fatalf("empty list %v", l)
	}
	var ids []any
	for _, alg := range []string{"Ed25519", "AES-256-GCM", "ML-DSA-65"} {
		ids = append(ids, createKey(t, c, map[string]any{"algorithm": alg})["key_id"])
		a.Clock.Add(time.Second)
	}
	l = call(t, c, "GET", "/api/v1/quantum/keys", nil, http.StatusOK)
	ks := l["keys"].([]any)
	if l["total"] != 3.0 || len(ks) != 3 {
		t.Fatalf("list %v", l)
	}
	for i, k := range ks {
		if k.(map[string]any)["key_id"] != ids[i] {
			t.Fatalf("keys not oldest first: %v, want %v", ks, ids)
		}
		if _, ok := k.(map[string]any)["key"]; ok {
			t.Fatal("list shows material")
		}
		if _, ok := k.(map[string]any)["versions"]; ok {
			t.Fatal("list shows each key's versions")
		}
	}
	// Pages.
	l = call(t, c, "GET", "/api/v1/quantum/keys?skip=1&limit=1", nil, http.StatusOK)
	if ks := l["keys"].([]any); l["total"] != 3.0 || l["skip"] != 1.0 || l["limit"] != 1.0 || len(ks) != 1 || ks[0].(map[string]any)["key_id"] != ids[1] {
		t.Fatalf("page skip=1 limit=1: %v", l)
	}
	for q, detail := range map[string]string{"?skip=-1": "skip must be 0 or more.", "?limit=0": "limit must be between 1 and 1000.", "?limit=1001": "limit must be between 1 and 1000.", "?limit=x": "limit", "?skip=1&skip=2": "skip", "?version=1": "version"} {
		wantError(t, c.Do(t, "GET", "/api/v1/quantum/keys"+q, nil), 400, "INVALID_REQUEST", detail)
	}
}

// atKeyLimit serves a's API with a keyring that allows one key per
// customer and rsaConcurrency RSA generations at once (0: the default),
// makes c's customer its one key there, and returns c's client for it.
func atKeyLimit(t *testing.T, a *testAPI, c *apitest.Client, rsaConcurrency int) *apitest.Client {
	t.Helper()
	c = &apitest.Client{BaseURL: a.serveKeyring(t, keyring.Config{MaxKeys: 1, RSAConcurrency: rsaConcurrency}), APIKey: c.APIKey}
	createKey(t, c, map[string]any{"algorithm": "Ed25519"})
	return c
}

// Past a customer's key limit, every call that would make a key is 403.
func TestKeyLimit(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	c = atKeyLimit(t, a, c, 0)
	for _, rq := range []struct {
		path string
		body any
	}{
		{"/api/v1/quantum/keys", map[string]any{}},
		{encryptPath, map[string]any{"plaintext": ""}},
		{signPath, map[string]any{"message": "", "algorithm": "Ed25519"}},
		{"/api/v1/quantum/rsa", map[string]any{"bits": 2048}},
	} {
		wantError(t, c.Do(t, "POST", rq.path, rq.body), 403, "FORBIDDEN", "at most 1 keys")
	}
}

func TestKeyExport(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)

	t.Run("Cipher", func(t *testing.T) {
		t.Parallel()
		k := createKey(t, c, map[string]any{"algorithm": "AES-256-GCM", "exportable": true})
		id := k["key_id"].(string)
		v1 := unb64(t, k["key"])
		if len(v1) != 32 || k["exportable"] != true {
			t.Fatalf("exportable create %v", k)
		}
		// The exported key decrypts the service's ciphertext with the plain
		// library: ciphertext‖tag is the standard AEAD output.
		e := call(t, c, "POST", "/api/v1/quantum/crypto/encrypt", map[string]any{"plaintext": b64([]byte("interop")), "key_id": id, "aad": b64([]byte("ctx"))}, http.StatusOK)
		block, _ := aes.NewCipher(v1)
		gcm, _ := cipher.NewGCM(block)
		pt, err := gcm.Open(nil, unb64(t, e["iv"]), append(unb64(t, e["ciphertext"]), unb64(t, e["tag"])...), []byte("ctx"))
		if err != nil || string(pt) != "interop" {
			t.Fatalf("exported key does not decrypt: %v", err)
		}

		if got := call(t, c, "GET", "/api/v1/quantum/keys/"+id+"/export", nil, http.StatusOK); got["key"] != k["key"] {
			t.Fatalf("export %v, created with %v", got["key"], k["key"])
		}
		if got := call(t, c, "GET", "/api/v1/quantum/keys/"+id, nil, http.StatusOK); got["key"] != nil {
			t.Fatal("get shows material")
		}
		rot := call(t, c, "POST", "/api/v1/quantum/keys/"+id+"/rotate", `{}`, http.StatusOK)
		if v2 := unb64(t, rot["key"]); len(v2) != 32 || string(v2) == string(v1) {
			t.Fatal("rotation of an exportable key did not return fresh material")
		}
		if got := call(t, c, "GET", "/api/v1/quantum/keys/"+id+"/export", nil, http.StatusOK); got["key"] != rot["key"] {
			t.Fatal("export without version is not the latest")
		}
		if got := call(t, c, "GET", "/api/v1/quantum/keys/"+id+"/export?version=1", nil, http.StatusOK); got["key"] != k["key"] {
			t.Fatal("export of version 1 differs from what create returned")
		}
		wantError(t, c.Do(t, "GET", "/api/v1/quantum/keys/"+id+"/export?version=3", nil), 404, "NOT_FOUND", "version")
		for v, detail := range map[string]string{"0": "version", "-1": "version", "two": "version", "1&version=2": "version", "1%zz": "malformed", "": "version",
			"101": "between 1 and 100", "99999999999999999999": "between 1 and 100", "-99999999999999999999": "between 1 and 100"} {
			wantError(t, c.Do(t, "GET", "/api/v1/quantum/keys/"+id+"/export?version="+v, nil), 400, "INVALID_REQUEST", detail)
		}
		wantError(t, c.Do(t, "GET", "/api/v1/quantum/keys/"+id+"/export?ver=1", nil), 400, "INVALID_REQUEST", "ver")
	})
	t.Run("Ed25519", func(t *testing.T) {
		t.Parallel()
		k := createKey(t, c, map[string]any{"algorithm": "Ed25519", "exportable": true})
		block, _ := pem.Decode([]byte(k["key"].(string)))
		if block == nil || block.Type != "PRIVATE KEY" {
			t.Fatalf("key %v", k["key"])
		}
		sk, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pb, _ := pem.Decode([]byte(k["public_key"].(string)))
		pk, err := x509.ParsePKIXPublicKey(pb.Bytes)
		if err != nil || !sk.(ed25519.PrivateKey).Public().(ed25519.PublicKey).Equal(pk) {
			t.Fatalf("exported private key does not match public_key: %v", err)
		}

		// After a rotation, an export of version 1 says version 1 and
		// gives version 1's public key beside its private key.
		id := k["key_id"].(string)
		call(t, c, "POST", "/api/v1/quantum/keys/"+id+"/rotate", nil, http.StatusOK)
		for _, v := range []float64{1, 2} {
			got := call(t, c, "GET", fmt.Sprintf("/api/v1/quantum/keys/%s/export?version=%d", id, int(v)), nil, http.StatusOK)
			vs := got["versions"].([]any)
			if got["version"] != v || got["public_key"] != vs[int(v)-1].(map[string]any)["public_key"] ||
				got["quantum_secured"] != vs[int(v)-1].(map[string]any)["quantum_secured"] {
				t.Fatalf("export of version %v: version %v, public key not that version's: %v", v, got["version"], got)
			}
			block, _ := pem.Decode([]byte(got["key"].(string)))
			sk, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			pb, _ := pem.Decode([]byte(got["public_key"].(string)))
			pk, err2 := x509.ParsePKIXPublicKey(pb.Bytes)
			if err != nil || err2 != nil || !sk.(ed25519.PrivateKey).Public().(ed25519.PublicKey).Equal(pk) {
				t.Fatalf("export of version %v: key and public_key do not belong together (%v, %v)", v, err, err2)
			}
		}
		if got := call(t, c, "GET", "/api/v1/quantum/keys/"+id, nil, http.StatusOK); got["version"] != 2.0 {
			t.Fatalf("get after rotation: version %v", got["version"])
		}
	})
	t.Run("ErrNotExportable", func(t *testing.T) {
		t.Parallel()
		k := createKey(t, c, map[string]any{"algorithm": "ChaCha20-Poly1305"})
		wantError(t, c.Do(t, "GET", "/api/v1/quantum/keys/"+k["key_id"].(string)+"/export", nil), 403, "FORBIDDEN", "not exportable")
		if rot := call(t, c, "POST", "/api/v1/quantum/keys/"+k["key_id"].(string)+"/rotate", nil, http.StatusOK); rot["key"] != nil {
			t.Fatal("rotation of a non-exportable key returned material")
		}
	})
}

func TestKeyErrors(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	for name, tc := range map[string]struct{ body, detail string }{
		"ErrUnknownAlgorithm": {`{"algorithm":"DES"}`, "algorithm"},
		"ErrEmptyAlgorithm":   {`{"algorithm":""}`, "algorithm"},
		"ErrAlgorithmType":    {`{"algorithm":256}`, "algorithm"},
		"ErrExchangeAlg":      {`{"algorithm":"X25519"}`, "algorithm"},
		"ErrExportableType":   {`{"exportable":"yes"}`, "exportable"},
		"ErrLabelTooLong":     {`{"label":"` + strings.Repeat("l", 257) + `"}`, "label"},
		"ErrUnknownField":     {`{"algorithm":"Ed25519","purpose":"signing"}`, "purpose"},
		"ErrNotObject":        {`["AES-256-GCM"]`, "object"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantError(t, c.Do(t, "POST", "/api/v1/quantum/keys", tc.body), 400, "INVALID_REQUEST", tc.detail)
		})
	}
	t.Run("ErrRotateBody", func(t *testing.T) {
		t.Parallel()
		id := createKey(t, c, nil)["key_id"].(string)
		wantError(t, c.Do(t, "POST", "/api/v1/quantum/keys/"+id+"/rotate", `{"version":3}`), 400, "INVALID_REQUEST", "version")
	})
	t.Run("ErrMissing", func(t *testing.T) {
		t.Parallel()
		for _, rq := range []struct{ method, path string }{
			{"GET", "/api/v1/quantum/keys/key_000000000000000000000000"},
			{"GET", "/api/v1/quantum/keys/nonsense"},
			{"POST", "/api/v1/quantum/keys/key_000000000000000000000000/rotate"},
			{"DELETE", "/api/v1/quantum/keys/key_000000000000000000000000"},
			{"GET", "/api/v1/quantum/keys/key_000000000000000000000000/export"},
		} {
			wantError(t, c.Do(t, rq.method, rq.path, nil), 404, "NOT_FOUND", "Key not found.")
		}
	})
	t.Run("ErrNoAPIKey", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, c.Do(t, "GET", "/api/v1/quantum/keys", nil, "X-API-Key", ""), 401, "UNAUTHORIZED")
		wantStatus(t, c.Do(t, "POST", "/api/v1/quantum/keys", `{}`, "X-API-Key", ""), 401, "UNAUTHORIZED")
	})
	t.Run("ErrMethod", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, c.Do(t, "PUT", "/api/v1/quantum/keys/key_000000000000000000000000", `{}`), 405, "METHOD_NOT_ALLOWED")
	})
}

// TestKeyRotateConcurrent rotates one key from several requests at once:
// each gets a version of its own (200), and the key ends with exactly one
// version per rotation.
func TestKeyRotateConcurrent(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	id := createKey(t, c, map[string]any{"algorithm": "Ed25519"})["key_id"].(string)
	const n = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		versions = map[float64]bool{}
	)
	for range n {
		wg.Go(func() {
			r := c.Do(t, "POST", "/api/v1/quantum/keys/"+id+"/rotate", nil)
			if r.Status != http.StatusOK {
				t.Errorf("rotate: %d %s", r.Status, r.Body)
				return
			}
			mu.Lock()
			versions[r.JSON(t)["version"].(float64)] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	k := call(t, c, "GET", "/api/v1/quantum/keys/"+id, nil, http.StatusOK)
	if len(versions) != n || k["version"] != float64(1+n) || len(k["versions"].([]any)) != 1+n {
		t.Fatalf("%d distinct versions answered, key at version %v with %d versions", len(versions), k["version"], len(k["versions"].([]any)))
	}
}

// timeString formats t as the API does.
func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// TestKeysTenantIsolation: another customer's key or session is exactly
// "not found" on every key and crypto route, and nothing it tries changes
// the owner's keys.
func TestKeysTenantIsolation(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, owner := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, other := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	aesKey := createKey(t, owner, map[string]any{"algorithm": "AES-256-GCM", "exportable": true})["key_id"].(string)
	edKey := createKey(t, owner, map[string]any{"algorithm": "Ed25519"})["key_id"].(string)
	e := encryptFor(t, owner, aesKey, []byte("owner's data"))
	s := call(t, owner, "POST", signPath, map[string]any{"message": "", "key_id": edKey}, http.StatusOK)
	kx := exchange(t, owner, nil)
	missing := "key_000000000000000000000000"

	for _, tc := range []struct {
		name, method, path string
		body               func(id string) any
	}{
		{"Get", "GET", "/api/v1/quantum/keys/%s", nil},
		{"Rotate", "POST", "/api/v1/quantum/keys/%s/rotate", nil},
		{"Delete", "DELETE", "/api/v1/quantum/keys/%s", nil},
		{"Export", "GET", "/api/v1/quantum/keys/%s/export", nil},
		{"Encrypt", "POST", encryptPath, func(id string) any { return map[string]any{"plaintext": "", "key_id": id} }},
		{"Decrypt", "POST", decryptPath, func(id string) any { d := maps.Clone(e); d["key_id"] = id; return d }},
		{"Sign", "POST", signPath, func(id string) any { return map[string]any{"message": "", "key_id": id} }},
		{"Verify", "POST", verifyPath, func(id string) any { v := verifyBody(s, nil); v["key_id"] = id; return v }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := aesKey
			if tc.name == "Sign" || tc.name == "Verify" {
				id = edKey
			}
			send := func(c *apitest.Client, id string) *apitest.Response {
				var body any
				if tc.body != nil {
					body = tc.body(id)
				}
				return c.Do(t, tc.method, strings.Replace(tc.path, "%s", id, 1), body)
			}
			theirs := wantError(t, send(other, id), 404, "NOT_FOUND", "")
			nobody := wantError(t, send(other, missing), 404, "NOT_FOUND", "")
			if theirs != nobody {
				t.Fatalf("another customer's key (%q) is told apart from a missing one (%q)", theirs, nobody)
			}
		})
	}
	t.Run("KeyExchangeSession", func(t *testing.T) {
		wantStatus(t, other.Do(t, "POST", exchangePath, map[string]any{"session_id": kx["session_id"]}), 404, "NOT_FOUND")
	})
	t.Run("List", func(t *testing.T) {
		if l := call(t, other, "GET", "/api/v1/quantum/keys", nil, http.StatusOK); l["total"] != 0.0 {
			t.Fatalf("other customer lists %v", l)
		}
	})
	t.Run("OwnerUnaffected", func(t *testing.T) {
		if k := call(t, owner, "GET", "/api/v1/quantum/keys/"+aesKey, nil, http.StatusOK); k["version"] != 1.0 {
			t.Fatalf("owner's key changed: %v", k)
		}
		if d := call(t, owner, "POST", decryptPath, e, http.StatusOK); string(unb64(t, d["plaintext"])) != "owner's data" {
			t.Fatal("owner cannot decrypt")
		}
		call(t, owner, "GET", "/api/v1/quantum/keys/"+edKey, nil, http.StatusOK)
		if v := call(t, owner, "POST", verifyPath, map[string]any{"message": "", "signature": s["signature"], "quantum_nonce": s["quantum_nonce"], "key_id": edKey, "consume_nonce": true}, http.StatusOK); v["valid"] != true {
			t.Fatal("owner's verify")
		}
	})
}

// TestKeysWrongMasterKey serves the same database with a keyring under a
// different master key: operations on stored keys fail as a plain 500
// that says nothing of why, get and verify by key_id included, and nothing
// is lost for the right key.
func TestKeysWrongMasterKey(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	aesKey := createKey(t, c, map[string]any{"algorithm": "AES-256-GCM", "exportable": true})["key_id"].(string)
	edKey := createKey(t, c, map[string]any{"algorithm": "Ed25519"})["key_id"].(string)
	e := encryptFor(t, c, aesKey, []byte("sealed"))
	s := call(t, c, "POST", signPath, map[string]any{"message": "", "key_id": edKey}, http.StatusOK)

	wrong, err := keyring.New(keyring.Config{Keys: a.DB, Nonces: a.DB, Exchanges: a.DB, Randomness: a.Deps.Entropy, MasterKey: masterkey.Generate(), Clock: a.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	deps := a.Deps
	logs := &logBuffer{}
	deps.Keyring, deps.Logger, deps.Metrics = wrong, slog.New(slog.NewJSONHandler(logs, nil)), nil
	srv := httptest.NewServer(httpapi.NewServer(deps))
	t.Cleanup(srv.Close)
	c2 := &apitest.Client{BaseURL: srv.URL, APIKey: c.APIKey}

	for _, rq := range []struct {
		path string
		body any
	}{
		{decryptPath, e},
		{encryptPath, map[string]any{"plaintext": "", "key_id": aesKey}},
		{signPath, map[string]any{"message": "", "key_id": edKey}},
	} {
		r := c2.Do(t, "POST", rq.path, rq.body)
		if d := wantError(t, r, 500, "INTERNAL_ERROR", ""); d != "Internal error." {
			t.Fatalf("%s: detail %q", rq.path, d)
		}
		if strings.Contains(strings.ToLower(string(r.Body)), "master") {
			t.Fatalf("%s: the 500 tells why: %s", rq.path, r.Body)
		}
	}
	wantStatus(t, c2.Do(t, "GET", "/api/v1/quantum/keys/"+aesKey+"/export", nil), 500, "INTERNAL_ERROR")
	// The public keys and flags stored beside the material are vouched
	// for by its seal: without the master key they are not shown or used.
	wantStatus(t, c2.Do(t, "GET", "/api/v1/quantum/keys/"+edKey, nil), 500, "INTERNAL_ERROR")
	wantStatus(t, c2.Do(t, "POST", verifyPath, verifyBody(s, nil)), 500, "INTERNAL_ERROR")
	if !strings.Contains(logs.String(), "MASTER_KEY_MISMATCH") {
		t.Error("the cause is not logged for the operator")
	}
	// Nothing was lost: the right key still opens everything.
	if d := call(t, c, "POST", decryptPath, e, http.StatusOK); string(unb64(t, d["plaintext"])) != "sealed" {
		t.Fatal("the right master key no longer decrypts")
	}
	call(t, c, "POST", signPath, map[string]any{"message": "", "key_id": edKey}, http.StatusOK)
}

// TestKeysLogNoSecrets runs every operation that handles a secret and
// checks the access log holds none of them.
func TestKeysLogNoSecrets(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, alice := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, bob := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	plaintext := []byte("the launch code is 0000 and must never be logged")
	aad := []byte("associated data, also private")

	k := createKey(t, alice, map[string]any{"algorithm": "ChaCha20-Poly1305", "exportable": true})
	ed := createKey(t, alice, map[string]any{"algorithm": "Ed25519", "exportable": true})
	rot := call(t, alice, "POST", "/api/v1/quantum/keys/"+k["key_id"].(string)+"/rotate", nil, http.StatusOK)
	e := call(t, alice, "POST", encryptPath, map[string]any{"plaintext": b64(plaintext), "key_id": k["key_id"], "aad": b64(aad)}, http.StatusOK)
	d := call(t, alice, "POST", decryptPath, decryptBody(e, aad), http.StatusOK)
	exp := call(t, alice, "GET", "/api/v1/quantum/keys/"+ed["key_id"].(string)+"/export", nil, http.StatusOK)
	call(t, alice, "POST", signPath, map[string]any{"message": b64(plaintext), "key_id": ed["key_id"]}, http.StatusOK)
	init := exchange(t, alice, nil)
	resp := exchange(t, bob, map[string]any{"peer_public_key": init["public_key"]})
	exchange(t, alice, map[string]any{"session_id": init["session_id"], "peer_public_key": resp["public_key"]})
	wantStatus(t, alice.Do(t, "POST", decryptPath, map[string]any{"ciphertext": e["ciphertext"], "key_id": k["key_id"], "iv": e["iv"], "tag": e["tag"]}), 400, "DECRYPTION_FAILED")

	logs := a.Logs.String()
	for _, route := range []string{"POST /api/v1/quantum/crypto/encrypt", "POST /api/v1/quantum/crypto/decrypt", "POST /api/v1/quantum/crypto/key-exchange", "GET /api/v1/quantum/keys/{key_id}/export"} {
		if !strings.Contains(logs, `"route":"`+route+`"`) {
			t.Fatalf("no access log line for %s: the check below would prove nothing", route)
		}
	}
	edPEM := strings.Split(exp["key"].(string), "\n")[1] // the base64 line of the PKCS #8 block
	for name, secret := range map[string]string{
		"plaintext":              string(plaintext),
		"plaintext (base64)":     b64(plaintext),
		"decrypted (base64)":     d["plaintext"].(string),
		"aad":                    b64(aad),
		"created key material":   k["key"].(string),
		"rotated key material":   rot["key"].(string),
		"exported private key":   edPEM,
		"shared secret (base64)": resp["shared_secret"].(string),
	} {
		if strings.Contains(logs, secret) || strings.Contains(logs, secret[:16]) {
			t.Errorf("the log holds the %s", name)
		}
	}
}
