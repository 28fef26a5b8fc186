package httpapi_test

import (
	"encoding/base64"
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock"
)

func TestEntropy(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	draw := func(t *testing.T, body string) map[string]any {
		t.Helper()
		r := c.Do(t, "POST", "/api/v1/quantum/entropy", body)
		wantStatus(t, r, 200, "")
		return r.JSON(t)
	}

	t.Run("Defaults", func(t *testing.T) {
		e := draw(t, ``)
		if b, err := hex.DecodeString(e["entropy"].(string)); err != nil || len(b) != 32 {
			t.Errorf("entropy %v", e["entropy"])
		}
		if e["bits"] != 256.0 || e["source"] != "cryptographic" || e["qubits"] != nil || e["quantum_verified"] != false {
			t.Errorf("response %v", e)
		}
		if !strings.HasPrefix(e["job_id"].(string), "job_cryptographic_") {
			t.Errorf("job_id %v", e["job_id"])
		}
		if draw(t, `{}`)["job_id"] == e["job_id"] {
			t.Error("job_id repeated")
		}
	})
	t.Run("ExactLengths", func(t *testing.T) {
		for _, bits := range []int{1, 7, 8, 9, 13, 255, 4096} {
			nb := (bits + 7) / 8
			var hiMask byte
			if bits%8 != 0 {
				hiMask = ^byte(1<<(bits%8) - 1)
			}
			for range 8 {
				h := draw(t, `{"bits":`+itoa(bits)+`,"encoding":"hex"}`)["entropy"].(string)
				b, _ := hex.DecodeString(h)
				if len(b) != nb || b[0]&hiMask != 0 {
					t.Fatalf("bits=%d hex %s", bits, h)
				}
				b64 := draw(t, `{"bits":`+itoa(bits)+`,"encoding":"base64"}`)["entropy"].(string)
				if b, err := base64.StdEncoding.DecodeString(b64); err != nil || len(b) != nb || b[0]&hiMask != 0 {
					t.Fatalf("bits=%d base64 %s", bits, b64)
				}
				raw := draw(t, `{"bits":`+itoa(bits)+`,"encoding":"raw"}`)["entropy"].(string)
				if len(raw) != bits || strings.Trim(raw, "01") != "" {
					t.Fatalf("bits=%d raw %q", bits, raw)
				}
			}
		}
	})
	t.Run("RawIsUnbiased", func(t *testing.T) {
		// 4096 fair bits have 2048 ones, sd 32; outside ±6.5 sd has
		// probability below 1e-10.
		raw := draw(t, `{"bits":4096,"encoding":"raw"}`)["entropy"].(string)
		if n := strings.Count(raw, "1"); n < 2048-208 || n > 2048+208 {
			t.Fatalf("%d ones in 4096 bits", n)
		}
	})
	t.Run("Simulator", func(t *testing.T) {
		e := draw(t, `{"source":"qiskit_local","bits":64}`)
		if e["source"] != "qiskit_local" || e["qubits"] != 16.0 || e["quantum_verified"] != false {
			t.Errorf("simulator response %v", e)
		}
	})
	t.Run("ErrQCOSUnconfigured", func(t *testing.T) {
		wantStatus(t, c.Do(t, "POST", "/api/v1/quantum/entropy", `{"source":"qcos_api"}`), 503, "QUANTUM_BACKEND_UNAVAILABLE")
	})
	for name, body := range map[string]string{
		"ErrBitsZero":    `{"bits":0}`,
		"ErrBitsHigh":    `{"bits":4097}`,
		"ErrBitsType":    `{"bits":"256"}`,
		"ErrEncoding":    `{"encoding":"bin"}`,
		"ErrSource":      `{"source":"dwave"}`,
		"ErrSourceEmpty": `{"source":""}`,
		"ErrSourceType":  `{"source":1}`,
		"ErrUnknownFld":  `{"qubits":16}`,
		"ErrNotAnObject": `256`,
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, c.Do(t, "POST", "/api/v1/quantum/entropy", body), 400, "INVALID_REQUEST")
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestQuantumHealth(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	r := c.Do(t, "GET", "/api/v1/quantum/health", nil)
	wantStatus(t, r, 200, "")
	h := r.JSON(t)
	if h["available"] != true {
		t.Errorf("available %v", h["available"])
	}
	if got := h["backends"].([]any); len(got) != 2 || got[0] != "qiskit_local" || got[1] != "cryptographic" {
		t.Errorf("backends %v", got)
	}
	q := h["qcos_api"].(map[string]any)
	if lat, ok := q["latency_ms"]; q["available"] != false || q["quantum"] != true || !ok || lat != nil {
		t.Errorf("unconfigured qcos_api %v, want latency_ms present and null", q)
	}
	if url, ok := q["url"]; !ok || url != nil {
		t.Errorf("unconfigured qcos_api %v, want url present and null", q)
	}
	if q["replay_failures"] != 0.0 {
		t.Errorf("qcos_api replay_failures %v, want 0", q["replay_failures"])
	}
	if _, ok := h["qiskit_local"].(map[string]any)["latency_ms"]; ok {
		t.Error("qiskit_local has a latency_ms")
	}
	for _, name := range []string{"qiskit_local", "cryptographic"} {
		if _, ok := h[name].(map[string]any)["replay_failures"]; ok {
			t.Errorf("%s has a replay_failures", name)
		}
	}
	sim := h["qiskit_local"].(map[string]any)
	if sim["available"] != true || sim["quantum"] != false || sim["qubits"] != 16.0 || sim["simulator"] == "" {
		t.Errorf("qiskit_local %v", sim)
	}
	tr := h["test_result"].(map[string]any)
	if tr["bits"] != 64.0 || tr["source"] != "cryptographic" || len(tr["entropy"].(string)) != 16 {
		t.Errorf("test_result %v", tr)
	}
	wantStatus(t, c.Do(t, "GET", "/api/v1/quantum/health", nil, "X-API-Key", ""), 401, "UNAUTHORIZED")

	// What another customer does does not show in it: no counter that
	// their draws move (fidelity, an estimate over recent output, aside).
	_, other := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	state := func() map[string]any {
		t.Helper()
		h := c.Do(t, "GET", "/api/v1/quantum/health", nil).JSON(t)
		delete(h, "test_result")
		for _, name := range []string{"qcos_api", "qiskit_local", "cryptographic"} {
			delete(h[name].(map[string]any), "fidelity")
		}
		return h
	}
	before := state()
	for range 10 {
		generate(t, other, `{"end_customer_id":"x"}`)
	}
	if after := state(); !reflect.DeepEqual(before, after) {
		t.Errorf("another customer's licenses show in quantum/health:\n%v\n%v", before, after)
	}
}
