// Package entropytest holds randomness for tests that must check what the
// service claims about provenance.
package entropytest

import (
	"context"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
)

// Quantum is the OS's randomness labelled as drawn from a healthy quantum
// source (qcos_api, fidelity 0.99). The label is false: it is for tests of
// what a license, a key or an answer says when its entropy was quantum.
type Quantum struct{}

// Draw returns n bytes of the OS's randomness under the quantum label.
func (Quantum) Draw(ctx context.Context, n int, _ string) (*quantumlock.Entropy, error) {
	e, err := entropy.System{}.Draw(ctx, n, "")
	if err != nil {
		return nil, err
	}
	f := 0.99
	e.Source, e.QuantumVerified, e.Fidelity = quantumlock.SourceQCOSAPI, true, &f
	return e, nil
}
