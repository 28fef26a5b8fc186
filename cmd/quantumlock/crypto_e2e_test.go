package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha3"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock/internal/apitest"
)

// TestCryptoEndToEnd runs issue 4's "done when" against a real serve: every
// kind of key, both ciphers, all four signature algorithms (SHA3-512-RSA
// also checked outside the service), rotation, the key exchange between
// two customers, and a restart on the same database and master key, after
// which sealed keys still work.
func TestCryptoEndToEnd(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	mk := env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	inst := serve(t, mk, "--db", db)
	newCustomer := func(name string) *apitest.Client {
		var cust struct {
			APIKey string `json:"api_key"`
		}
		json.Unmarshal(cli(t, "customers", "create", "--name", name, "--email", name+"@vendor.example", "--plan", "enterprise", "--db", db), &cust)
		return &apitest.Client{BaseURL: inst.URL, APIKey: cust.APIKey}
	}
	alice, bob := newCustomer("alice"), newCustomer("bob")
	do := func(c *apitest.Client, method, path string, body any, status int) map[string]any {
		t.Helper()
		r := c.Do(t, method, path, body)
		if r.Status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, status, r.Body)
		}
		return r.JSON(t)
	}
	b64 := base64.StdEncoding.EncodeToString
	unb64 := func(v any) []byte {
		t.Helper()
		b, err := base64.StdEncoding.DecodeString(v.(string))
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		return b
	}

	// Every kind of key.
	keys := map[string]string{}
	for _, alg := range []string{"AES-256-GCM", "ChaCha20-Poly1305", "Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65", "RSA-4096"} {
		k := do(alice, "POST", "/api/v1/quantum/keys", map[string]any{"algorithm": alg}, 201)
		if k["algorithm"] != alg || k["version"] != 1.0 {
			t.Fatalf("create %s: %v", alg, k)
		}
		keys[alg] = k["key_id"].(string)
	}
	pair := do(alice, "POST", "/api/v1/quantum/rsa", map[string]any{"exportable": false}, 201)
	if pair["bits"] != 3072.0 || pair["private_key"] != nil {
		t.Fatalf("rsa %v", pair)
	}
	keys["RSA-3072"] = pair["key_id"].(string)
	if l := do(alice, "GET", "/api/v1/quantum/keys", nil, 200); l["total"] != 7.0 {
		t.Fatalf("list %v", l)
	}

	// Encrypt and decrypt with both ciphers.
	type sealed struct {
		enc       map[string]any
		plaintext string
	}
	var ciphertexts []sealed
	for _, alg := range []string{"AES-256-GCM", "ChaCha20-Poly1305"} {
		pt := "secret under " + alg
		e := do(alice, "POST", "/api/v1/quantum/crypto/encrypt", map[string]any{"plaintext": b64([]byte(pt)), "key_id": keys[alg], "aad": b64([]byte("v1"))}, 200)
		e["aad"] = b64([]byte("v1"))
		if d := do(alice, "POST", "/api/v1/quantum/crypto/decrypt", e, 200); string(unb64(d["plaintext"])) != pt {
			t.Fatalf("%s round trip: %v", alg, d)
		}
		ciphertexts = append(ciphertexts, sealed{e, pt})
	}

	// Sign and verify with all four signature algorithms.
	message := []byte("release 2.0 manifest")
	var signatures []map[string]any
	for alg, key := range map[string]string{"SHA3-512-RSA": keys["RSA-3072"], "Ed25519": keys["Ed25519"], "ML-DSA-65": keys["ML-DSA-65"], "Ed25519+ML-DSA-65": keys["Ed25519+ML-DSA-65"]} {
		s := do(alice, "POST", "/api/v1/quantum/crypto/sign", map[string]any{"message": b64(message), "key_id": key, "algorithm": alg}, 200)
		body := func(by string, v any) map[string]any {
			return map[string]any{"message": b64(message), "signature": s["signature"], "quantum_nonce": s["quantum_nonce"], by: v}
		}
		if v := do(alice, "POST", "/api/v1/quantum/crypto/verify", body("key_id", key), 200); v["valid"] != true {
			t.Fatalf("%s: verify by key_id %v", alg, v)
		}
		// Anyone holding the public key can check it; only Alice has the key_id.
		if v := do(bob, "POST", "/api/v1/quantum/crypto/verify", body("public_key", s["public_key"]), 200); v["valid"] != true {
			t.Fatalf("%s: verify by public_key %v", alg, v)
		}
		do(bob, "POST", "/api/v1/quantum/crypto/verify", body("key_id", key), 404)
		signatures = append(signatures, s)
	}
	// The RSA-PSS signature checked outside the service, as docs/crypto.md
	// says: RSASSA-PSS, SHA3-512 of quantum_nonce‖message, salt 64 bytes.
	for _, s := range signatures {
		if s["algorithm"] != "SHA3-512-RSA" {
			continue
		}
		block, _ := pem.Decode([]byte(s["public_key"].(string)))
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha3.Sum512(append(unb64(s["quantum_nonce"]), message...))
		if err := rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA3_512, digest[:], unb64(s["signature"]), &rsa.PSSOptions{SaltLength: 64}); err != nil {
			t.Fatalf("rsa.VerifyPSS: %v", err)
		}
		other := sha3.Sum512(append(unb64(s["quantum_nonce"]), "release 2.1 manifest"...))
		if rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA3_512, other[:], unb64(s["signature"]), &rsa.PSSOptions{SaltLength: 64}) == nil {
			t.Fatal("rsa.VerifyPSS accepts another message")
		}
	}

	// Rotate: new encryptions use version 2, old data still decrypts.
	rot := do(alice, "POST", "/api/v1/quantum/keys/"+keys["AES-256-GCM"]+"/rotate", nil, 200)
	if rot["version"] != 2.0 {
		t.Fatalf("rotate %v", rot)
	}
	if e := do(alice, "POST", "/api/v1/quantum/crypto/encrypt", map[string]any{"plaintext": "", "key_id": keys["AES-256-GCM"]}, 200); e["key_version"] != 2.0 {
		t.Fatalf("encrypt after rotation %v", e)
	}
	if d := do(alice, "POST", "/api/v1/quantum/crypto/decrypt", ciphertexts[0].enc, 200); d["key_version"] != 1.0 {
		t.Fatalf("old data after rotation %v", d)
	}

	// Key exchange between two customers.
	for _, alg := range []string{"X25519MLKEM768", "X25519", "ML-KEM-768"} {
		init := do(alice, "POST", "/api/v1/quantum/crypto/key-exchange", map[string]any{"algorithm": alg, "key_bits": 256}, 200)
		resp := do(bob, "POST", "/api/v1/quantum/crypto/key-exchange", map[string]any{"peer_public_key": init["public_key"], "key_bits": 256}, 200)
		done := do(alice, "POST", "/api/v1/quantum/crypto/key-exchange", map[string]any{"peer_public_key": resp["public_key"], "session_id": init["session_id"]}, 200)
		if done["shared_secret"] == nil || done["shared_secret"] != resp["shared_secret"] || len(unb64(done["shared_secret"])) != 32 {
			t.Fatalf("%s: Alice %v, Bob %v", alg, done["shared_secret"], resp["shared_secret"])
		}
	}
	// Bob cannot see or use Alice's keys.
	r := bob.Do(t, "POST", "/api/v1/quantum/crypto/decrypt", ciphertexts[1].enc)
	if r.Status != 404 {
		t.Fatalf("Bob decrypting Alice's data: %d %s", r.Status, r.Body)
	}

	if err := inst.stop(); err != nil {
		t.Fatal(err)
	}
	if logs := inst.Stderr.String(); strings.Contains(logs, b64([]byte(ciphertexts[0].plaintext))) || strings.Contains(logs, ciphertexts[0].plaintext) {
		t.Error("the log holds a plaintext")
	}

	// A different master key: serve refuses, and touches nothing.
	var errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", db},
		env("QUANTUMLOCK_MASTER_KEY", "HwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), nil, io.Discard, &errb)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "master key") {
		t.Fatalf("serve under another master key: %v", err)
	}

	// Restart with the right key: sealed keys open, old data decrypts, old
	// signatures verify, and the keys still sign and rotate.
	inst = serve(t, mk, "--db", db)
	alice.BaseURL, bob.BaseURL = inst.URL, inst.URL
	for _, c := range ciphertexts {
		if d := do(alice, "POST", "/api/v1/quantum/crypto/decrypt", c.enc, 200); string(unb64(d["plaintext"])) != c.plaintext {
			t.Fatalf("after restart: %v", d)
		}
	}
	for _, s := range signatures {
		body := map[string]any{"message": b64(message), "signature": s["signature"], "quantum_nonce": s["quantum_nonce"], "key_id": s["key_id"]}
		if v := do(alice, "POST", "/api/v1/quantum/crypto/verify", body, 200); v["valid"] != true {
			t.Fatalf("%s after restart: %v", s["algorithm"], v)
		}
		do(alice, "POST", "/api/v1/quantum/crypto/sign", map[string]any{"message": b64(message), "key_id": s["key_id"]}, 200)
	}
	do(alice, "POST", "/api/v1/quantum/keys/"+keys["ChaCha20-Poly1305"]+"/rotate", nil, 200)
	if d := do(alice, "POST", "/api/v1/quantum/crypto/decrypt", ciphertexts[1].enc, 200); string(unb64(d["plaintext"])) != ciphertexts[1].plaintext {
		t.Fatalf("after restart and rotation: %v", d)
	}
}

// --max-keys reaches the key service: past it, a new key is 403.
func TestMaxKeysFlag(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	inst := serve(t, env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), "--db", db, "--max-keys", "1")
	var cust struct {
		APIKey string `json:"api_key"`
	}
	json.Unmarshal(cli(t, "customers", "create", "--name", "a", "--email", "a@vendor.example", "--plan", "enterprise", "--db", db), &cust)
	c := &apitest.Client{BaseURL: inst.URL, APIKey: cust.APIKey}
	for i, want := range []int{201, 403} {
		if r := c.Do(t, "POST", "/api/v1/quantum/keys", map[string]any{}); r.Status != want {
			t.Fatalf("key %d: %d, want %d: %s", i+1, r.Status, want, r.Body)
		}
	}
}
