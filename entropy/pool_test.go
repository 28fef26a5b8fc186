package entropy

import (
	"bytes"
	"context"
	"testing"

	"github.com/quantumlock/quantumlock"
)

func newPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestNewInvalid(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"QubitsZeroWidth":    {Qubits: -1},
		"QubitsTooMany":      {Qubits: 21},
		"Entropy":            {ClaimedEntropy: 9},
		"NegativeEntropy":    {ClaimedEntropy: -1},
		"URLScheme":          {QRNGURL: "ftp://qrng.example"},
		"URLRelative":        {QRNGURL: "/qrng"},
		"PlainHTTP":          {QRNGURL: "http://qrng.example/API/jsonI.php"},
		"PlainHTTPByIP":      {QRNGURL: "http://192.0.2.7/qrng"},
		"PlainHTTPLookAlike": {QRNGURL: "http://localhost.example/qrng"},
		"PlainHTTPUpperCase": {QRNGURL: "http://LOCALHOST/qrng"}, // proxied by Go's client
		"PlainHTTPPrivate":   {QRNGURL: "http://10.0.0.1/qrng"},
		"PlainHTTPAny":       {QRNGURL: "http://0.0.0.0/qrng"},
		"PortTooLarge":       {QRNGURL: "https://qrng.example:99999/qrng"},
		"PortZero":           {QRNGURL: "https://qrng.example:0/qrng"},
		"FetchSize":          {QRNGURL: "https://qrng.example", FetchSize: 1025},
		"RequestBudget":      {QRNGURL: "https://qrng.example", MaxRequestsPerMinute: -1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(cfg); err == nil {
				t.Errorf("New(%+v) succeeded", cfg)
			}
		})
	}
}

// Plain http reaches only this machine; https anywhere.
func TestQRNGURLLoopbackHTTP(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://localhost:8443/qrng", "http://127.0.0.1/qrng", "http://127.9.9.9:1/qrng", "http://[::1]:80/qrng", "https://qrng.example/API/jsonI.php"} {
		p, err := New(Config{QRNGURL: u})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		p.Close()
	}
}

func TestDraw(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{})
	ctx := context.Background()
	for _, tt := range []struct {
		source, want string
		qubits       *int
	}{
		{"", quantumlock.SourceCryptographic, nil},
		{quantumlock.SourceCryptographic, quantumlock.SourceCryptographic, nil},
		{quantumlock.SourceQiskitLocal, quantumlock.SourceQiskitLocal, new(DefaultQubits)},
	} {
		for _, n := range []int{0, 1, 32, 512} {
			e, err := p.Draw(ctx, n, tt.source)
			if err != nil {
				t.Fatalf("Draw(%d, %q): %v", n, tt.source, err)
			}
			if len(e.Bytes) != n || e.Source != tt.want || e.QuantumVerified {
				t.Errorf("Draw(%d, %q) = %d bytes from %q, quantum %v", n, tt.source, len(e.Bytes), e.Source, e.QuantumVerified)
			}
			if (e.Qubits == nil) != (tt.qubits == nil) || e.Qubits != nil && *e.Qubits != *tt.qubits {
				t.Errorf("Draw(%d, %q) qubits %v, want %v", n, tt.source, e.Qubits, tt.qubits)
			}
		}
	}
	a, _ := p.Draw(ctx, 32, "")
	b, _ := p.Draw(ctx, 32, "")
	if bytes.Equal(a.Bytes, b.Bytes) {
		t.Error("two draws returned the same bytes")
	}
}

func TestDrawErrors(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{})
	for _, tt := range []struct {
		name, source string
		n            int
		code         string
	}{
		{"UnknownSource", "qcos", 32, quantumlock.EINVALID},
		{"Negative", "", -1, quantumlock.EINVALID},
		{"TooLarge", "", MaxDraw + 1, quantumlock.EINVALID},
		{"QCOSUnconfigured", quantumlock.SourceQCOSAPI, 32, quantumlock.EUNAVAILABLE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := p.Draw(context.Background(), tt.n, tt.source)
			if got := quantumlock.ErrorCode(err); got != tt.code {
				t.Errorf("error %v, want code %s", err, tt.code)
			}
		})
	}
	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := p.Draw(ctx, 32, ""); err == nil {
			t.Error("Draw with a cancelled context succeeded")
		}
	})
}

// zeroReader is a source stuck at zero, as a broken device would be.
func zeroRead(b []byte) error { clear(b); return nil }

func TestLocalHealthFailure(t *testing.T) {
	t.Parallel()
	for _, name := range []string{quantumlock.SourceCryptographic, quantumlock.SourceQiskitLocal} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newPool(t, Config{Qubits: 4})
			s := map[string]*localSource{quantumlock.SourceCryptographic: p.crypto, quantumlock.SourceQiskitLocal: p.sim}[name]
			good := s.read
			s.read = zeroRead // before any concurrent use
			_, err := p.Draw(context.Background(), 32, name)
			if quantumlock.ErrorCode(err) != quantumlock.EUNAVAILABLE {
				t.Fatalf("stuck %s: error %v, want EUNAVAILABLE", name, err)
			}
			st := statusOf(t, p, name)
			if st.Healthy || st.Available || st.RCTFailures == 0 || st.LastError == "" {
				t.Errorf("stuck %s reported %+v", name, st)
			}
			s.read = good
			if _, err := p.Draw(context.Background(), 32, name); err != nil {
				t.Fatalf("%s did not recover: %v", name, err)
			}
			if st := statusOf(t, p, name); !st.Healthy || !st.Available {
				t.Errorf("recovered %s reported %+v", name, st)
			}
		})
	}
}

func statusOf(t *testing.T, p *Pool, name string) SourceStatus {
	t.Helper()
	for _, s := range p.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s", name)
	return SourceStatus{}
}

func TestStatusLocal(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{Qubits: 12})
	st := p.Status()
	var names []string
	for _, s := range st {
		names = append(names, s.Name)
	}
	want := []string{quantumlock.SourceQCOSAPI, quantumlock.SourceQiskitLocal, quantumlock.SourceCryptographic}
	if len(names) != 3 || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("status order %v, want %v", names, want)
	}
	if q := st[0]; q.Available || !q.Quantum || q.URL != "" {
		t.Errorf("unconfigured qcos_api: %+v", q)
	}
	if s := st[1]; !s.Available || !s.Healthy || s.Quantum || s.Simulator != SimulatorName || s.Qubits == nil || *s.Qubits != 12 {
		t.Errorf("qiskit_local: %+v", s)
	}
	if c := st[2]; !c.Available || !c.Healthy || c.Quantum || c.Qubits != nil || c.SamplesTested < StartupSamples {
		t.Errorf("cryptographic: %+v", c)
	}
	if !p.Available() {
		t.Error("pool with healthy local sources not available")
	}
}

func TestFidelity(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{})
	ctx := context.Background()
	for _, name := range []string{quantumlock.SourceCryptographic, quantumlock.SourceQiskitLocal} {
		e, err := p.Draw(ctx, 32, name)
		if err != nil {
			t.Fatal(err)
		}
		if e.Fidelity != nil {
			t.Errorf("%s fidelity %v before a full window", name, *e.Fidelity)
		}
		e, err = p.Draw(ctx, FidelityWindowBits/8, name)
		if err != nil {
			t.Fatal(err)
		}
		// Fair bits: above 0.986 except with probability < 1e-10 (see
		// TestBitMCV).
		if e.Fidelity == nil || *e.Fidelity <= 0.986 || *e.Fidelity > 1 {
			t.Errorf("%s fidelity %v after a full window", name, e.Fidelity)
		}
		if st := statusOf(t, p, name); st.Fidelity == nil || *st.Fidelity != *e.Fidelity {
			t.Errorf("%s status fidelity %v, draw said %v", name, st.Fidelity, *e.Fidelity)
		}
	}
}

func TestStartPrimesFidelity(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{Qubits: 8})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	eventually(t, "fidelity of both local sources", func() bool {
		st := p.Status()
		return st[1].Fidelity != nil && st[2].Fidelity != nil
	})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Draw(context.Background(), 32, ""); err != nil {
		t.Errorf("Draw after Close: %v", err)
	}
}

func TestConcurrentDraws(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{Qubits: 8})
	done := make(chan error)
	for i := range 8 {
		go func() {
			src := []string{"", quantumlock.SourceCryptographic, quantumlock.SourceQiskitLocal}[i%3]
			var err error
			for range 200 {
				if _, err = p.Draw(context.Background(), 48, src); err != nil {
					break
				}
				p.Status()
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestCondition(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{1}, 32)
	osb := bytes.Repeat([]byte{2}, OSBytes)
	out := func(n int, src string, raw, osb []byte) []byte {
		b := make([]byte, n)
		condition(b, src, raw, osb)
		return b
	}
	base := out(32, "cryptographic", raw, osb)
	if !bytes.Equal(base, out(32, "cryptographic", raw, osb)) {
		t.Fatal("conditioning is not a function of its inputs")
	}
	for name, other := range map[string][]byte{
		"Source":      out(32, "qcos_api", raw, osb),
		"OSBytes":     out(32, "cryptographic", raw, append(osb[:OSBytes-1:OSBytes-1], 3)),
		"RawBytes":    out(32, "cryptographic", append(raw[:31:31], 0), osb),
		"Boundary":    out(32, "cryptographic", raw[:31], append([]byte{1}, osb...)),
		"LongerDraw":  out(64, "cryptographic", raw, osb)[:32],
		"ShorterDraw": append(out(16, "cryptographic", raw, osb), base[16:]...),
	} {
		if bytes.Equal(base, other) {
			t.Errorf("%s: changing it left the output unchanged", name)
		}
	}
}
