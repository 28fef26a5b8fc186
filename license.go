package quantumlock

import (
	"context"
	"encoding/json"
	"time"
)

// License statuses.
const (
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Security levels of a license (SPEC §5).
const (
	SecurityQuantum       = "QUANTUM_SECURED"
	SecurityCryptographic = "CRYPTOGRAPHIC"
)

// License is a license key issued by a customer to one of its end customers.
type License struct {
	Key              string // QLOCK-XXXX-XXXX-XXXX
	CustomerID       string
	EndCustomerID    string
	Features         []string
	Metadata         json.RawMessage // a JSON object; nil when none was given
	GeneratedAt      time.Time
	ValidUntil       time.Time
	Signature        string // HMAC-SHA3-512, 128 lowercase hex
	QuantumVerified  bool
	Fidelity         *float64
	SecurityLevel    string
	EntropySource    string
	RevokedAt        *time.Time
	RevocationReason string
}

// Status returns the license's status at now. Revocation wins over expiry.
func (l *License) Status(now time.Time) string {
	switch {
	case l.RevokedAt != nil:
		return StatusRevoked
	case !now.Before(l.ValidUntil):
		return StatusExpired
	default:
		return StatusActive
	}
}

// Quota is the monthly license allowance that CreateLicense enforces in the
// same transaction as the insert, so concurrent calls can never exceed it.
type Quota struct {
	Period string // calendar month, "YYYY-MM" (see MonthPeriod)
	Limit  int64  // 0 means unlimited: count, never refuse
}

// LicenseFilter selects licenses for a listing.
type LicenseFilter struct {
	CustomerID    string    // required
	EndCustomerID string    // optional exact match
	Status        string    // optional: StatusActive, StatusExpired or StatusRevoked
	Now           time.Time // the instant Status is judged at; zero: the service's clock
	Skip, Limit   int
}

// LicenseStats are a customer's license counts.
type LicenseStats struct {
	IssuedInPeriod int64 // licenses counted against the quota in the period
	Total          int64 // all licenses ever issued
	Active         int64 // neither expired nor revoked at the given time
}

// LicenseStore persists licenses and the monthly usage counters.
type LicenseStore interface {
	// CreateLicense inserts l and counts it in q.Period for l.CustomerID,
	// atomically: when q.Limit > 0 and the period's count has reached it,
	// nothing is written and ERATELIMIT is returned. It returns the
	// period's count after the insert. ECONFLICT if the key exists.
	CreateLicense(ctx context.Context, l *License, q Quota) (used int64, err error)
	// License returns the license with key if it belongs to customerID,
	// else ENOTFOUND (another customer's license is exactly "not found").
	License(ctx context.Context, customerID, key string) (*License, error)
	// Licenses returns one page of the filter's licenses, newest first, and
	// the total number matching.
	Licenses(ctx context.Context, f LicenseFilter) ([]*License, int64, error)
	// RevokeLicense marks the customer's license revoked at t with reason
	// and returns it; an already revoked license is returned unchanged.
	// ENOTFOUND as License.
	RevokeLicense(ctx context.Context, customerID, key, reason string, t time.Time) (*License, error)
	// LicenseStats returns the customer's counts for period and at now.
	LicenseStats(ctx context.Context, customerID, period string, now time.Time) (LicenseStats, error)
	// LicenseUsage returns how many licenses the customer was issued in
	// period (LicenseStats' IssuedInPeriod) and nothing else, at the cost
	// of one lookup whatever the customer holds.
	LicenseUsage(ctx context.Context, customerID, period string) (int64, error)
}
