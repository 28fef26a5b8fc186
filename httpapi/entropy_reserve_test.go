package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/keyring"
)

// Draws at a customer's asking take from the qcos_api pool only what
// leaves half of it (docs/entropy.md): POST /api/v1/quantum/entropy, the
// job id's bytes included (those used to come from the reserve, so one
// customer calling at its rate limit kept the pool empty for everyone
// else's licenses and keys), and the test draw of GET /quantum/health.
func TestEntropyCallsKeepThePoolsReserve(t *testing.T) {
	for _, call := range []struct{ method, path, body string }{
		{"POST", "/api/v1/quantum/entropy", `{"bits":8}`},
		{"GET", "/api/v1/quantum/health", ""},
	} {
		pool, poolBytes := fullQCOSPool(t)
		c := entropyAPI(t, pool)
		var body any
		if call.body != "" {
			body = call.body
		}
		for range 200 {
			wantStatus(t, c.Do(t, call.method, call.path, body), 200, "")
		}
		if got := poolBytes(); got < 1024 {
			t.Errorf("after 200 calls of %s %s the pool holds %d of 2048 bytes: the reserve half was spent on them", call.method, call.path, got)
		}
	}
}

// fullQCOSPool starts an entropy pool of 2,048 bytes on a fake QRNG and
// waits until it is full. The QRNG answers three requests (the start-up
// run and a full pool) and then hangs, so that only the draws of the test
// move the pool. poolBytes reports what the pool holds.
func fullQCOSPool(t *testing.T) (pool *entropy.Pool, poolBytes func() int) {
	t.Helper()
	var served atomic.Int64
	release := make(chan struct{})
	qrng := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 3 {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("length"))
		raw := make([]byte, n)
		rand.Read(raw)
		data := make([]int, n)
		for i, b := range raw {
			data[i] = int(b)
		}
		json.NewEncoder(w).Encode(map[string]any{"type": "uint8", "length": n, "data": data, "success": true})
	}))
	t.Cleanup(func() { close(release); qrng.Close() })
	pool, err := entropy.New(entropy.Config{QRNGURL: qrng.URL, FetchSize: 1024, PoolSize: 2048, RequestTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	poolBytes = func() int {
		for _, st := range pool.Status() {
			if st.Name == quantumlock.SourceQCOSAPI {
				return st.PoolBytes
			}
		}
		t.Fatal("no qcos_api in the pool's status")
		return 0
	}
	for deadline := time.Now().Add(10 * time.Second); poolBytes() < 2048; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pool never filled")
		}
	}
	return pool, poolBytes
}

// The service's own draws that no answer claims quantum for (ids, IVs,
// signature nonces, seal salts, key-exchange private values) take only the
// spare half too: one customer's exchanges, encryptions and signatures
// used to spend the reserve, about 130 bytes an exchange, and another
// customer's new key then came out without quantum_secured.
func TestUnclaimedDrawsKeepThePoolsReserve(t *testing.T) {
	pool, poolBytes := fullQCOSPool(t)
	a := newTestAPI(t)
	url := a.serveKeyring(t, keyring.Config{Randomness: pool})
	_, ca := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, cb := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	ca.BaseURL, cb.BaseURL = url, url
	var aes, ed struct {
		KeyID string `json:"key_id"`
	}
	ca.Do(t, "POST", "/api/v1/quantum/keys", `{}`).Decode(t, &aes)
	ca.Do(t, "POST", "/api/v1/quantum/keys", `{"algorithm":"Ed25519"}`).Decode(t, &ed)
	for range 40 {
		// A initiates, B answers (the responder's own value and id).
		r := ca.Do(t, "POST", "/api/v1/quantum/crypto/key-exchange", `{}`)
		wantStatus(t, r, 200, "")
		wantStatus(t, cb.Do(t, "POST", "/api/v1/quantum/crypto/key-exchange", map[string]any{"peer_public_key": r.JSON(t)["public_key"]}), 200, "")
		wantStatus(t, ca.Do(t, "POST", "/api/v1/quantum/crypto/encrypt", `{"plaintext":"aGk=","key_id":"`+aes.KeyID+`"}`), 200, "")
		wantStatus(t, ca.Do(t, "POST", "/api/v1/quantum/crypto/sign", `{"message":"aGk=","key_id":"`+ed.KeyID+`"}`), 200, "")
	}
	if got := poolBytes(); got < 1024-2*64 {
		t.Errorf("after 40 exchanges, encryptions and signatures the pool holds %d of 2048 bytes", got)
	}
	r := cb.Do(t, "POST", "/api/v1/quantum/keys", `{}`)
	if wantStatus(t, r, 201, ""); r.JSON(t)["quantum_secured"] != true {
		t.Errorf("another customer's new key: %s", r.Body)
	}
}
