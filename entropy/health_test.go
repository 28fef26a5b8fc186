package entropy

import (
	"bufio"
	"crypto/rand"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPublishedCutoffs checks RCTCutoff and APTCutoff against cutoffs
// published for SP 800-90B §4.4 (testdata/sp800-90b-cutoffs.txt says where
// each comes from).
func TestPublishedCutoffs(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/sp800-90b-cutoffs.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	rows := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 4 {
			t.Fatalf("bad line %q", line)
		}
		h, err1 := strconv.ParseFloat(fs[1], 64)
		want, err2 := strconv.Atoi(fs[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("bad line %q", line)
		}
		rows++
		t.Run(strings.Join(fs[:3], "_"), func(t *testing.T) {
			var got int
			switch fs[0] {
			case "rct":
				got = RCTCutoff(h)
			case "apt":
				w, err := strconv.Atoi(fs[2])
				if err != nil {
					t.Fatalf("bad window in %q", line)
				}
				got = APTCutoff(h, w)
			default:
				t.Fatalf("unknown test in %q", line)
			}
			if got != want {
				t.Errorf("cutoff = %d, want %d", got, want)
			}
		})
	}
	if rows == 0 {
		t.Fatal("no cutoffs in testdata")
	}
}

// TestCutoffs pins cutoffs that follow from the formulas, including the
// default claim, where rounding in 20/H could go wrong.
func TestCutoffs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		h        float64
		rct, apt int
	}{
		{0.2, 101, 480},
		{1, 21, 311},
		{4, 6, 62},
		{6, 5, 25},
		{DefaultClaimedEntropy, 8, 103},
		{8, 4, 13},
	} {
		if got := RCTCutoff(tt.h); got != tt.rct {
			t.Errorf("RCTCutoff(%v) = %d, want %d", tt.h, got, tt.rct)
		}
		if got := APTCutoff(tt.h, APTWindow); got != tt.apt {
			t.Errorf("APTCutoff(%v, 512) = %d, want %d", tt.h, got, tt.apt)
		}
	}
}

func TestRepetitionCount(t *testing.T) {
	t.Parallel()
	ht := newHealthTest(6) // C = 5
	run := []byte{9, 1, 1, 1, 1, 2}
	if f := ht.feed(run); f != "" {
		t.Fatalf("run of 4 failed: %s", f)
	}
	run = []byte{3, 3, 3, 3, 3}
	if f := ht.feed(run); f != failRCT {
		t.Fatalf("run of 5 gave %q, want RCT failure", f)
	}
	if ht.rctFails != 1 || ht.aptFails != 0 {
		t.Errorf("failures rct=%d apt=%d, want 1 and 0", ht.rctFails, ht.aptFails)
	}
	t.Run("AcrossCalls", func(t *testing.T) {
		t.Parallel()
		ht := newHealthTest(6)
		for i, b := range []byte{7, 7, 7, 7} {
			if f := ht.feed([]byte{b}); f != "" {
				t.Fatalf("sample %d failed early", i)
			}
		}
		if f := ht.feed([]byte{7}); f != failRCT {
			t.Errorf("fifth 7 fed alone gave %q, want RCT failure", f)
		}
	})
}

func TestAdaptiveProportion(t *testing.T) {
	t.Parallel()
	ht := newHealthTest(6) // C = 25, W = 512
	// A window starting with 0xAA in which 0xAA recurs at every other
	// sample, never in runs: the 25th occurrence must fail and the 24th
	// must not.
	var s []byte
	for i := 0; len(s) < 2*25; i++ {
		s = append(s, 0xAA, byte(i))
	}
	if f := ht.feed(s[:2*24-1]); f != "" {
		t.Fatalf("24 occurrences failed: %s", f)
	}
	if f := ht.feed(s[2*24-1 : 2*24+1]); f != failAPT {
		t.Fatalf("25th occurrence gave %q, want APT failure", f)
	}
	t.Run("WindowEnds", func(t *testing.T) {
		t.Parallel()
		// 24 occurrences in one window and more in the next never add up.
		ht := newHealthTest(6)
		var w []byte
		for i := range 24 {
			w = append(w, 0xAA, byte(i+1))
		}
		for i := 0; len(w) < APTWindow; i++ {
			w = append(w, byte(i%100)) // never 0xAA, never a run
		}
		if f := ht.feed(append(w[:APTWindow:APTWindow], w[:APTWindow]...)); f != "" {
			t.Errorf("two windows of 24 occurrences failed: %s", f)
		}
	})
}

func TestRandomPasses(t *testing.T) {
	t.Parallel()
	// With the default cutoffs (8 and 103), a uniform source fails the RCT
	// with probability 2^-56 per byte and the APT far less often: over
	// 1 MiB, about 1.5e-11. The cutoffs for H = 8 (4 and 13) would fail
	// this test about one run in 16.
	ht := newHealthTest(DefaultClaimedEntropy)
	b := make([]byte, 1<<20)
	rand.Read(b)
	if f := ht.feed(b); f != "" {
		t.Errorf("OS CSPRNG output failed %s", f)
	}
	if !ht.passed() {
		t.Error("1 MiB clean run did not count as passed")
	}
}

func TestMonitorRecovers(t *testing.T) {
	t.Parallel()
	m := newMonitor(DefaultClaimedEntropy, time.Now)
	good := make([]byte, StartupSamples)
	rand.Read(good)
	if ok, _ := m.check(good); ok || !m.isHealthy() {
		t.Fatalf("start-up run: usable=%v healthy=%v, want false, true", ok, m.isHealthy())
	}
	rand.Read(good)
	if ok, _ := m.check(good); !ok {
		t.Fatal("healthy source's output not usable")
	}
	if ok, f := m.check(make([]byte, 64)); ok || f != failRCT || m.isHealthy() {
		t.Fatalf("zeros: usable=%v failure=%q healthy=%v", ok, f, m.isHealthy())
	}
	rand.Read(good)
	if ok, _ := m.check(good[:StartupSamples/2]); ok || m.isHealthy() {
		t.Fatal("source recovered before a full clean run")
	}
	if ok, _ := m.check(good[StartupSamples/2:]); ok || !m.isHealthy() {
		t.Fatal("recovery run was used, or did not restore health")
	}
}

func TestMCVMinEntropy(t *testing.T) {
	t.Parallel()
	// The worked example of SP 800-90B §6.3.1: 20 samples whose most
	// common value occurs 8 times give p_u = 0.6895 and 0.5363 bits.
	if got := MCVMinEntropy(8, 20); math.Abs(got-0.5363) > 5e-5 {
		t.Errorf("MCVMinEntropy(8, 20) = %.4f, want 0.5363", got)
	}
	// Constant data: 0 bits, and +0, not −0, which JSON would show as
	// "fidelity": -0.
	if got := MCVMinEntropy(20, 20); got != 0 || math.Signbit(got) {
		t.Errorf("constant data: %v bits, want 0", got)
	}
}

func TestBitMCV(t *testing.T) {
	t.Parallel()
	t.Run("Random", func(t *testing.T) {
		t.Parallel()
		var m bitMCV
		b := make([]byte, FidelityWindowBits/8)
		rand.Read(b)
		m.add(b[:len(b)-1])
		if m.estimate() != nil {
			t.Fatal("estimate before the window is full")
		}
		m.add(b[len(b)-1:])
		e := m.estimate()
		if e == nil {
			t.Fatal("no estimate after a full window")
		}
		// p̂ is within 0.5 ± 3.4e-3 except with probability < 1e-10
		// (Hoeffding), so p_u < 0.5047 and the estimate > 0.986.
		if *e <= 0.986 || *e > 1 {
			t.Errorf("fair bits estimated at %v bits per bit", *e)
		}
	})
	t.Run("Biased", func(t *testing.T) {
		t.Parallel()
		var m bitMCV
		b := make([]byte, FidelityWindowBits/8)
		for i := range b {
			b[i] = 0x7f // seven ones in eight
		}
		m.add(b)
		want := MCVMinEntropy(7*uint64(len(b)), FidelityWindowBits)
		if e := m.estimate(); e == nil || *e != want || *e > 0.2 {
			t.Errorf("7/8-biased bits estimated at %v, want %v", e, want)
		}
	})
}
