package httpapi_test

// The entropy routes' encodings, figures and honesty against a scripted
// source whose answers are known, and the pool's reserve under the health
// route's test draw.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/apitest"
)

// scriptedEntropy answers every draw with a fixed byte pattern and the
// figures it is given, so the API's rendering of them can be checked.
type scriptedEntropy struct {
	mu       sync.Mutex
	pattern  []byte
	fidelity *float64
	qubits   *int
	qv       bool
	status   []entropy.SourceStatus
	avail    bool
}

func (f *scriptedEntropy) Draw(_ context.Context, n int, source string) (*quantumlock.Entropy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = f.pattern[i%len(f.pattern)]
	}
	if source == "" {
		source = quantumlock.SourceCryptographic
		if f.qv {
			source = quantumlock.SourceQCOSAPI // the best healthy source
		}
	}
	return &quantumlock.Entropy{Bytes: b, Source: source, Fidelity: f.fidelity, Qubits: f.qubits, QuantumVerified: f.qv}, nil
}
func (f *scriptedEntropy) Status() []entropy.SourceStatus { return f.status }
func (f *scriptedEntropy) Available() bool                { return f.avail }

// entropyAPI serves the API with src as its entropy subsystem and returns
// a client for a new enterprise customer.
func entropyAPI(t *testing.T, src httpapi.EntropyService) *apitest.Client {
	t.Helper()
	a := newTestAPI(t)
	deps := a.Deps
	deps.Entropy = src
	srv := httptest.NewServer(httpapi.NewServer(deps))
	t.Cleanup(srv.Close)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	return &apitest.Client{BaseURL: srv.URL, APIKey: c.APIKey}
}

// raw is the same bits as hex and base64, most significant first, for
// every length 1–16 and some large ones; hex and base64 are exactly the
// drawn bytes with the unused high bits cleared.
func TestEntropyEncodingsAgree(t *testing.T) {
	t.Parallel()
	f := &scriptedEntropy{pattern: []byte{0xb5, 0x3c, 0xe1, 0x96}}
	c := entropyAPI(t, f)
	lengths := []int{}
	for b := 1; b <= 16; b++ {
		lengths = append(lengths, b)
	}
	lengths = append(lengths, 17, 63, 64, 65, 255, 256, 257, 1001, 4095, 4096)
	for _, bits := range lengths {
		want := make([]byte, (bits+7)/8)
		for i := range want {
			want[i] = f.pattern[i%len(f.pattern)]
		}
		if r := bits % 8; r != 0 {
			want[0] &= byte(1<<r) - 1
		}
		var sb strings.Builder
		for _, b := range want {
			fmt.Fprintf(&sb, "%08b", b)
		}
		wantRaw := sb.String()[len(want)*8-bits:]
		for enc, w := range map[string]string{"hex": hex.EncodeToString(want), "base64": base64.StdEncoding.EncodeToString(want), "raw": wantRaw} {
			r := c.Do(t, "POST", "/api/v1/quantum/entropy", fmt.Sprintf(`{"bits":%d,"encoding":%q}`, bits, enc))
			wantStatus(t, r, 200, "")
			if got := r.JSON(t)["entropy"]; got != w {
				t.Errorf("bits %d %s: %v, want %s", bits, enc, got, w)
			}
		}
	}
}

// fidelity, qubits and quantum_verified are the source's, passed through:
// null stays null, a measured figure is not replaced (SPEC §1).
func TestEntropyFiguresAreTheSources(t *testing.T) {
	t.Parallel()
	f := &scriptedEntropy{pattern: []byte{1}}
	c := entropyAPI(t, f)
	e := c.Do(t, "POST", "/api/v1/quantum/entropy", `{}`).JSON(t)
	if e["fidelity"] != nil || e["qubits"] != nil || e["quantum_verified"] != false {
		t.Errorf("no figures given: %v", e)
	}
	fid, q := 0.8125, 7
	f.mu.Lock()
	f.fidelity, f.qubits, f.qv = &fid, &q, true
	f.mu.Unlock()
	for _, body := range []string{`{"source":"qcos_api"}`, `{"source":null}`} {
		e = c.Do(t, "POST", "/api/v1/quantum/entropy", body).JSON(t)
		if e["fidelity"] != fid || e["qubits"] != 7.0 || e["quantum_verified"] != true || e["source"] != "qcos_api" {
			t.Errorf("%s: figures %v", body, e)
		}
	}
}

// SPEC §4 / README: routes that take no parameters refuse any.
func TestEntropyRoutesRefuseQuery(t *testing.T) {
	t.Parallel()
	c := entropyAPI(t, &scriptedEntropy{pattern: []byte{1}, avail: true})
	wantError(t, c.Do(t, "POST", "/api/v1/quantum/entropy?bits=8", `{}`), 400, "INVALID_REQUEST", "bits")
	wantError(t, c.Do(t, "GET", "/api/v1/quantum/health?verbose=1", nil), 400, "INVALID_REQUEST", "verbose")
}

// The top-level available is the entropy service's, not a constant.
func TestQuantumHealthUnavailable(t *testing.T) {
	t.Parallel()
	st := []entropy.SourceStatus{{Name: "qcos_api", Quantum: true}, {Name: "qiskit_local", Simulator: "s", Qubits: ptr(16)}, {Name: "cryptographic"}}
	c := entropyAPI(t, &scriptedEntropy{pattern: []byte{1}, status: st})
	h := c.Do(t, "GET", "/api/v1/quantum/health", nil).JSON(t)
	if h["available"] != false || len(h["backends"].([]any)) != 0 {
		t.Errorf("nothing available: %v", h)
	}
}

// fidelity of a qcos_api draw is the remote's measured figure, not the
// OS's: a QRNG whose high bit is always 0 passes the byte health tests
// (7 bits per byte) but its per-bit MCV estimate is near 0.83.
func TestEntropyQCOSFidelityIsTheRemotes(t *testing.T) {
	qrng := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("length"))
		raw := make([]byte, n)
		rand.Read(raw)
		data := make([]int, n)
		for i, b := range raw {
			data[i] = int(b & 0x7f)
		}
		json.NewEncoder(w).Encode(map[string]any{"type": "uint8", "length": n, "data": data, "success": true})
	}))
	t.Cleanup(qrng.Close)
	pool, err := entropy.New(entropy.Config{QRNGURL: qrng.URL, PoolSize: 64 << 10, DrawWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	// A full fidelity window of the remote's output.
	for got := 0; got < entropy.FidelityWindowBits/8+8192; got += 8192 {
		if _, err := pool.Draw(context.Background(), 8192, quantumlock.SourceQCOSAPI); err != nil {
			t.Fatal(err)
		}
	}
	c := entropyAPI(t, pool)
	r := c.Do(t, "POST", "/api/v1/quantum/entropy", `{"source":"qcos_api","bits":64}`)
	wantStatus(t, r, 200, "")
	e := r.JSON(t)
	fid, ok := e["fidelity"].(float64)
	if !ok || math.Abs(fid-0.83) > 0.02 {
		t.Errorf("qcos_api draw from a remote with 7 bits per byte: fidelity %v, want about 0.83", e["fidelity"])
	}
}

// encoding is one of the three names exactly (openapi.yaml's enum).
func TestEntropyEncodingIsExact(t *testing.T) {
	t.Parallel()
	c := entropyAPI(t, &scriptedEntropy{pattern: []byte{1}})
	for _, enc := range []string{"HEX", "Base64", "RAW", ""} {
		wantError(t, c.Do(t, "POST", "/api/v1/quantum/entropy", `{"encoding":"`+enc+`"}`), 400, "INVALID_REQUEST", "encoding")
	}
}
