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

// Draw returns n bytes (0–MaxDraw) from crypto/rand labelled
// "cryptographic". The other sources are unavailable (EUNAVAILABLE); a
// name that is no source, or n out of range, is EINVALID, as
// quantumlock.Randomness says.
func (System) Draw(ctx context.Context, n int, source string) (*quantumlock.Entropy, error) {
	if n < 0 || n > MaxDraw {
		return nil, quantumlock.Errorf(quantumlock.EINVALID, "Entropy length %d is out of range 0–%d bytes.", n, MaxDraw)
	}
	switch source {
	case "", quantumlock.SourceCryptographic:
	case quantumlock.SourceQCOSAPI, quantumlock.SourceQiskitLocal:
		return nil, quantumlock.Errorf(quantumlock.EUNAVAILABLE, "Entropy source %q is not available.", source)
	default:
		return nil, quantumlock.Errorf(quantumlock.EINVALID, "Unknown entropy source %q.", source)
	}
	b := make([]byte, n)
	rand.Read(b)
	return &quantumlock.Entropy{Bytes: b, Source: quantumlock.SourceCryptographic}, nil
}
