package entropy

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/quantumlock/quantumlock/qsim"
)

// monitor holds one source's health state: the SP 800-90B §4.4 tests and the
// fidelity estimate over its raw output.
type monitor struct {
	mu        sync.Mutex
	ht        healthTest
	mcv       bitMCV
	healthy   bool
	replays   uint64 // faults for failRepeat (see fault)
	lastFail  string
	lastFailT time.Time
	now       func() time.Time
}

func newMonitor(h float64, now func() time.Time) *monitor {
	return &monitor{ht: newHealthTest(h), now: now}
}

// check runs raw through the health tests and the fidelity window and
// reports whether raw may be used: only when the source was healthy before
// and raw passed. Output seen while a source is starting or recovering
// only counts towards its clean run (SP 800-90B §4.3), and a failure marks
// the source unhealthy at once.
func (m *monitor) check(raw []byte) (usable bool, fail failure) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mcv.add(raw)
	if fail = m.ht.feed(raw); fail != "" {
		m.healthy = false
		m.lastFail, m.lastFailT = string(fail), m.now()
		return false, fail
	}
	if !m.healthy {
		m.healthy = m.ht.passed()
		return false, ""
	}
	return true, ""
}

// fault marks the source unhealthy for a failure found outside the health
// tests, which then restart: as after their own failure, the source must
// pass StartupSamples samples again before its output is used.
func (m *monitor) fault(f failure) failure {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ht.rctB, m.ht.aptI, m.ht.clean = 0, 0, 0
	m.healthy = false
	if f == failRepeat {
		m.replays++
	}
	m.lastFail, m.lastFailT = string(f), m.now()
	return f
}

func (m *monitor) isHealthy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.healthy
}

func (m *monitor) fidelity() *float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mcv.estimate()
}

// localSource is a source computed in this process: the OS CSPRNG or the
// simulator. Draws read it synchronously.
type localSource struct {
	name   string
	read   func([]byte) error // fills its argument with raw output; safe for concurrent use
	mon    *monitor
	qubits *int // circuit width for qiskit_local
}

// probe tests StartupSamples fresh samples so that a source that is
// starting, or that failed, can show a clean run before it is used again.
// Local sources cost nothing to retry, so they recover on the next draw
// rather than after a back-off.
func (s *localSource) probe() error {
	b := make([]byte, StartupSamples)
	if err := s.read(b); err != nil {
		return err
	}
	s.mon.check(b)
	return nil
}

// raw returns n tested raw bytes, probing once to recover if the source is
// unhealthy or fails on these bytes.
func (s *localSource) raw(n int) ([]byte, error) {
	b := make([]byte, n)
	for attempt := 0; attempt < 2; attempt++ {
		if !s.mon.isHealthy() {
			if err := s.probe(); err != nil {
				return nil, err
			}
			if !s.mon.isHealthy() {
				return nil, errUnhealthy
			}
		}
		if err := s.read(b); err != nil {
			return nil, err
		}
		if ok, _ := s.mon.check(b); ok {
			return b, nil
		}
	}
	return nil, errUnhealthy
}

var errUnhealthy = fmt.Errorf("source failed its health tests")

// SimulatorName is how the qiskit_local source names its backend in status
// reports: it is this package's state-vector simulator, not Qiskit Aer.
const SimulatorName = "qsim statevector"

// newSimulator prepares the qiskit_local circuit, a Hadamard on each of n
// qubits, once: every shot samples that same final state, as a simulator
// run with many shots does. Its read packs the shots' measured bits,
// qubit 0 first, into bytes; the randomness of each shot comes from r.
func newSimulator(n int, r io.Reader) (func([]byte) error, error) {
	s, err := qsim.New(n)
	if err != nil {
		return nil, err
	}
	for q := range n {
		s.H(q)
	}
	sampler := s.Sampler()
	return func(dst []byte) error {
		shots := make([]int, (len(dst)*8+n-1)/n)
		if err := sampler.Sample(r, shots); err != nil {
			return err
		}
		var acc uint64
		var nb, i int
		for _, o := range shots {
			acc |= uint64(o) << nb
			nb += n
			for nb >= 8 && i < len(dst) {
				dst[i] = byte(acc)
				acc >>= 8
				nb -= 8
				i++
			}
		}
		return nil
	}, nil
}
