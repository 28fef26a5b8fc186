package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// verdicts runs printSummary over sizes and returns each row's verdict by
// its size and the start of its target's text.
func verdicts(t *testing.T, sizes ...sizeResult) map[string]string {
	t.Helper()
	var b bytes.Buffer
	printSummary(&b, sizes)
	out := map[string]string{}
	for _, l := range strings.Split(b.String(), "\n") {
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if len(cells) != 4 {
			continue
		}
		target := strings.TrimSpace(cells[1])
		if i := strings.IndexAny(target, "≥<"); i > 0 {
			target = strings.TrimSpace(target[:i])
		}
		out[strings.TrimSpace(cells[0])+" "+target] = strings.TrimSpace(cells[3])
	}
	return out
}

// sized builds a size's result from per-round figures: the ceiling's,
// validate's and generate's req/s, validate's p50 and p99, and its errors.
func sized(size int, hwm int64, rounds ...[6]float64) sizeResult {
	r := sizeResult{Size: size, HWM: hwm}
	for _, f := range rounds {
		r.Rounds = append(r.Rounds, round{
			Ceiling:  phaseResult{RPS: f[0], P99: time.Millisecond},
			Validate: phaseResult{RPS: f[1], P50: time.Duration(f[3]), P99: time.Duration(f[4]), Errors: int(f[5])},
			Generate: phaseResult{RPS: f[2]},
		})
	}
	return r
}

// printSummary's verdicts at their lines: each target just met, then just
// missed, on medians over rounds whose largest and mean differ from the
// median, with a generate rate unlike the ceiling's.
func TestSummaryVerdicts(t *testing.T) {
	t.Parallel()
	const ms = float64(time.Millisecond)
	const raw1M, norm1M = "1000000 vs 1000 validate req/s within 15%", "1000000 vs 1000 same, each normalised by its own ceiling"
	// The rows a figure at its line decides.
	lines := []string{"1000 validate", "1000 generate", "1000 validate p99", "1000 server peak RSS (VmHWM)", raw1M, norm1M}
	met := verdicts(t,
		sized(1000, 150*1024-1,
			[6]float64{1000, 500, 200, ms, 9.99 * ms, 0},
			[6]float64{1000, 900, 900, ms, 20 * ms, 0},
			[6]float64{1000, 100, 100, ms, 1 * ms, 0}),
		sized(1000000, 100,
			[6]float64{1000, 425, 300, ms, ms, 0},
			[6]float64{1000, 1000, 300, ms, ms, 0},
			[6]float64{1000, 10, 300, ms, ms, 0}))
	for _, k := range append(lines, "1000 no errors") {
		if met[k] != "met" {
			t.Errorf("just met: %q is %q (%v)", k, met[k], met)
		}
	}

	missed := verdicts(t,
		sized(1000, 150*1024,
			[6]float64{1000, 499, 199, ms, 10 * ms, 0},
			[6]float64{1000, 900, 900, 20 * ms, 20 * ms, 0},
			[6]float64{1000, 100, 100, ms, 1 * ms, 0}),
		sized(1000000, 100,
			[6]float64{1000, 424, 300, ms, ms, 0},
			[6]float64{1000, 1000, 300, ms, ms, 0},
			[6]float64{1000, 10, 300, ms, ms, 0}))
	for _, k := range lines {
		if missed[k] != "NOT met" {
			t.Errorf("just missed: %q is %q", k, missed[k])
		}
	}

	// Within 15% either way: 1M much faster than 1k is not met, and p99
	// under the line is not met when a validate failed.
	fast := verdicts(t,
		sized(1000, 1, [6]float64{1000, 600, 300, ms, ms, 1}),
		sized(1000000, 1, [6]float64{1000, 800, 300, ms, ms, 0}))
	for _, k := range []string{raw1M, norm1M, "1000 validate p99", "1000 no errors"} {
		if fast[k] != "NOT met" {
			t.Errorf("1M at 1.33× 1k, a failed validate: %q is %q", k, fast[k])
		}
	}

	// The normalised reading divides each size's validate by its own
	// ceiling: the same req/s beside a faster ceiling is a smaller share.
	norm := verdicts(t,
		sized(1000, 1, [6]float64{1000, 500, 300, ms, ms, 0}),
		sized(1000000, 1, [6]float64{1250, 500, 300, ms, ms, 0}))
	if raw, n := norm[raw1M], norm[norm1M]; raw != "met" || n != "NOT met" {
		t.Errorf("equal req/s, 1M's ceiling 1.25× faster: raw %q, normalised %q", raw, n)
	}
}

// -max-requests bounds a part's requests across all its workers, not
// each worker's share rounded up.
func TestMaxRequestsBoundsThePart(t *testing.T) {
	t.Parallel()
	tg := target{name: "v", wantStatus: 200, needle: `"valid":true`,
		body: func(_ *rand.Rand, b []byte) []byte { return append(b, "{}"...) }}
	senders := make([]sender, 32)
	for i := range senders {
		senders[i] = &fakeSender{answer: func(int) (int, string, error) { return 200, `{"valid":true}`, nil }}
	}
	res, err := drive(context.Background(), senders, tg, time.Hour, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Requests + res.Errors; n != 10 {
		t.Errorf("-max-requests 10 with 32 connections sent %d requests", n)
	}
}

// drive merges the workers' samples before ranking them: each worker's
// own are in rising order, and ranked unsorted, one after the other, the
// percentiles would be wrong. The expected figures come from the same
// multiset, sorted here.
func TestDriveRanksMergedSamples(t *testing.T) {
	t.Parallel()
	tg := target{name: "v", wantStatus: 200, needle: `"valid":true`,
		body: func(_ *rand.Rand, b []byte) []byte { return append(b, "{}"...) }}
	fakes := make([]*fakeSender, 4)
	senders := make([]sender, len(fakes))
	for i := range fakes {
		fakes[i] = &fakeSender{answer: func(int) (int, string, error) {
			time.Sleep(100 * time.Microsecond) // so that the workers take turns
			return 200, `{"valid":true}`, nil
		}}
		senders[i] = fakes[i]
	}
	res, err := drive(context.Background(), senders, tg, time.Hour, 400, true)
	if err != nil {
		t.Fatal(err)
	}
	var all []time.Duration
	for _, f := range fakes {
		for i := range f.n {
			all = append(all, time.Duration(i+1)*time.Microsecond)
		}
	}
	slices.Sort(all)
	if len(all) != res.Requests || fakes[0].n == len(all) {
		t.Fatalf("%d samples sent, %d counted, %d by the first worker", len(all), res.Requests, fakes[0].n)
	}
	if want := quantile(all, 0.5); res.P50 != want {
		t.Errorf("p50 %v, want %v", res.P50, want)
	}
	if want := quantile(all, 0.99); res.P99 != want {
		t.Errorf("p99 %v, want %v", res.P99, want)
	}
}
