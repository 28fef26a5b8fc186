// Package qsim is a small state-vector simulator of an n-qubit register,
// written in pure Go for the qiskit_local entropy source (SPEC §7).
//
// A State holds the 2^n complex128 amplitudes of the register. Gates act on
// it in place; measuring every qubit samples shots independently from the
// Born-rule distribution |amplitude|², drawing the randomness from an
// injected io.Reader (the OS CSPRNG in production).
//
// Basis states are numbered little-endian, as Qiskit does: qubit q is bit q
// of the index, and in a bitstring qubit 0 is the rightmost character.
//
// A simulator run on a classical computer is not a quantum process: every
// bit it measures comes from the io.Reader it is given. Its output must be
// labelled as simulated (SPEC §1).
package qsim

import (
	"fmt"
	"math"
	"math/cmplx"
)

// MaxQubits is the widest register New accepts. 2^20 amplitudes take 16 MiB;
// beyond that a state vector stops being a sensible thing to hold per
// process.
const MaxQubits = 20

// State is the state vector of an n-qubit register. It is not safe for
// concurrent use; a Sampler made from it is.
type State struct {
	n   int
	amp []complex128
}

// New returns an n-qubit register in the basis state |0…0⟩. n must be
// between 1 and MaxQubits.
func New(n int) (*State, error) {
	if n < 1 || n > MaxQubits {
		return nil, fmt.Errorf("qsim: %d qubits out of range 1–%d", n, MaxQubits)
	}
	amp := make([]complex128, 1<<n)
	amp[0] = 1
	return &State{n: n, amp: amp}, nil
}

// Qubits returns the width of the register.
func (s *State) Qubits() int { return s.n }

// Amplitude returns the amplitude of basis state i.
func (s *State) Amplitude(i int) complex128 { return s.amp[i] }

// Amplitudes returns a copy of the state vector.
func (s *State) Amplitudes() []complex128 {
	return append([]complex128(nil), s.amp...)
}

// Probabilities returns |amplitude|² of every basis state.
func (s *State) Probabilities() []float64 {
	p := make([]float64, len(s.amp))
	for i, a := range s.amp {
		p[i] = real(a)*real(a) + imag(a)*imag(a)
	}
	return p
}

// Norm returns the sum of |amplitude|² over the state, 1 for a valid state
// up to rounding. Every gate here is unitary, so it stays 1.
func (s *State) Norm() float64 {
	var sum float64
	for _, a := range s.amp {
		sum += real(a)*real(a) + imag(a)*imag(a)
	}
	return sum
}

// check panics on a qubit index outside the register, like an index out of
// range: a circuit naming a missing qubit is a programming error.
func (s *State) check(qs ...int) {
	for i, q := range qs {
		if q < 0 || q >= s.n {
			panic(fmt.Sprintf("qsim: qubit %d out of range for %d-qubit register", q, s.n))
		}
		for _, r := range qs[:i] {
			if r == q {
				panic(fmt.Sprintf("qsim: qubit %d used twice in one gate", q))
			}
		}
	}
}

// apply1 applies the 2×2 unitary [[a, b], [c, d]] to qubit q.
func (s *State) apply1(q int, a, b, c, d complex128) {
	s.check(q)
	bit := 1 << q
	for i := range s.amp {
		if i&bit != 0 {
			continue
		}
		j := i | bit
		x, y := s.amp[i], s.amp[j]
		s.amp[i] = a*x + b*y
		s.amp[j] = c*x + d*y
	}
}

// phase multiplies the amplitudes where qubit q is 1 by ph: the diagonal
// gates Z, S and T need no mixing, so they skip apply1's arithmetic.
func (s *State) phase(q int, ph complex128) {
	s.check(q)
	bit := 1 << q
	for i := range s.amp {
		if i&bit != 0 {
			s.amp[i] *= ph
		}
	}
}

// H applies the Hadamard gate to qubit q.
func (s *State) H(q int) {
	s.check(q)
	bit := 1 << q
	for i := range s.amp {
		if i&bit != 0 {
			continue
		}
		j := i | bit
		x, y := s.amp[i], s.amp[j]
		s.amp[i] = complex(math.Sqrt2/2, 0) * (x + y)
		s.amp[j] = complex(math.Sqrt2/2, 0) * (x - y)
	}
}

// X applies the Pauli-X (NOT) gate to qubit q.
func (s *State) X(q int) {
	s.check(q)
	bit := 1 << q
	for i := range s.amp {
		if i&bit == 0 {
			j := i | bit
			s.amp[i], s.amp[j] = s.amp[j], s.amp[i]
		}
	}
}

// Y applies the Pauli-Y gate to qubit q.
func (s *State) Y(q int) { s.apply1(q, 0, -1i, 1i, 0) }

// Z applies the Pauli-Z gate to qubit q.
func (s *State) Z(q int) { s.phase(q, -1) }

// S applies the phase gate S = diag(1, i) to qubit q.
func (s *State) S(q int) { s.phase(q, 1i) }

// Sdg applies S†= diag(1, −i) to qubit q.
func (s *State) Sdg(q int) { s.phase(q, -1i) }

// T applies the π/8 gate T = diag(1, e^{iπ/4}) to qubit q.
func (s *State) T(q int) { s.phase(q, cmplx.Exp(complex(0, math.Pi/4))) }

// Tdg applies T† = diag(1, e^{−iπ/4}) to qubit q.
func (s *State) Tdg(q int) { s.phase(q, cmplx.Exp(complex(0, -math.Pi/4))) }

// Phase applies diag(1, e^{iθ}) to qubit q.
func (s *State) Phase(q int, theta float64) { s.phase(q, cmplx.Exp(complex(0, theta))) }

// RX applies a rotation by θ about the X axis to qubit q.
func (s *State) RX(q int, theta float64) {
	c, sn := complex(math.Cos(theta/2), 0), complex(0, -math.Sin(theta/2))
	s.apply1(q, c, sn, sn, c)
}

// RY applies a rotation by θ about the Y axis to qubit q.
func (s *State) RY(q int, theta float64) {
	c, sn := complex(math.Cos(theta/2), 0), complex(math.Sin(theta/2), 0)
	s.apply1(q, c, -sn, sn, c)
}

// CNOT flips qubit target where qubit control is 1.
func (s *State) CNOT(control, target int) {
	s.check(control, target)
	cb, tb := 1<<control, 1<<target
	for i := range s.amp {
		if i&cb != 0 && i&tb == 0 {
			j := i | tb
			s.amp[i], s.amp[j] = s.amp[j], s.amp[i]
		}
	}
}

// CZ negates the amplitudes where both qubits are 1.
func (s *State) CZ(a, b int) {
	s.check(a, b)
	m := 1<<a | 1<<b
	for i := range s.amp {
		if i&m == m {
			s.amp[i] = -s.amp[i]
		}
	}
}

// Swap exchanges qubits a and b.
func (s *State) Swap(a, b int) {
	s.check(a, b)
	ab, bb := 1<<a, 1<<b
	for i := range s.amp {
		if i&ab != 0 && i&bb == 0 {
			j := i&^ab | bb
			s.amp[i], s.amp[j] = s.amp[j], s.amp[i]
		}
	}
}

// Bitstring formats basis state i of an n-qubit register as Qiskit prints
// counts: n characters, qubit n−1 first and qubit 0 last.
func Bitstring(i, n int) string {
	b := make([]byte, n)
	for q := range n {
		b[n-1-q] = '0' + byte(i>>q&1)
	}
	return string(b)
}
