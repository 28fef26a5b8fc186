package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/internal/apitest"
)

const exchangePath = "/api/v1/quantum/crypto/key-exchange"

// exchange runs one key-exchange step, wanting 200.
func exchange(t *testing.T, c *apitest.Client, body any) map[string]any {
	t.Helper()
	return call(t, c, "POST", exchangePath, body, http.StatusOK)
}

func TestKeyExchange(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, alice := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, bob := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, eve := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	sizes := map[string][2]int{ // initiator's, responder's public value
		"X25519MLKEM768": {1216, 1120},
		"X25519":         {32, 32},
		"ML-KEM-768":     {1184, 1088},
	}

	for _, alg := range []string{"X25519MLKEM768", "X25519", "ML-KEM-768"} {
		for _, bits := range []any{128, 192, 256, nil} {
			t.Run(fmt.Sprintf("%s/%v", alg, bits), func(t *testing.T) {
				t.Parallel()
				want := 256
				if bits != nil {
					want = bits.(int)
				}
				// 1. Alice initiates.
				init := exchange(t, alice, map[string]any{"peer_public_key": nil, "algorithm": alg, "key_bits": bits})
				if init["shared_secret"] != nil || init["algorithm"] != alg || init["key_bits"] != float64(want) ||
					init["expires_at"] != timeString(a.Clock.Now().Add(10*time.Minute)) || len(unb64(t, init["public_key"])) != sizes[alg][0] {
					t.Fatalf("initiate %v", init)
				}
				// 2–3. Bob answers Alice's public key; the algorithm follows from its size.
				resp := exchange(t, bob, map[string]any{"peer_public_key": init["public_key"], "key_bits": bits})
				secret := unb64(t, resp["shared_secret"])
				if len(secret) != want/8 || resp["algorithm"] != alg || resp["expires_at"] != nil ||
					len(unb64(t, resp["public_key"])) != sizes[alg][1] || resp["session_id"] == init["session_id"] {
					t.Fatalf("respond %v", resp)
				}
				// Eve knows both public values and the session id: she gets nothing.
				wantStatus(t, eve.Do(t, "POST", exchangePath, map[string]any{"session_id": init["session_id"]}), 404, "NOT_FOUND")
				if alg != "X25519" {
					// Bob's value is a ciphertext: it answers none of Eve's sessions.
					wantStatus(t, eve.Do(t, "POST", exchangePath, map[string]any{"peer_public_key": resp["public_key"]}), 404, "NOT_FOUND")
				}
				// 4. Alice finishes with Bob's value (and, for X25519, where
				// both values are 32 bytes, her session id as the docs advise).
				fin := map[string]any{"peer_public_key": resp["public_key"], "key_bits": bits}
				if alg == "X25519" {
					fin["session_id"] = init["session_id"]
				}
				done := exchange(t, alice, fin)
				if done["shared_secret"] != resp["shared_secret"] || done["session_id"] != init["session_id"] ||
					done["public_key"] != init["public_key"] || done["expires_at"] != nil || done["key_bits"] != float64(want) {
					t.Fatalf("secrets differ or wrong session: Alice %v, Bob %v", done, resp)
				}
				// Single use.
				wantStatus(t, alice.Do(t, "POST", exchangePath, map[string]any{"session_id": init["session_id"]}), 404, "NOT_FOUND")
			})
		}
	}

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		init := exchange(t, alice, nil)
		if init["algorithm"] != "X25519MLKEM768" || init["key_bits"] != 256.0 || init["shared_secret"] != nil {
			t.Fatalf("defaults %v", init)
		}
		resp := exchange(t, bob, map[string]any{"peer_public_key": init["public_key"]})
		// The reference's step 4 sends only Bob's public key.
		done := exchange(t, alice, map[string]any{"peer_public_key": resp["public_key"], "key_bits": 256})
		if done["shared_secret"] != resp["shared_secret"] {
			t.Fatal("secrets differ")
		}
	})
	t.Run("BySessionID", func(t *testing.T) {
		t.Parallel()
		init := exchange(t, alice, map[string]any{"algorithm": "ML-KEM-768"})
		resp := exchange(t, bob, map[string]any{"peer_public_key": init["public_key"]})
		// The session id alone is refused: the answer recorded on the
		// session could be anyone's.
		wantError(t, alice.Do(t, "POST", exchangePath, map[string]any{"session_id": init["session_id"]}), 400, "INVALID_REQUEST", "peer_public_key")
		if done := exchange(t, alice, map[string]any{"session_id": init["session_id"], "peer_public_key": resp["public_key"]}); done["shared_secret"] != resp["shared_secret"] {
			t.Fatal("secrets differ")
		}
	})
	t.Run("MistakeKeepsSession", func(t *testing.T) {
		t.Parallel()
		init := exchange(t, alice, map[string]any{"key_bits": 128})
		resp := exchange(t, bob, map[string]any{"peer_public_key": init["public_key"], "key_bits": 128})
		wantError(t, alice.Do(t, "POST", exchangePath, map[string]any{"session_id": init["session_id"], "key_bits": 256}), 400, "INVALID_REQUEST", "key_bits")
		wantError(t, alice.Do(t, "POST", exchangePath, map[string]any{"session_id": init["session_id"], "algorithm": "X25519"}), 400, "INVALID_REQUEST", "algorithm")
		if done := exchange(t, alice, map[string]any{"session_id": init["session_id"], "peer_public_key": resp["public_key"]}); done["shared_secret"] != resp["shared_secret"] {
			t.Fatal("the session did not survive a mistaken request")
		}
	})
}

func TestKeyExchangeExpiry(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, alice := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, bob := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	init := exchange(t, alice, nil)
	exchange(t, bob, map[string]any{"peer_public_key": init["public_key"]})
	a.Clock.Add(10*time.Minute + time.Second)
	wantError(t, alice.Do(t, "POST", exchangePath, map[string]any{"session_id": init["session_id"]}), 404, "NOT_FOUND", "expired")
}

func TestKeyExchangeErrors(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	for name, tc := range map[string]struct{ body, detail string }{
		"ErrKeyBitsZero":      {`{"key_bits":0}`, "key_bits"},
		"ErrKeyBits":          {`{"key_bits":100}`, "key_bits"},
		"ErrKeyBits512":       {`{"key_bits":512}`, "key_bits"},
		"ErrKeyBitsType":      {`{"key_bits":"256"}`, "key_bits"},
		"ErrAlgorithm":        {`{"algorithm":"DH"}`, "algorithm"},
		"ErrAlgorithmEmpty":   {`{"algorithm":""}`, "algorithm"},
		"ErrPeerBase64":       {`{"peer_public_key":"!!"}`, "peer_public_key"},
		"ErrPeerEmpty":        {`{"peer_public_key":""}`, "peer_public_key"},
		"ErrPeerSize":         {`{"peer_public_key":"` + b64(make([]byte, 33)) + `"}`, "peer_public_key"},
		"ErrPeerTooLong":      {`{"peer_public_key":"` + b64(make([]byte, 5000)) + `"}`, "peer_public_key"},
		"ErrPeerSizeForAlg":   {`{"peer_public_key":"` + b64(make([]byte, 32)) + `","algorithm":"ML-KEM-768"}`, "peer_public_key"},
		"ErrPeerBadMLKEM":     {`{"peer_public_key":"` + strings.Repeat("/", 1184/3*4) + `AA==","algorithm":"ML-KEM-768"}`, "peer_public_key"},
		"ErrSessionIDEmpty":   {`{"session_id":""}`, "session_id"},
		"ErrUnknownField":     {`{"peer_key":null}`, "peer_key"},
		"ErrSharedSecretSent": {`{"shared_secret":"AAAA"}`, "shared_secret"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantError(t, c.Do(t, "POST", exchangePath, tc.body), 400, "INVALID_REQUEST", tc.detail)
		})
	}
	t.Run("ErrNoSession", func(t *testing.T) {
		t.Parallel()
		wantError(t, c.Do(t, "POST", exchangePath, `{"session_id":"kx_000000000000000000000000"}`), 404, "NOT_FOUND", "session")
		// A responder's value (ciphertext-sized) that answers no session of ours.
		wantStatus(t, c.Do(t, "POST", exchangePath, `{"peer_public_key":"`+b64(make([]byte, 1120))+`"}`), 404, "NOT_FOUND")
	})
}

// A session is usable until its tenth minute ends, by session_id and by
// the peer's value, and gone at exactly ten minutes on both paths.
func TestExchangeExpiryBoundary(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, alice := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, bob := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	for _, bySession := range []bool{true, false} {
		for _, tc := range []struct {
			after time.Duration
			ok    bool
		}{{10*time.Minute - time.Second, true}, {10 * time.Minute, false}} {
			init := exchange(t, alice, map[string]any{"algorithm": "ML-KEM-768"})
			resp := exchange(t, bob, map[string]any{"peer_public_key": init["public_key"]})
			a.Clock.Add(tc.after)
			fin := map[string]any{"peer_public_key": resp["public_key"]}
			if bySession {
				fin["session_id"] = init["session_id"]
			}
			r := alice.Do(t, "POST", exchangePath, fin)
			if tc.ok {
				wantStatus(t, r, 200, "")
				if r.JSON(t)["shared_secret"] != resp["shared_secret"] {
					t.Fatal("secrets differ")
				}
			} else {
				wantStatus(t, r, 404, "NOT_FOUND")
			}
		}
	}
}
