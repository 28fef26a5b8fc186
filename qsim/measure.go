package qsim

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// ShotBytes is how many bytes of randomness Sample reads per shot: 53 bits
// make a uniform float64 in [0, 1) with every value equally likely, which is
// all the precision a float64 cumulative distribution can resolve.
const ShotBytes = 8

// Sampler draws measurements of every qubit of a fixed state. Building it
// costs one pass over the 2^n amplitudes (the cumulative distribution);
// each shot after that is a binary search, O(n). It is safe for concurrent
// use.
type Sampler struct {
	n    int
	cdf  []float64 // cdf[i] = Σ_{j≤i} |amp_j|²
	last int       // highest index with non-zero probability
}

// Sampler returns a Sampler for measuring all qubits of s in its current
// state. Later gates on s do not change the Sampler.
func (s *State) Sampler() *Sampler {
	cdf := make([]float64, len(s.amp))
	var sum float64
	last := 0
	for i, a := range s.amp {
		p := real(a)*real(a) + imag(a)*imag(a)
		if p > 0 {
			last = i
		}
		sum += p
		cdf[i] = sum
	}
	return &Sampler{n: s.n, cdf: cdf, last: last}
}

// Qubits returns the width of the measured register.
func (sm *Sampler) Qubits() int { return sm.n }

// Sample fills dst with one outcome per shot, each the index of the basis
// state measured (bit q is qubit q), sampled independently from the Born
// distribution. It reads ShotBytes·len(dst) bytes from r and returns the
// reader's error, if any.
//
// Sampling is exact inversion: a uniform u in [0, 1) built from 53 random
// bits (no modulo reduction, so no bias) picks the first state whose
// cumulative probability exceeds u·total. Scaling by the computed total
// keeps rounding in the cumulative sums from favouring the last state, and
// states of probability zero can never be picked.
func (sm *Sampler) Sample(r io.Reader, dst []int) error {
	var buf [512 * ShotBytes]byte
	total := sm.cdf[len(sm.cdf)-1]
	for len(dst) > 0 {
		k := min(len(dst), len(buf)/ShotBytes)
		if _, err := io.ReadFull(r, buf[:k*ShotBytes]); err != nil {
			return fmt.Errorf("qsim: reading randomness: %w", err)
		}
		for i := range k {
			x := binary.LittleEndian.Uint64(buf[i*ShotBytes:])
			u := float64(x>>11) * 0x1p-53
			v := u * total
			j := sort.Search(len(sm.cdf), func(j int) bool { return sm.cdf[j] > v })
			if j > sm.last {
				// u·total rounded up to total itself.
				j = sm.last
			}
			dst[i] = j
		}
		dst = dst[k:]
	}
	return nil
}

// MeasureAll measures every qubit of s in each of shots independent shots
// and returns the outcomes as bitstrings (see Bitstring). Like a
// simulator's shots, it leaves s unchanged: each shot samples the same
// prepared state.
func (s *State) MeasureAll(r io.Reader, shots int) ([]string, error) {
	if shots < 0 {
		return nil, fmt.Errorf("qsim: negative shot count %d", shots)
	}
	out := make([]int, shots)
	if err := s.Sampler().Sample(r, out); err != nil {
		return nil, err
	}
	bs := make([]string, shots)
	for i, o := range out {
		bs[i] = Bitstring(o, s.n)
	}
	return bs, nil
}
