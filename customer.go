package quantumlock

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Plan is a customer's subscription plan.
type Plan string

// The four plans of SPEC §3.
const (
	PlanFree       Plan = "free"
	PlanStartup    Plan = "startup"
	PlanBusiness   Plan = "business"
	PlanEnterprise Plan = "enterprise"
)

// Limits are a customer's effective limits. Zero LicensesPerMonth means
// unlimited.
type Limits struct {
	LicensesPerMonth  int64
	RequestsPerMinute int64
}

// Limits returns the plan's default limits.
func (p Plan) Limits() Limits {
	switch p {
	case PlanStartup:
		return Limits{LicensesPerMonth: 10_000, RequestsPerMinute: 100}
	case PlanBusiness:
		return Limits{LicensesPerMonth: 100_000, RequestsPerMinute: 1_000}
	case PlanEnterprise:
		return Limits{LicensesPerMonth: 0, RequestsPerMinute: 10_000}
	default:
		return Limits{LicensesPerMonth: 100, RequestsPerMinute: 10}
	}
}

// Valid reports whether p is one of the four plans.
func (p Plan) Valid() bool {
	switch p {
	case PlanFree, PlanStartup, PlanBusiness, PlanEnterprise:
		return true
	}
	return false
}

// Customer is a vendor using the service.
type Customer struct {
	ID    string // "cust_" + 12 lowercase hex
	Name  string
	Email string
	Plan  Plan
	// Per-customer overrides of the plan's limits; nil means the plan's.
	// LicensesPerMonth 0 means unlimited.
	LicensesPerMonth  *int64
	RequestsPerMinute *int64
	CreatedAt         time.Time
}

// Limits returns the customer's effective limits: the plan's, with the
// customer's overrides applied.
func (c *Customer) Limits() Limits {
	l := c.Plan.Limits()
	if c.LicensesPerMonth != nil {
		l.LicensesPerMonth = *c.LicensesPerMonth
	}
	if c.RequestsPerMinute != nil {
		l.RequestsPerMinute = *c.RequestsPerMinute
	}
	return l
}

// Validate returns EINVALID naming the first bad field.
func (c *Customer) Validate() error {
	if c.Name == "" || utf8.RuneCountInString(c.Name) > 200 {
		return Errorf(EINVALID, "name must be 1-200 characters.")
	}
	// Stored as given and shown by the CLI and the API: text, without
	// bytes that are not UTF-8 (which would come back changed) or control
	// characters (escape sequences for whoever lists customers).
	if !utf8.ValidString(c.Name) || strings.ContainsFunc(c.Name, unicode.IsControl) {
		return Errorf(EINVALID, "name must be UTF-8 text without control characters.")
	}
	// A name of spaces, or of characters that show nothing (zero-width
	// and other format characters, the Hangul fillers), lists as no name
	// at all: it must hold something else.
	if !strings.ContainsFunc(c.Name, func(r rune) bool { return !invisible(r) }) {
		return Errorf(EINVALID, "name must not be blank.")
	}
	if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || len(c.Email) > 254 {
		return Errorf(EINVALID, "email must be a plain e-mail address.")
	}
	return c.ValidateTerms()
}

// ValidateTerms returns EINVALID naming the first bad field of the
// customer's plan and limits: what an update changes. Name and e-mail are
// checked when a customer is created, by the rules of that day, and a
// customer stored under older rules can still have its plan changed.
func (c *Customer) ValidateTerms() error {
	if !c.Plan.Valid() {
		return Errorf(EINVALID, "plan must be one of free, startup, business, enterprise.")
	}
	if c.LicensesPerMonth != nil && *c.LicensesPerMonth < 0 {
		return Errorf(EINVALID, "licenses_per_month must be 0 (unlimited) or positive.")
	}
	if c.RequestsPerMinute != nil && *c.RequestsPerMinute < 1 {
		return Errorf(EINVALID, "requests_per_minute must be positive.")
	}
	return nil
}

// CustomerUpdate lists the fields to change; nil fields stay as they are.
// A Reset flag removes that override, so the plan's limit applies again
// (when an enterprise contract ends, say); it wins over a value given for
// the same field.
type CustomerUpdate struct {
	Plan                   *Plan
	LicensesPerMonth       *int64
	RequestsPerMinute      *int64
	ResetLicensesPerMonth  bool
	ResetRequestsPerMinute bool
}

// CustomerStore persists customers.
type CustomerStore interface {
	// CreateCustomer inserts c. ECONFLICT if the id exists.
	CreateCustomer(ctx context.Context, c *Customer) error
	// Customer returns the customer with id, or ENOTFOUND.
	Customer(ctx context.Context, id string) (*Customer, error)
	// Customers returns every customer, oldest first.
	Customers(ctx context.Context) ([]*Customer, error)
	// UpdateCustomer applies upd to the customer with id and returns it,
	// or ENOTFOUND.
	UpdateCustomer(ctx context.Context, id string, upd CustomerUpdate) (*Customer, error)
}

// APIKey is one of a customer's API keys. Only the SHA-256 hash of the
// secret is stored.
type APIKey struct {
	ID         string // "ak_" + 12 lowercase hex
	CustomerID string
	Hash       []byte // SHA-256 of the full secret
	Hint       string // the secret's first characters, for telling keys apart
	CreatedAt  time.Time
	RevokedAt  *time.Time
}

// APIKeyStore persists API keys.
type APIKeyStore interface {
	// CreateAPIKey inserts k. ENOTFOUND if its customer does not exist.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// CreateCustomerWithKey inserts c and its first API key k (whose
	// CustomerID is c.ID), both or neither. ECONFLICT if c's id, or k's id
	// or hash, exists.
	CreateCustomerWithKey(ctx context.Context, c *Customer, k *APIKey) error
	// APIKeyByHash returns the key whose hash is hash, revoked or not, and
	// the customer it belongs to, in one read: it runs on every
	// authenticated request. ENOTFOUND if no key has that hash.
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, *Customer, error)
	// APIKeys returns the customer's keys, oldest first.
	APIKeys(ctx context.Context, customerID string) ([]*APIKey, error)
	// RevokeAPIKey marks the key revoked at t (idempotent: an already
	// revoked key keeps its first time) and returns it, or ENOTFOUND.
	RevokeAPIKey(ctx context.Context, id string, t time.Time) (*APIKey, error)
}

// invisible reports whether r is known to show nothing when printed: a
// space, a format character (zero-width space and joiners, bidi marks),
// a variation selector, a default-ignorable code point (the Hangul
// fillers, the combining grapheme joiner, the Khmer inherent vowels, and
// the unassigned ones Unicode reserves to render as nothing, such as
// U+2065 and U+E0000), or the blank Braille pattern. Anything else, a
// character newer than Go's Unicode tables or a private-use one among
// them, is taken to show.
func invisible(r rune) bool {
	return r == '\u2800' || unicode.IsSpace(r) ||
		unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}
