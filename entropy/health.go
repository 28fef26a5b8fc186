package entropy

import (
	"math"
	"math/bits"
)

// Health-test parameters of NIST SP 800-90B §4.4. Every source's raw output
// is tested as a stream of 8-bit samples.
const (
	// AlphaLog2 is −log2 α: the tests' false-positive probability α is
	// 2^-20, the value SP 800-90B §4.4 recommends.
	AlphaLog2 = 20

	// APTWindowBinary and APTWindow are the Adaptive Proportion Test window
	// sizes W for binary and for non-binary samples (SP 800-90B §4.4.2).
	// Bytes are non-binary, so the pool uses APTWindow.
	APTWindowBinary = 1024
	APTWindow       = 512

	// StartupSamples is how many consecutive samples must pass both tests
	// before a source's output is used, at start-up (SP 800-90B §4.3 asks
	// for at least 1024) and again after a failure.
	StartupSamples = 1024

	// FidelityWindowBits is the number of raw bits a fidelity estimate is
	// made from: 2^20, enough that the 99% confidence term of the
	// most-common-value estimate is about 0.0013 for a fair bit.
	FidelityWindowBits = 1 << 20
)

// RCTCutoff returns the Repetition Count Test cutoff C = 1 + ⌈20/H⌉ for a
// claimed min-entropy of h bits per sample (SP 800-90B §4.4.1): a run of C
// identical samples has probability at most α = 2^-20 from a source that
// really delivers h bits per sample.
func RCTCutoff(h float64) int {
	// The epsilon keeps values such as 20/0.2, which float64 may compute a
	// hair above an integer, from rounding up one too far.
	return 1 + int(math.Ceil(AlphaLog2/h-1e-9))
}

// APTCutoff returns the Adaptive Proportion Test cutoff for a claimed
// min-entropy of h bits per sample and window w (SP 800-90B §4.4.2):
// C = 1 + CRITBINOM(W, 2^-H, 1−α), the smallest C with P(X ≥ C) ≤ α for X
// binomial with W trials of probability 2^-H. This is the standard's
// formula, the one its published cutoffs follow; it counts the window's
// first sample as a trial although that sample always matches itself, so
// the true false-positive rate is a little above α.
func APTCutoff(h float64, w int) int {
	p := math.Exp2(-h)
	alpha := math.Exp2(-AlphaLog2)
	lw, _ := math.Lgamma(float64(w + 1))
	lp, lq := math.Log(p), math.Log1p(-p)
	var tail float64
	for k := w; k >= 0; k-- {
		lk, _ := math.Lgamma(float64(k + 1))
		lwk, _ := math.Lgamma(float64(w - k + 1))
		tail += math.Exp(lw - lk - lwk + float64(k)*lp + float64(w-k)*lq)
		if tail > alpha {
			return k + 1
		}
	}
	return 0
}

// healthTest runs the SP 800-90B §4.4 continuous tests over a stream of
// byte samples. It is not safe for concurrent use; each source guards its
// own with a mutex.
type healthTest struct {
	rctC, aptC int

	rctA byte // §4.4.1: the value of the current run
	rctB int  // its length; 0 before the first sample

	aptA byte // §4.4.2: the first sample of the current window
	aptB int  // how often it has occurred in the window
	aptI int  // samples seen in the window; 0 starts a new one

	clean    int // consecutive samples passed since the last failure or start
	tested   uint64
	rctFails uint64
	aptFails uint64
}

func newHealthTest(h float64) healthTest {
	return healthTest{rctC: RCTCutoff(h), aptC: APTCutoff(h, APTWindow)}
}

// failure names which test a sample failed.
type failure string

const (
	failRCT failure = "repetition count test (SP 800-90B §4.4.1)"
	failAPT failure = "adaptive proportion test (SP 800-90B §4.4.2)"
	// failRepeat is the remote's answer holding bytes it had sent before
	// (see replays).
	failRepeat failure = "repeated answer: the remote sent bytes it had sent before"
)

// feed runs both tests over b and reports the first failure, if any. After
// a failure both tests restart, as after a reset of the source.
func (t *healthTest) feed(b []byte) failure {
	for _, x := range b {
		t.tested++
		if t.rctB > 0 && x == t.rctA {
			t.rctB++
		} else {
			t.rctA, t.rctB = x, 1
		}
		fail := failure("")
		if t.rctB >= t.rctC {
			t.rctFails++
			fail = failRCT
		}
		if t.aptI == 0 {
			t.aptA, t.aptB = x, 1
		} else if x == t.aptA {
			t.aptB++
		}
		t.aptI++
		if t.aptB >= t.aptC && fail == "" {
			t.aptFails++
			fail = failAPT
		}
		if t.aptI == APTWindow {
			t.aptI = 0
		}
		if fail != "" {
			t.rctB, t.aptI, t.clean = 0, 0, 0
			return fail
		}
		t.clean++
	}
	return ""
}

// passed reports whether the last StartupSamples samples passed.
func (t *healthTest) passed() bool { return t.clean >= StartupSamples }

// MCVMinEntropy returns the most-common-value min-entropy estimate of
// SP 800-90B §6.3.1 from the count of the most common value among l
// samples: p̂ = mode/l, its 99% upper bound
// p_u = min(1, p̂ + 2.576·√(p̂(1−p̂)/(l−1))), and −log2 p_u.
func MCVMinEntropy(mode, l uint64) float64 {
	if l < 2 || mode > l {
		return 0
	}
	p := float64(mode) / float64(l)
	pu := math.Min(1, p+2.576*math.Sqrt(p*(1-p)/float64(l-1)))
	return 0 - math.Log2(pu) // 0 − 0 is +0; −log2(1) would be −0
}

// bitMCV estimates min-entropy per bit over consecutive windows of
// FidelityWindowBits raw bits, treating every bit as a binary sample.
// Each full window replaces the previous estimate, so the figure always
// describes recent output.
type bitMCV struct {
	ones, bits uint64
	est        float64
	known      bool
}

func (m *bitMCV) add(b []byte) {
	for len(b) > 0 {
		k := min(len(b), int(FidelityWindowBits-m.bits)/8)
		for _, x := range b[:k] {
			m.ones += uint64(bits.OnesCount8(x))
		}
		m.bits += uint64(8 * k)
		b = b[k:]
		if m.bits == FidelityWindowBits {
			m.est = MCVMinEntropy(max(m.ones, m.bits-m.ones), m.bits)
			m.known = true
			m.ones, m.bits = 0, 0
		}
	}
}

// estimate returns the latest full-window estimate, nil before the first.
func (m *bitMCV) estimate() *float64 {
	if !m.known {
		return nil
	}
	e := m.est
	return &e
}
