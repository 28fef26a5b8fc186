// Package quantumlock holds QuantumLock's domain types, their validation
// rules, its error codes, and the interfaces the services consume: the
// stores, the randomness source and the clock. It imports only the standard
// library; every implementation lives in a sub-package named for what it
// wraps (sqlite, entropy, ratelimit, …).
package quantumlock

import (
	"context"
	"encoding/hex"
	"time"
)

// Version is the service version, set at build time with
// -ldflags "-X github.com/quantumlock/quantumlock.Version=…".
var Version = "0.1.0-dev"

// Entropy source names, as the API reference spells them.
const (
	SourceCryptographic = "cryptographic"
	SourceQiskitLocal   = "qiskit_local"
	SourceQCOSAPI       = "qcos_api"
)

// Entropy is a draw of conditioned random bytes together with what made
// them. QuantumVerified is true only when bits from a real quantum source
// that was passing its health tests went into Bytes (SPEC §1).
type Entropy struct {
	Bytes           []byte
	Source          string   // one of the Source* names
	QuantumVerified bool     // a healthy real quantum source contributed
	Fidelity        *float64 // measured min-entropy per bit of the source, nil until known
	Qubits          *int     // circuit width or what the remote reported, nil if not applicable
}

// Randomness supplies every random value the service makes: license keys,
// API keys, ids, nonces and key material.
type Randomness interface {
	// Draw returns n conditioned random bytes. An empty source picks the
	// best healthy source; a named source that is unknown returns EINVALID,
	// one that is unavailable or unhealthy returns EUNAVAILABLE.
	Draw(ctx context.Context, n int, source string) (*Entropy, error)
}

// NewID returns prefix followed by n random bytes in lowercase hex.
func NewID(ctx context.Context, r Randomness, prefix string, n int) (string, error) {
	e, err := r.Draw(ctx, n, "")
	if err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(e.Bytes), nil
}

// Clock returns the current time. Services take one so tests can move time
// instead of sleeping.
type Clock func() time.Time

// SystemClock is the wall clock in UTC.
func SystemClock() time.Time { return time.Now().UTC() }

// MonthPeriod returns the calendar month (UTC) that t falls in, as
// "YYYY-MM", and the instant the next month starts.
func MonthPeriod(t time.Time) (period string, next time.Time) {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start.Format("2006-01"), start.AddDate(0, 1, 0)
}
