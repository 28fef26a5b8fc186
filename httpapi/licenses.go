package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/license"
)

// licenseIssued is the 201 body of generate, exactly the reference's fields.
type licenseIssued struct {
	LicenseKey       string   `json:"license_key"`
	QuantumSignature string   `json:"quantum_signature"`
	EndCustomerID    string   `json:"end_customer_id"`
	Features         []string `json:"features"`
	ValidUntil       string   `json:"valid_until"`
	QuantumVerified  bool     `json:"quantum_verified"`
	QCOSFidelity     *float64 `json:"qcos_fidelity"`
	SecurityLevel    string   `json:"security_level"`
	GeneratedAt      string   `json:"generated_at"`
}

// licenseRecord is the full record of GET /licenses/{key} and revoke: the
// reference's fields and the state a careful user needs.
type licenseRecord struct {
	licenseIssued
	CreatedAt        string          `json:"created_at"`
	Metadata         json.RawMessage `json:"metadata"`
	Status           string          `json:"status"`
	EntropySource    string          `json:"entropy_source"`
	RevokedAt        *string         `json:"revoked_at"`
	RevocationReason *string         `json:"revocation_reason"`
	// SignatureValid is false for a record whose signature does not match
	// its fields (a row edited in the database, which validate answers
	// SIGNATURE_INVALID): its quantum_verified is then false, whatever
	// the row says (SPEC §1.1).
	SignatureValid bool `json:"signature_valid"`
}

// licenseSummary is one entry of the listing: the reference's fields and
// the status.
type licenseSummary struct {
	LicenseKey    string   `json:"license_key"`
	EndCustomerID string   `json:"end_customer_id"`
	Features      []string `json:"features"`
	ValidUntil    string   `json:"valid_until"`
	CreatedAt     string   `json:"created_at"`
	Status        string   `json:"status"`
}

// features is a license's features as answered: always a list. A stored
// license has none (nil) only if its row was edited, which validate
// reports as SIGNATURE_INVALID.
func features(l *quantumlock.License) []string {
	if l.Features == nil {
		return []string{}
	}
	return l.Features
}

func issuedOf(l *quantumlock.License) licenseIssued {
	return licenseIssued{
		LicenseKey:       l.Key,
		QuantumSignature: l.Signature,
		EndCustomerID:    l.EndCustomerID,
		Features:         features(l),
		ValidUntil:       timeString(l.ValidUntil),
		QuantumVerified:  l.QuantumVerified,
		QCOSFidelity:     l.Fidelity,
		SecurityLevel:    l.SecurityLevel,
		GeneratedAt:      timeString(l.GeneratedAt),
	}
}

// recordOf is the full record of l, found under key (SPEC §5).
func (s *server) recordOf(l *quantumlock.License, key string) licenseRecord {
	rec := licenseRecord{
		licenseIssued:  issuedOf(l),
		CreatedAt:      timeString(l.GeneratedAt),
		Metadata:       l.Metadata,
		Status:         l.Status(s.now()),
		EntropySource:  l.EntropySource,
		RevokedAt:      timePtr(l.RevokedAt),
		SignatureValid: s.Licenses.Intact(l, key),
	}
	if !rec.SignatureValid {
		// Nothing but the row says the entropy was quantum.
		rec.QuantumVerified, rec.QCOSFidelity, rec.SecurityLevel = false, nil, quantumlock.SecurityCryptographic
	}
	if rec.Metadata == nil {
		rec.Metadata = json.RawMessage("{}")
	}
	// A license revoked without a reason has none: null, as before its
	// revocation, rather than "".
	if l.RevokedAt != nil && l.RevocationReason != "" {
		rec.RevocationReason = &l.RevocationReason
	}
	return rec
}

// setQuotaHeaders sets the X-Quota-* headers of SPEC §4, absent when the
// customer's quota is unlimited.
func setQuotaHeaders(w http.ResponseWriter, u license.Usage) {
	if u.Limit <= 0 {
		return
	}
	h := w.Header()
	h.Set("X-Quota-Limit", strconv.FormatInt(u.Limit, 10))
	h.Set("X-Quota-Remaining", strconv.FormatInt(u.Remaining(), 10))
	h.Set("X-Quota-Reset", strconv.FormatInt(u.Reset.Unix(), 10))
}

// setCurrentQuota sets the quota headers of a generate that issued
// nothing (SPEC §4: every license generation response carries them), from
// one read of the month's count; if that read fails the answer goes
// without them rather than fail too.
func (s *server) setCurrentQuota(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
	if u, err := s.Licenses.Quota(r.Context(), c); err == nil {
		setQuotaHeaders(w, u)
	}
}

// handleLicenseGenerate serves POST /api/v1/licenses/generate.
func (s *server) handleLicenseGenerate() authedHandler {
	type request struct {
		EndCustomerID string          `json:"end_customer_id"`
		Features      featureList     `json:"features"`
		ValidDays     *int            `json:"valid_days"`
		Metadata      json.RawMessage `json:"metadata"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		err := decode(r, &req)
		if err == nil {
			err = req.Features.err
		}
		if err != nil {
			s.setCurrentQuota(w, r, c)
			s.writeError(w, r, err)
			return
		}
		l, usage, err := s.Licenses.Generate(r.Context(), c, license.Params{
			EndCustomerID: req.EndCustomerID,
			Features:      req.Features.items,
			ValidDays:     req.ValidDays,
			Metadata:      req.Metadata,
		})
		if code := quantumlock.ErrorCode(err); code == "" || code == quantumlock.ERATELIMIT {
			setQuotaHeaders(w, usage)
			if code != "" && usage.Limit > 0 {
				// The month's quota is spent: SPEC §4's Retry-After on
				// every 429 says when the next month begins.
				w.Header().Set("Retry-After", strconv.FormatInt(retryAfter(s.now(), usage.Reset), 10))
			}
		} else {
			s.setCurrentQuota(w, r, c)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if s.Metrics != nil {
			s.Metrics.licensesIssued.WithLabelValues(l.SecurityLevel).Inc()
		}
		encode(w, http.StatusCreated, issuedOf(l))
	}
}

// handleLicenseValidate serves POST /api/v1/licenses/validate. Any
// well-formed request gets 200; the outcome is in valid and code.
func (s *server) handleLicenseValidate() authedHandler {
	type request struct {
		LicenseKey    string `json:"license_key"`
		EndCustomerID string `json:"end_customer_id"`
	}
	type response struct {
		Valid           bool     `json:"valid"`
		Code            string   `json:"code"`
		EndCustomerID   string   `json:"end_customer_id"`
		QuantumVerified bool     `json:"quantum_verified"`
		Features        []string `json:"features"`
		ExpiresAt       *string  `json:"expires_at"`
		Message         *string  `json:"message"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.LicenseKey == "" || utf8.RuneCountInString(req.LicenseKey) > 64 {
			s.writeError(w, r, quantumlock.Errorf(quantumlock.EINVALID, "license_key is required and must be at most 64 characters."))
			return
		}
		if err := license.CheckEndCustomerID(req.EndCustomerID); err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := s.Licenses.Validate(r.Context(), c.ID, req.LicenseKey, req.EndCustomerID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp := response{Valid: res.Valid(), Code: res.Code, EndCustomerID: req.EndCustomerID}
		if res.License != nil && res.Code != license.CodeSignatureInvalid {
			resp.QuantumVerified = res.License.QuantumVerified
		}
		if res.Valid() {
			resp.Features = res.License.Features
			exp := timeString(res.License.ValidUntil)
			resp.ExpiresAt = &exp
		} else {
			resp.Message = &res.Message
		}
		if s.Metrics != nil {
			s.Metrics.validations.WithLabelValues(res.Code).Inc()
		}
		encode(w, http.StatusOK, resp)
	}
}

// handleLicenseList serves GET /api/v1/licenses.
func (s *server) handleLicenseList() authedHandler {
	type response struct {
		Total    int64            `json:"total"`
		Skip     int              `json:"skip"`
		Limit    int              `json:"limit"`
		Licenses []licenseSummary `json:"licenses"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		q, err := query(r, "skip", "limit", "end_customer_id", "status")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		f := quantumlock.LicenseFilter{
			CustomerID:    c.ID,
			EndCustomerID: q["end_customer_id"],
			Status:        q["status"],
		}
		if f.Skip, f.Limit, err = page(q, license.DefaultListLimit); err != nil {
			s.writeError(w, r, err)
			return
		}
		// One reading of the clock for the filter and for each status, so
		// that a license expiring between two readings cannot be listed
		// as active with the status "expired".
		now := s.now()
		f.Now = now
		ls, total, err := s.Licenses.List(r.Context(), f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp := response{Total: total, Skip: f.Skip, Limit: f.Limit, Licenses: make([]licenseSummary, len(ls))}
		for i, l := range ls {
			resp.Licenses[i] = licenseSummary{
				LicenseKey:    l.Key,
				EndCustomerID: l.EndCustomerID,
				Features:      features(l),
				ValidUntil:    timeString(l.ValidUntil),
				CreatedAt:     timeString(l.GeneratedAt),
				Status:        l.Status(now),
			}
		}
		encode(w, http.StatusOK, resp)
	}
}

// handleLicenseGet serves GET /api/v1/licenses/{license_key}.
func (s *server) handleLicenseGet() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		key := r.PathValue("license_key")
		l, err := s.Licenses.Get(r.Context(), c.ID, key)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, s.recordOf(l, key))
	}
}

// handleLicenseRevoke serves POST /api/v1/licenses/{license_key}/revoke.
func (s *server) handleLicenseRevoke() authedHandler {
	type request struct {
		Reason string `json:"reason"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		key := r.PathValue("license_key")
		l, err := s.Licenses.Revoke(r.Context(), c.ID, key, req.Reason)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, s.recordOf(l, key))
	}
}
