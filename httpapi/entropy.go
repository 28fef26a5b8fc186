package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
)

// EntropyService is what the quantum entropy routes need: draws, and each
// source's status. *entropy.Pool implements it.
type EntropyService interface {
	quantumlock.Randomness
	// Status returns every source's status, for GET /quantum/health.
	Status() []entropy.SourceStatus
	// Available reports whether some source can be drawn from now.
	Available() bool
}

// Limits of POST /quantum/entropy (SPEC §7).
const (
	minEntropyBits     = 1
	maxEntropyBits     = 4096
	defaultEntropyBits = 256
)

// validSource reports whether name is one of the reference's source names.
func validSource(name string) bool {
	switch name {
	case quantumlock.SourceCryptographic, quantumlock.SourceQiskitLocal, quantumlock.SourceQCOSAPI:
		return true
	}
	return false
}

// entropyBytes draws ceil(bits/8) bytes from source with the unused high
// bits of the first byte cleared, so the value has exactly bits bits. A
// customer's draws leave half the qcos_api pool to the service's own
// (entropy.SpareOnly).
func (s *server) entropyBytes(r *http.Request, bits int, source string) (*quantumlock.Entropy, error) {
	e, err := s.Entropy.Draw(entropy.SpareOnly(r.Context()), (bits+7)/8, source)
	if err != nil {
		return nil, err
	}
	if rem := bits % 8; rem != 0 {
		e.Bytes[0] &= byte(1<<rem) - 1
	}
	return e, nil
}

// bitString renders the low bits bits of b (big-endian) as '0'/'1'.
func bitString(b []byte, bits int) string {
	var sb strings.Builder
	sb.Grow(bits)
	skip := len(b)*8 - bits
	for i := skip; i < len(b)*8; i++ {
		sb.WriteByte('0' + (b[i/8]>>(7-i%8))&1)
	}
	return sb.String()
}

// handleEntropy serves POST /api/v1/quantum/entropy.
func (s *server) handleEntropy() authedHandler {
	type request struct {
		Bits     *int    `json:"bits"`
		Encoding *string `json:"encoding"`
		Source   *string `json:"source"`
	}
	type response struct {
		Entropy         string   `json:"entropy"`
		Bits            int      `json:"bits"`
		Encoding        string   `json:"encoding"`
		Source          string   `json:"source"`
		Qubits          *int     `json:"qubits"`
		Fidelity        *float64 `json:"fidelity"`
		QuantumVerified bool     `json:"quantum_verified"`
		Timestamp       string   `json:"timestamp"`
		JobID           string   `json:"job_id"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		bits, enc, source := defaultEntropyBits, "hex", ""
		if req.Bits != nil {
			bits = *req.Bits
		}
		if req.Encoding != nil {
			enc = *req.Encoding
		}
		if req.Source != nil {
			source = *req.Source
		}
		switch {
		case bits < minEntropyBits || bits > maxEntropyBits:
			s.writeError(w, r, quantumlock.Errorf(quantumlock.EINVALID, "bits must be between %d and %d.", minEntropyBits, maxEntropyBits))
			return
		case enc != "hex" && enc != "base64" && enc != "raw":
			s.writeError(w, r, quantumlock.Errorf(quantumlock.EINVALID, "encoding must be hex, base64 or raw."))
			return
		case req.Source != nil && !validSource(source): // "" is no source; null is any
			s.writeError(w, r, quantumlock.Errorf(quantumlock.EINVALID, "source must be null, qcos_api, qiskit_local or cryptographic."))
			return
		}
		e, err := s.entropyBytes(r, bits, source)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// The job id is drawn at the customer's asking too: under
		// SpareOnly, like the value, so as not to spend the pool's reserve.
		job, err := quantumlock.NewID(entropy.SpareOnly(r.Context()), s.Entropy, "job_"+e.Source+"_", 8)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp := response{Bits: bits, Encoding: enc, Source: e.Source, Qubits: e.Qubits, Fidelity: e.Fidelity,
			QuantumVerified: e.QuantumVerified, Timestamp: s.now().UTC().Format(time.RFC3339), JobID: job}
		switch enc {
		case "hex":
			resp.Entropy = hex.EncodeToString(e.Bytes)
		case "base64":
			resp.Entropy = base64.StdEncoding.EncodeToString(e.Bytes)
		default:
			resp.Entropy = bitString(e.Bytes, bits)
		}
		encode(w, http.StatusOK, resp)
	}
}

// backendJSON is one source's object in GET /quantum/health. Counters
// that every customer's draws move (bytes tested, bytes pooled, requests
// to the remote) are not in it: read between two of a customer's calls
// they would count another customer's licenses. They are the operator's,
// as metrics (cmd/quantumlock, entropyCollector).
type backendJSON struct {
	Available   bool             `json:"available"`
	Healthy     bool             `json:"healthy"`
	Quantum     bool             `json:"quantum"`
	Fidelity    *float64         `json:"fidelity"`
	URL         nullable[string] `json:"url,omitzero"`
	LatencyMS   nullable[int64]  `json:"latency_ms,omitzero"`
	Simulator   *string          `json:"simulator,omitempty"`
	Qubits      *int             `json:"qubits,omitempty"`
	RCTFailures uint64           `json:"rct_failures"`
	APTFailures uint64           `json:"apt_failures"`
	// ReplayFailures is qcos_api's alone: its answers that repeated
	// bytes it had sent before, each an alarm like the tests'.
	ReplayFailures *uint64 `json:"replay_failures,omitempty"`
	LastError      *string `json:"last_error"`
	LastErrorAt    *string `json:"last_error_at"`
}

// nullable is a field a source's object has or lacks: absent when not
// set, null when set without a value. qcos_api always names its url and
// latency (SPEC §7): the url null when none is configured, the latency
// until a request has succeeded; the other sources have neither.
type nullable[T any] struct {
	set bool
	v   *T
}

// IsZero reports whether n is unset, for omitzero.
func (n nullable[T]) IsZero() bool { return !n.set }

// MarshalJSON writes the value, or null, as encode does: without HTML
// escapes, which the encoder around it would keep.
func (n nullable[T]) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(n.v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func backendOf(st entropy.SourceStatus) backendJSON {
	b := backendJSON{Available: st.Available, Healthy: st.Healthy, Quantum: st.Quantum, Fidelity: st.Fidelity,
		RCTFailures: st.RCTFailures, APTFailures: st.APTFailures}
	switch st.Name {
	case quantumlock.SourceQCOSAPI:
		b.URL, b.LatencyMS = nullable[string]{set: true}, nullable[int64]{set: true, v: st.LatencyMS}
		b.ReplayFailures = &st.ReplayFailures
		if st.URL != "" {
			b.URL.v = &st.URL
		}
	case quantumlock.SourceQiskitLocal:
		b.Simulator, b.Qubits = &st.Simulator, st.Qubits
	}
	if st.LastError != "" {
		b.LastError = &st.LastError
		if !st.LastErrorAt.IsZero() {
			at := timeString(st.LastErrorAt)
			b.LastErrorAt = &at
		}
	}
	return b
}

// handleQuantumHealth serves GET /api/v1/quantum/health: every source's
// state, and a 64-bit test draw from the source null would pick.
func (s *server) handleQuantumHealth() authedHandler {
	type testResult struct {
		Bits    int    `json:"bits"`
		Source  string `json:"source"`
		Entropy string `json:"entropy"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		body := map[string]any{}
		backends := []string{}
		for _, st := range s.Entropy.Status() {
			body[st.Name] = backendOf(st)
			if st.Available {
				backends = append(backends, st.Name)
			}
		}
		body["available"] = s.Entropy.Available()
		body["backends"] = backends
		if e, err := s.entropyBytes(r, 64, ""); err == nil {
			body["test_result"] = testResult{Bits: 64, Source: e.Source, Entropy: hex.EncodeToString(e.Bytes)}
		} else {
			body["test_result"] = nil
		}
		encode(w, http.StatusOK, body)
	}
}
