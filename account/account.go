// Package account manages customers and their API keys and authenticates
// requests (SPEC §3). API keys are random secrets shown once; only their
// SHA-256 hashes are stored, so a leaked database does not leak keys.
package account

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"github.com/quantumlock/quantumlock"
)

// KeyPrefix starts every API key, so a leaked key is recognisable (secret
// scanners) and a pasted key of another kind is rejected without a lookup.
const KeyPrefix = "ql_live_"

// keyBytes is the API key's random part: 160 bits, above SPEC's 128.
const keyBytes = 20

// hintLen is how much of a key is kept in clear to tell keys apart: the
// prefix and four random characters, 20 bits, too few to help a guesser.
const hintLen = len(KeyPrefix) + 4

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Service creates customers and API keys and authenticates requests.
type Service struct {
	Customers quantumlock.CustomerStore
	Keys      quantumlock.APIKeyStore
	Rand      quantumlock.Randomness
	Now       quantumlock.Clock
}

// CreateCustomer validates and stores c with a new id and creation time,
// and gives it its first API key, returning the key's secret (shown only
// here). EINVALID names the bad field.
func (s *Service) CreateCustomer(ctx context.Context, c *quantumlock.Customer) (secret string, err error) {
	if c.Plan == "" {
		c.Plan = quantumlock.PlanFree
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	if c.ID, err = quantumlock.NewID(ctx, s.Rand, "cust_", 6); err != nil {
		return "", err
	}
	c.CreatedAt = s.Now().UTC()
	k, secret, err := s.newAPIKey(ctx, c.ID)
	if err != nil {
		return "", err
	}
	// One transaction: a customer is never left without the key whose
	// secret this call was to show.
	if err := s.Keys.CreateCustomerWithKey(ctx, c, k); err != nil {
		return "", err
	}
	return secret, nil
}

// UpdateCustomer changes the customer's plan or limit overrides.
// ENOTFOUND, or EINVALID naming the bad field.
func (s *Service) UpdateCustomer(ctx context.Context, id string, upd quantumlock.CustomerUpdate) (*quantumlock.Customer, error) {
	c, err := s.Customers.Customer(ctx, id)
	if err != nil {
		return nil, err
	}
	if upd.Plan != nil {
		c.Plan = *upd.Plan
	}
	if upd.LicensesPerMonth != nil {
		c.LicensesPerMonth = upd.LicensesPerMonth
	}
	if upd.RequestsPerMinute != nil {
		c.RequestsPerMinute = upd.RequestsPerMinute
	}
	if upd.ResetLicensesPerMonth {
		c.LicensesPerMonth = nil
	}
	if upd.ResetRequestsPerMinute {
		c.RequestsPerMinute = nil
	}
	if err := c.ValidateTerms(); err != nil {
		return nil, err
	}
	return s.Customers.UpdateCustomer(ctx, id, upd)
}

// CreateAPIKey gives the customer a new API key and returns it with its
// secret, which is shown only here. ENOTFOUND if there is no such customer.
func (s *Service) CreateAPIKey(ctx context.Context, customerID string) (*quantumlock.APIKey, string, error) {
	if _, err := s.Customers.Customer(ctx, customerID); err != nil {
		return nil, "", err
	}
	k, secret, err := s.newAPIKey(ctx, customerID)
	if err != nil {
		return nil, "", err
	}
	if err := s.Keys.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// newAPIKey makes, without storing it, a new API key for the customer and
// returns it with its secret.
func (s *Service) newAPIKey(ctx context.Context, customerID string) (*quantumlock.APIKey, string, error) {
	e, err := s.Rand.Draw(ctx, keyBytes, "")
	if err != nil {
		return nil, "", err
	}
	secret := KeyPrefix + strings.ToLower(keyEncoding.EncodeToString(e.Bytes))
	id, err := quantumlock.NewID(ctx, s.Rand, "ak_", 6)
	if err != nil {
		return nil, "", err
	}
	h := sha256.Sum256([]byte(secret))
	return &quantumlock.APIKey{ID: id, CustomerID: customerID, Hash: h[:], Hint: secret[:hintLen], CreatedAt: s.Now().UTC()}, secret, nil
}

// errUnauthorized is the one answer to every API key that does not
// authenticate, whatever the reason. It is built on the failure paths only,
// since every request authenticates.
func errUnauthorized() error {
	return quantumlock.Errorf(quantumlock.EUNAUTHORIZED, "Invalid or missing API key.")
}

// Authenticate returns the customer whose live API key is secret, or
// EUNAUTHORIZED for a missing, unknown or revoked key. The three cases give
// the same answer so keys cannot be probed.
func (s *Service) Authenticate(ctx context.Context, secret string) (*quantumlock.Customer, error) {
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) > 128 {
		return nil, errUnauthorized()
	}
	h := sha256.Sum256([]byte(secret))
	k, c, err := s.Keys.APIKeyByHash(ctx, h[:])
	if quantumlock.ErrorCode(err) == quantumlock.ENOTFOUND {
		return nil, errUnauthorized()
	} else if err != nil {
		return nil, err
	}
	// The store finds the row by the SHA-256 of the secret, never by the
	// secret, so the lookup's timing can tell at most how far a guess's
	// hash matches a stored one, which brings no preimage nearer. (The
	// store does not read the hash back, so there is nothing to compare
	// again here.)
	if k.RevokedAt != nil || c.ID != k.CustomerID {
		return nil, errUnauthorized()
	}
	return c, nil
}
