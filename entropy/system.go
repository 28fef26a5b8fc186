package entropy

import (
	"context"
	"crypto/rand"

	"github.com/quantumlock/quantumlock"
)

// System is a quantumlock.Randomness that draws straight from the OS
// CSPRNG, with no other source and no health tests. It is what tests and
// tools use when the provenance of their bytes does not matter.
type System struct{}

var _ quantumlock.Randomness = System{}

// Draw returns n bytes from crypto/rand labelled "cryptographic". Any
// source other than "" or "cryptographic" is unavailable.
func (System) Draw(ctx context.Context, n int, source string) (*quantumlock.Entropy, error) {
	if source != "" && source != quantumlock.SourceCryptographic {
		return nil, quantumlock.Errorf(quantumlock.EUNAVAILABLE, "Entropy source %q is not available.", source)
	}
	b := make([]byte, n)
	rand.Read(b)
	return &quantumlock.Entropy{Bytes: b, Source: quantumlock.SourceCryptographic}, nil
}
