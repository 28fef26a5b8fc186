package qsim

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/cmplx"
	"strings"
	"testing"
)

// hoeffding returns the t for which Hoeffding's inequality bounds
// P(|X − np| ≥ t) ≤ 2·exp(−2t²/n) by 1e-10, for X a sum of n independent
// variables in [0, 1]. It holds for every n and p (no normal approximation),
// so a test that allows a deviation below t fails falsely with probability
// under 1e-10.
func hoeffding(n int) float64 {
	return math.Sqrt(float64(n) * math.Log(2/1e-10) / 2)
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1, MaxQubits + 1} {
		if _, err := New(n); err == nil {
			t.Errorf("New(%d) succeeded", n)
		}
	}
	for _, n := range []int{1, 16, MaxQubits} {
		s, err := New(n)
		if err != nil {
			t.Fatalf("New(%d): %v", n, err)
		}
		if s.Qubits() != n || len(s.Amplitudes()) != 1<<n || s.Amplitude(0) != 1 {
			t.Errorf("New(%d) is not |0…0⟩ of width %d", n, n)
		}
	}
}

func TestGateRangePanics(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(*State){
		"H(3)":       func(s *State) { s.H(3) },
		"X(-1)":      func(s *State) { s.X(-1) },
		"CNOT(1,1)":  func(s *State) { s.CNOT(1, 1) },
		"Swap(0,5)":  func(s *State) { s.Swap(0, 5) },
		"T(3)":       func(s *State) { s.T(3) },
		"CZ(2,2)":    func(s *State) { s.CZ(2, 2) },
		"RY(7, 0.1)": func(s *State) { s.RY(7, 0.1) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := New(3)
			defer func() {
				if recover() == nil {
					t.Errorf("%s on 3 qubits did not panic", name)
				}
			}()
			f(s)
		})
	}
}

func mustNew(t testing.TB, n int) *State {
	t.Helper()
	s, err := New(n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func approxEqual(a, b []complex128) bool {
	for i := range a {
		if cmplx.Abs(a[i]-b[i]) > 1e-12 {
			return false
		}
	}
	return true
}

// TestIdentities checks gate algebra on amplitudes, starting from a state
// with distinct non-zero amplitudes so that a wrong phase anywhere shows.
func TestIdentities(t *testing.T) {
	t.Parallel()
	prep := func(t *testing.T) *State {
		s := mustNew(t, 2)
		s.RY(0, 0.7)
		s.RY(1, 1.9)
		s.RX(0, 0.3)
		s.CNOT(0, 1)
		return s
	}
	tests := []struct {
		name     string
		lhs, rhs func(*State)
	}{
		{"HZH=X", func(s *State) { s.H(0); s.Z(0); s.H(0) }, func(s *State) { s.X(0) }},
		{"HSSH=X", func(s *State) { s.H(1); s.S(1); s.S(1); s.H(1) }, func(s *State) { s.X(1) }},
		{"HXH=Z", func(s *State) { s.H(0); s.X(0); s.H(0) }, func(s *State) { s.Z(0) }},
		{"SS=Z", func(s *State) { s.S(0); s.S(0) }, func(s *State) { s.Z(0) }},
		{"TT=S", func(s *State) { s.T(1); s.T(1) }, func(s *State) { s.S(1) }},
		{"TTTT=Z", func(s *State) { s.T(0); s.T(0); s.T(0); s.T(0) }, func(s *State) { s.Z(0) }},
		{"TTdg=I", func(s *State) { s.T(0); s.Tdg(0) }, func(*State) {}},
		{"SSdg=I", func(s *State) { s.S(1); s.Sdg(1) }, func(*State) {}},
		{"XX=I", func(s *State) { s.X(0); s.X(0) }, func(*State) {}},
		{"HH=I", func(s *State) { s.H(1); s.H(1) }, func(*State) {}},
		{"Y=iXZ", func(s *State) { s.Y(0) }, func(s *State) {
			s.Z(0)
			s.X(0)
			for i := range s.amp {
				s.amp[i] *= 1i
			}
		}},
		{"Phase(π/4)=T", func(s *State) { s.Phase(0, math.Pi/4) }, func(s *State) { s.T(0) }},
		{"RX(π)=−iX", func(s *State) { s.RX(1, math.Pi) }, func(s *State) {
			s.X(1)
			for i := range s.amp {
				s.amp[i] *= -1i
			}
		}},
		{"CZ=(I⊗H)CNOT(I⊗H)", func(s *State) { s.CZ(0, 1) }, func(s *State) { s.H(1); s.CNOT(0, 1); s.H(1) }},
		{"Swap=3CNOT", func(s *State) { s.Swap(0, 1) }, func(s *State) { s.CNOT(0, 1); s.CNOT(1, 0); s.CNOT(0, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := prep(t), prep(t)
			tt.lhs(a)
			tt.rhs(b)
			if !approxEqual(a.amp, b.amp) {
				t.Errorf("amplitudes differ:\n lhs %v\n rhs %v", a.amp, b.amp)
			}
		})
	}
}

func TestHadamardAmplitudes(t *testing.T) {
	t.Parallel()
	s := mustNew(t, 1)
	s.H(0)
	want := []complex128{complex(1/math.Sqrt2, 0), complex(1/math.Sqrt2, 0)}
	if !approxEqual(s.amp, want) {
		t.Errorf("H|0⟩ = %v, want %v", s.amp, want)
	}
}

func TestNormPreserved(t *testing.T) {
	t.Parallel()
	s := mustNew(t, 6)
	var seed [64]byte
	rand.Read(seed[:])
	for i, b := range seed {
		q, r := int(b)%6, (int(b)/6+1+i)%6
		if r == q {
			r = (q + 1) % 6
		}
		switch b % 9 {
		case 0:
			s.H(q)
		case 1:
			s.X(q)
		case 2:
			s.Y(q)
		case 3:
			s.T(q)
		case 4:
			s.S(q)
		case 5:
			s.CNOT(q, r)
		case 6:
			s.RX(q, float64(b)/17)
		case 7:
			s.RY(q, float64(b)/13)
		case 8:
			s.CZ(q, r)
		}
		if n := s.Norm(); math.Abs(n-1) > 1e-12 {
			t.Fatalf("norm %v after %d gates (seed %x)", n, i+1, seed)
		}
	}
}

func TestXFlipsDeterministically(t *testing.T) {
	t.Parallel()
	s := mustNew(t, 3)
	s.X(1)
	got, err := s.MeasureAll(rand.Reader, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range got {
		if b != "010" {
			t.Fatalf("X on qubit 1 of |000⟩ measured %q, want 010 every shot", b)
		}
	}
}

func TestBitstringOrder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		i, n int
		want string
	}{{0, 3, "000"}, {1, 3, "001"}, {4, 3, "100"}, {6, 4, "0110"}} {
		if got := Bitstring(tt.i, tt.n); got != tt.want {
			t.Errorf("Bitstring(%d, %d) = %q, want %q", tt.i, tt.n, got, tt.want)
		}
	}
}

func TestHadamardFiftyFifty(t *testing.T) {
	t.Parallel()
	const shots = 100_000
	s := mustNew(t, 1)
	s.H(0)
	got, err := s.MeasureAll(rand.Reader, shots)
	if err != nil {
		t.Fatal(err)
	}
	ones := strings.Count(strings.Join(got, ""), "1")
	if d := math.Abs(float64(ones) - shots/2); d >= hoeffding(shots) {
		t.Errorf("H|0⟩: %d ones in %d shots, |deviation| %.0f ≥ %.0f", ones, shots, d, hoeffding(shots))
	}
}

func TestBell(t *testing.T) {
	t.Parallel()
	const shots = 100_000
	s := mustNew(t, 2)
	s.H(0)
	s.CNOT(0, 1)
	got, err := s.MeasureAll(rand.Reader, shots)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, b := range got {
		counts[b]++
	}
	if counts["01"] != 0 || counts["10"] != 0 {
		t.Fatalf("Bell state measured 01 or 10: %v", counts)
	}
	if d := math.Abs(float64(counts["00"]) - shots/2); d >= hoeffding(shots) {
		t.Errorf("Bell: counts %v, |00 − n/2| = %.0f ≥ %.0f", counts, d, hoeffding(shots))
	}
}

// TestBiasedSampling checks sampling on a state that is not uniform, where
// an error in the inversion (an off-by-one, a wrong scale) would show.
func TestBiasedSampling(t *testing.T) {
	t.Parallel()
	const shots = 100_000
	s := mustNew(t, 2)
	s.RY(0, 2*math.Asin(math.Sqrt(0.1))) // P(q0=1) = 0.1
	s.RY(1, 2*math.Asin(math.Sqrt(0.7))) // P(q1=1) = 0.7
	out := make([]int, shots)
	if err := s.Sampler().Sample(rand.Reader, out); err != nil {
		t.Fatal(err)
	}
	var counts [4]int
	for _, o := range out {
		counts[o]++
	}
	// Union bound over four cells: each fails with probability < 1e-10.
	for i, p := range []float64{0.9 * 0.3, 0.1 * 0.3, 0.9 * 0.7, 0.1 * 0.7} {
		if d := math.Abs(float64(counts[i]) - p*shots); d >= hoeffding(shots) {
			t.Errorf("state %s: %d of %d shots, want about %.0f", Bitstring(i, 2), counts[i], shots, p*shots)
		}
	}
}

// TestSampleInversion feeds chosen uniforms to the sampler to check the
// inversion exactly, including both ends of [0, 1).
func TestSampleInversion(t *testing.T) {
	t.Parallel()
	s := mustNew(t, 2)
	s.X(0)
	s.H(1) // |01⟩ and |11⟩ with ½ each; |00⟩ and |10⟩ impossible
	sm := s.Sampler()
	u := func(x uint64) []byte { return binary.LittleEndian.AppendUint64(nil, x) }
	for _, tt := range []struct {
		name string
		x    uint64
		want int
	}{
		{"Zero", 0, 1},
		{"JustBelowHalf", 1<<63 - 1<<11, 1},
		{"Half", 1 << 63, 3},
		{"Max", math.MaxUint64, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got [1]int
			if err := sm.Sample(bytes.NewReader(u(tt.x)), got[:]); err != nil {
				t.Fatal(err)
			}
			if got[0] != tt.want {
				t.Errorf("uniform %#x sampled %d, want %d", tt.x, got[0], tt.want)
			}
		})
	}
	t.Run("ShortReader", func(t *testing.T) {
		t.Parallel()
		var got [2]int
		if err := sm.Sample(bytes.NewReader(make([]byte, 12)), got[:]); err == nil {
			t.Error("Sample with 12 bytes for 2 shots succeeded")
		}
	})
}

func TestHadamardAllUniform(t *testing.T) {
	t.Parallel()
	s := mustNew(t, 16)
	for q := range 16 {
		s.H(q)
	}
	want := 1.0 / 65536
	for i, p := range s.Probabilities() {
		if math.Abs(p-want) > 1e-15 {
			t.Fatalf("P(%d) = %v, want %v", i, p, want)
		}
	}
}

func benchHadamardAll(b *testing.B, n int) *State {
	s := mustNew(b, n)
	for q := range n {
		s.H(q)
	}
	return s
}

// BenchmarkPrepare measures preparing H on every qubit: n passes over 2^n
// amplitudes.
func BenchmarkPrepare(b *testing.B) {
	for _, n := range []int{8, 16, 20} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchHadamardAll(b, n)
			}
		})
	}
}

// BenchmarkSampler measures building the cumulative distribution, the 2^n
// part of measuring.
func BenchmarkSampler(b *testing.B) {
	for _, n := range []int{16, 20} {
		s := benchHadamardAll(b, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				s.Sampler()
			}
		})
	}
}

// BenchmarkShot measures one shot from a built Sampler, randomness from the
// OS CSPRNG included.
func BenchmarkShot(b *testing.B) {
	for _, n := range []int{16, 20} {
		sm := benchHadamardAll(b, n).Sampler()
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			out := make([]int, 1024)
			for b.Loop() {
				if err := sm.Sample(rand.Reader, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(out)), "ns/shot")
		})
	}
}
