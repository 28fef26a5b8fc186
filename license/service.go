package license

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/quantumlock/quantumlock"
)

// Limits on license fields (SPEC §5).
const (
	MaxEndCustomerID = 256
	MaxFeatures      = 64
	MaxFeatureLen    = 64
	MinValidDays     = 1
	MaxValidDays     = 3650
	DefaultValidDays = 365
	MaxMetadata      = 16 << 10
	MaxReasonLen     = 1024
	MaxListLimit     = 1000
	DefaultListLimit = 100
)

// keyAttempts bounds retries on a license-key collision. With 48-bit keys a
// collision needs millions of stored licenses; eight in a row means the
// randomness is broken, and failing is then the right answer.
const keyAttempts = 8

// Service issues, lists, revokes and validates licenses.
type Service struct {
	Store quantumlock.LicenseStore
	Rand  quantumlock.Randomness
	// Secret returns a customer's license-signing key. It must be stable
	// for the customer and secret (see masterkey.Key.Derive).
	Secret func(customerID string) []byte
	Now    quantumlock.Clock

	macs macs // keyed signing states, per customer
}

// CheckEndCustomerID returns EINVALID unless id is 1-MaxEndCustomerID
// characters: an end_customer_id some license can hold. Validate and the
// list's filter apply it, and generate with it the rule of new licenses,
// no control characters (Params.Validate). Those were issued until that
// rule came, and must still validate and be found, so a lookup does not
// refuse them. Whitespace is an id's own: ids are compared exactly, never
// trimmed.
func CheckEndCustomerID(id string) error {
	if n := utf8.RuneCountInString(id); n < 1 || n > MaxEndCustomerID {
		return quantumlock.Errorf(quantumlock.EINVALID, "end_customer_id is required and must be 1-%d characters.", MaxEndCustomerID)
	}
	return nil
}

// Params are the fields of a license to generate.
type Params struct {
	EndCustomerID string
	Features      []string
	ValidDays     *int            // nil means DefaultValidDays
	Metadata      json.RawMessage // nil or JSON null means none
}

// Validate returns EINVALID naming the first bad field.
func (p *Params) Validate() error {
	if err := CheckEndCustomerID(p.EndCustomerID); err != nil {
		return err
	}
	// A control character (C0, DEL or C1), a NUL or an escape sequence, in
	// an identifier or a feature name is a mistake, or an attack on
	// whatever displays it.
	if strings.ContainsFunc(p.EndCustomerID, unicode.IsControl) {
		return quantumlock.Errorf(quantumlock.EINVALID, "end_customer_id must not hold control characters.")
	}
	if len(p.Features) > MaxFeatures {
		return quantumlock.Errorf(quantumlock.EINVALID, "features must hold at most %d entries.", MaxFeatures)
	}
	for i, f := range p.Features {
		if n := utf8.RuneCountInString(f); n < 1 || n > MaxFeatureLen {
			return quantumlock.Errorf(quantumlock.EINVALID, "features[%d] must be 1-%d characters.", i, MaxFeatureLen)
		}
		if strings.ContainsFunc(f, unicode.IsControl) {
			return quantumlock.Errorf(quantumlock.EINVALID, "features[%d] must not hold control characters.", i)
		}
	}
	if p.ValidDays != nil && (*p.ValidDays < MinValidDays || *p.ValidDays > MaxValidDays) {
		return quantumlock.Errorf(quantumlock.EINVALID, "valid_days must be between %d and %d.", MinValidDays, MaxValidDays)
	}
	if len(p.Metadata) > 0 && string(p.Metadata) != "null" {
		if err := checkMetadata(p.Metadata); err != nil {
			return err
		}
		// The limit is on what is stored, the object without its
		// insignificant whitespace, so that the same object pretty-printed
		// is not refused where it is accepted compact.
		if len(p.Metadata) > MaxMetadata && len(compact(p.Metadata)) > MaxMetadata {
			return quantumlock.Errorf(quantumlock.EINVALID, "metadata must be at most %d bytes of JSON (without insignificant whitespace).", MaxMetadata)
		}
	}
	return nil
}

// Usage is a customer's monthly license quota after an operation.
type Usage struct {
	Limit int64     // 0 means unlimited
	Used  int64     // licenses counted this month
	Reset time.Time // start of next month (UTC)
}

// Remaining returns how many licenses are left this month; meaningless when
// unlimited.
func (u Usage) Remaining() int64 { return max(u.Limit-u.Used, 0) }

// Generate issues a license for customer c, counting it against the
// monthly quota. It returns ERATELIMIT with the month's usage when the quota
// is spent, EINVALID for bad params, and EUNAVAILABLE if no randomness can
// be had.
func (s *Service) Generate(ctx context.Context, c *quantumlock.Customer, p Params) (*quantumlock.License, Usage, error) {
	now := s.Now().UTC().Truncate(time.Second)
	period, next := quantumlock.MonthPeriod(now)
	usage := Usage{Limit: c.Limits().LicensesPerMonth, Reset: next}
	if err := p.Validate(); err != nil {
		return nil, usage, err
	}
	days := DefaultValidDays
	if p.ValidDays != nil {
		days = *p.ValidDays
	}
	features := p.Features
	if features == nil {
		features = []string{}
	}
	var metadata json.RawMessage
	if len(p.Metadata) > 0 && string(p.Metadata) != "null" {
		metadata = compact(p.Metadata)
	}

	for range keyAttempts {
		e, err := s.Rand.Draw(ctx, KeyBytes, "")
		if err != nil {
			return nil, usage, err
		}
		l := &quantumlock.License{
			Key:             FormatKey([KeyBytes]byte(e.Bytes)),
			CustomerID:      c.ID,
			EndCustomerID:   p.EndCustomerID,
			Features:        features,
			Metadata:        metadata,
			GeneratedAt:     now,
			ValidUntil:      now.Add(time.Duration(days) * 24 * time.Hour),
			QuantumVerified: e.QuantumVerified,
			Fidelity:        e.Fidelity,
			SecurityLevel:   quantumlock.SecurityCryptographic,
			EntropySource:   e.Source,
		}
		if e.QuantumVerified {
			l.SecurityLevel = quantumlock.SecurityQuantum
		}
		l.Signature = s.macs.sign(c.ID, s.Secret, l)

		used, err := s.Store.CreateLicense(ctx, l, quantumlock.Quota{Period: period, Limit: usage.Limit})
		switch quantumlock.ErrorCode(err) {
		case "":
			usage.Used = used
			return l, usage, nil
		case quantumlock.ECONFLICT:
			continue
		case quantumlock.ERATELIMIT:
			usage.Used = usage.Limit
			return nil, usage, quantumlock.Errorf(quantumlock.ERATELIMIT, "Monthly limit reached (%d licenses).", usage.Limit)
		default:
			return nil, usage, err
		}
	}
	return nil, usage, errors.New("license: no unique license key after repeated attempts")
}

// compact returns JSON with insignificant space removed, so the stored and
// signed metadata do not depend on the client's formatting.
func compact(raw json.RawMessage) json.RawMessage {
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return raw
	}
	return out.Bytes()
}

// Validation codes (SPEC §5).
const (
	CodeValid            = "VALID"
	CodeNotFound         = "NOT_FOUND"
	CodeCustomerMismatch = "CUSTOMER_MISMATCH"
	CodeRevoked          = "REVOKED"
	CodeExpired          = "EXPIRED"
	CodeSignatureInvalid = "SIGNATURE_INVALID"
)

// Result is the outcome of validating a license key.
type Result struct {
	Code    string
	Message string               // a sentence when not valid
	License *quantumlock.License // the license when one was found, even if invalid
}

// Valid reports whether the result is VALID.
func (r Result) Valid() bool { return r.Code == CodeValid }

// Validate checks key for customerID's end customer endCustomerID, in this
// order: the license exists and belongs to the customer; the record found
// is the one issued under key and its signature matches (a row edited in
// the store stops validating); it belongs to the end customer; it is not
// revoked; it has not expired. Only store failures are errors; every other
// outcome is a Result.
func (s *Service) Validate(ctx context.Context, customerID, key, endCustomerID string) (Result, error) {
	key, ok := NormalizeKey(key)
	if !ok {
		return Result{Code: CodeNotFound, Message: "License not found."}, nil
	}
	l, err := s.Store.License(ctx, customerID, key)
	if quantumlock.ErrorCode(err) == quantumlock.ENOTFOUND {
		return Result{Code: CodeNotFound, Message: "License not found."}, nil
	} else if err != nil {
		return Result{}, err
	}
	r := Result{License: l}
	switch now := s.Now(); {
	// A store finds a license by its key's bits, not by the key column
	// the signature covers: a row moved to another key's place (its id
	// edited) carries a signature that verifies for its own key, and
	// only this comparison tells that it answers for another.
	case l.Key != key || !s.macs.verify(customerID, s.Secret, l):
		r.Code, r.Message = CodeSignatureInvalid, "License signature is invalid; the record may have been altered."
	case l.EndCustomerID != endCustomerID:
		r.Code, r.Message = CodeCustomerMismatch, "License belongs to a different end customer."
	case l.RevokedAt != nil:
		r.Code, r.Message = CodeRevoked, "License has been revoked."
	case l.Status(now) == quantumlock.StatusExpired:
		r.Code, r.Message = CodeExpired, "License has expired."
	default:
		r.Code = CodeValid
	}
	return r, nil
}

// Intact reports whether l, found under key, is the license issued under
// key, its signature matching its fields under its customer's key: what
// Validate checks before anything else. The views that show a stored
// license whole (get, revoke) mark one that is not, since only the store
// vouches for its fields, quantum_verified among them.
func (s *Service) Intact(l *quantumlock.License, key string) bool {
	key, ok := NormalizeKey(key)
	return ok && l.Key == key && s.macs.verify(l.CustomerID, s.Secret, l)
}

// Get returns the customer's license with key, or ENOTFOUND.
func (s *Service) Get(ctx context.Context, customerID, key string) (*quantumlock.License, error) {
	key, ok := NormalizeKey(key)
	if !ok {
		return nil, quantumlock.Errorf(quantumlock.ENOTFOUND, "License not found.")
	}
	return s.Store.License(ctx, customerID, key)
}

// Revoke revokes the customer's license with key for reason; revoking a
// revoked license returns it unchanged. ENOTFOUND, or EINVALID for a reason
// that is too long.
func (s *Service) Revoke(ctx context.Context, customerID, key, reason string) (*quantumlock.License, error) {
	if utf8.RuneCountInString(reason) > MaxReasonLen {
		return nil, quantumlock.Errorf(quantumlock.EINVALID, "reason must be at most %d characters.", MaxReasonLen)
	}
	// Free text may run over lines (CRLF as a form sends them), but no
	// other control character (an escape sequence, a NUL) belongs in what
	// the record shows.
	if strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) {
		return nil, quantumlock.Errorf(quantumlock.EINVALID, "reason must not hold control characters other than line breaks and tab.")
	}
	key, ok := NormalizeKey(key)
	if !ok {
		return nil, quantumlock.Errorf(quantumlock.ENOTFOUND, "License not found.")
	}
	return s.Store.RevokeLicense(ctx, customerID, key, reason, s.Now().UTC())
}

// List returns a page of the customer's licenses and the total matching.
// EINVALID for a bad skip, limit or status.
func (s *Service) List(ctx context.Context, f quantumlock.LicenseFilter) ([]*quantumlock.License, int64, error) {
	switch {
	case f.Skip < 0:
		return nil, 0, quantumlock.Errorf(quantumlock.EINVALID, "skip must be 0 or more.")
	case f.Limit < 1 || f.Limit > MaxListLimit:
		return nil, 0, quantumlock.Errorf(quantumlock.EINVALID, "limit must be between 1 and %d.", MaxListLimit)
	}
	switch f.Status {
	case "", quantumlock.StatusActive, quantumlock.StatusExpired, quantumlock.StatusRevoked:
	default:
		return nil, 0, quantumlock.Errorf(quantumlock.EINVALID, "status must be active, expired or revoked.")
	}
	if f.EndCustomerID != "" {
		if err := CheckEndCustomerID(f.EndCustomerID); err != nil {
			return nil, 0, err
		}
	}
	if f.Now.IsZero() {
		f.Now = s.Now()
	}
	return s.Store.Licenses(ctx, f)
}

// Stats are a customer's usage figures (SPEC §6).
type Stats struct {
	Plan           quantumlock.Plan
	GeneratedMonth int64
	MaxMonth       *int64 // nil when unlimited
	RemainingMonth *int64 // nil when unlimited
	TotalAllTime   int64
	Active         int64
	PeriodResetsAt time.Time
}

// Stats returns c's usage figures for the current month.
func (s *Service) Stats(ctx context.Context, c *quantumlock.Customer) (Stats, error) {
	now := s.Now()
	period, next := quantumlock.MonthPeriod(now)
	ls, err := s.Store.LicenseStats(ctx, c.ID, period, now)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Plan: c.Plan, GeneratedMonth: ls.IssuedInPeriod, TotalAllTime: ls.Total, Active: ls.Active, PeriodResetsAt: next}
	if limit := c.Limits().LicensesPerMonth; limit > 0 {
		rem := max(limit-ls.IssuedInPeriod, 0)
		st.MaxMonth, st.RemainingMonth = &limit, &rem
	}
	return st, nil
}

// Quota returns c's monthly usage without changing it, for the quota
// headers of a generate that issued nothing: one lookup, not Stats' walk
// of the customer's licenses.
func (s *Service) Quota(ctx context.Context, c *quantumlock.Customer) (Usage, error) {
	period, next := quantumlock.MonthPeriod(s.Now().UTC())
	u := Usage{Limit: c.Limits().LicensesPerMonth, Reset: next}
	if u.Limit <= 0 {
		return u, nil
	}
	used, err := s.Store.LicenseUsage(ctx, c.ID, period)
	if err != nil {
		return Usage{}, err
	}
	u.Used = used
	return u, nil
}
