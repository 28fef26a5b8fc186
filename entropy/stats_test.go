package entropy

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"testing"
)

// Statistical tests on conditioned output. Every threshold is set so that
// output from a perfect generator fails with probability below 1e-9; the
// derivations are beside each test. A failure therefore means a broken
// pipeline, not bad luck.

// hoeffdingBound returns t such that a sum X of m independent variables in
// [0, 1] strays from its mean by t or more with probability at most
// 2·exp(−2t²/m) = 1e-10 (Hoeffding's inequality). It is exact for every m,
// needing no normal approximation.
func hoeffdingBound(m int) float64 {
	return math.Sqrt(float64(m) * math.Log(2/1e-10) / 2)
}

// chiSquareBound returns x such that a χ² variable with k degrees of
// freedom exceeds it with probability at most e^-y, by Laurent and
// Massart's bound P(X − k ≥ 2√(ky) + 2y) ≤ e^-y. With y = ln 1e12 the bound
// is 1e-12, leaving three orders of magnitude for the difference between
// Pearson's statistic and the χ² law at the ≥ 1024 expected counts per
// cell used here.
func chiSquareBound(k int) float64 {
	y := math.Log(1e12)
	return float64(k) + 2*math.Sqrt(float64(k)*y) + 2*y
}

func drawN(t *testing.T, p *Pool, source string, total, per int) []byte {
	t.Helper()
	var out []byte
	for len(out) < total {
		e, err := p.Draw(context.Background(), per, source)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Bytes...)
	}
	return out[:total]
}

func TestOutputStatistics(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{})
	const total = 256 << 10
	for _, tt := range []struct {
		name, source string
		per          int
	}{
		{"Cryptographic32", "cryptographic", 32},
		{"Cryptographic512", "cryptographic", 512},
		{"QiskitLocal512", "qiskit_local", 512},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkStatistics(t, drawN(t, p, tt.source, total, tt.per))
		})
	}
}

func checkStatistics(t *testing.T, b []byte) {
	t.Helper()
	for _, f := range statisticsFailures(b) {
		t.Error(f)
	}
}

// statisticsFailures runs the monobit, runs and byte chi-square tests on b
// and describes each that fails.
func statisticsFailures(b []byte) []string {
	var fails []string
	nbits := 8 * len(b)
	// Monobit: the number of ones is Binomial(n, ½).
	ones := 0
	for _, x := range b {
		ones += bits.OnesCount8(x)
	}
	if d := math.Abs(float64(ones) - float64(nbits)/2); d >= hoeffdingBound(nbits) {
		fails = append(fails, fmt.Sprintf("monobit: %d ones in %d bits, |deviation| %.0f ≥ %.0f", ones, nbits, d, hoeffdingBound(nbits)))
	}
	// Runs: for independent fair bits the n−1 indicators "bit i+1 differs
	// from bit i" are themselves independent fair bits, so the number of
	// runs minus one is exactly Binomial(n−1, ½).
	changes := 0
	prev := b[0] & 1
	for i := 1; i < nbits; i++ {
		bit := b[i/8] >> (i % 8) & 1
		if bit != prev {
			changes++
		}
		prev = bit
	}
	if d := math.Abs(float64(changes) - float64(nbits-1)/2); d >= hoeffdingBound(nbits-1) {
		fails = append(fails, fmt.Sprintf("runs: %d runs in %d bits, |deviation| %.0f ≥ %.0f", changes+1, nbits, d, hoeffdingBound(nbits-1)))
	}
	// Byte chi-square: Pearson's statistic over 256 cells, 255 degrees of
	// freedom.
	var counts [256]int
	for _, x := range b {
		counts[x]++
	}
	exp := float64(len(b)) / 256
	var chi2 float64
	for _, c := range counts {
		chi2 += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if lim := chiSquareBound(255); chi2 >= lim {
		fails = append(fails, fmt.Sprintf("byte chi-square %.1f ≥ %.1f", chi2, lim))
	}
	return fails
}

// TestStatisticsDetectFlaws makes sure each check above can fail.
func TestStatisticsDetectFlaws(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{})
	good := drawN(t, p, "cryptographic", 256<<10, 512)
	for _, tt := range []struct {
		name, want string
		flaw       func([]byte)
	}{
		// One bit in 64 forced to zero: 16384 ones short, bound ≈ 4986.
		{"Bias", "monobit", func(b []byte) {
			for i := 0; i < len(b); i += 8 {
				b[i] &^= 1
			}
		}},
		// Every byte's top bit copies the bit below: ones stay balanced,
		// runs drop by about an eighth.
		{"Runs", "runs", func(b []byte) {
			for i := range b {
				b[i] = b[i]&0x7f | (b[i]>>6&1)<<7
			}
		}},
		// One byte value in 256 replaced by its neighbour: bits nearly
		// balanced, two cells far off.
		{"Bytes", "chi-square", func(b []byte) {
			for i := range b {
				if b[i] == 0x55 {
					b[i] = 0x54
				}
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := append([]byte(nil), good...)
			tt.flaw(b)
			fails := statisticsFailures(b)
			if !strings.Contains(strings.Join(fails, "; "), tt.want) {
				t.Errorf("flawed output: failures %q, want one from %s", fails, tt.want)
			}
		})
	}
}
