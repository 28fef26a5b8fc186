package httpapi

import (
	"net/http"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/keyring"
)

// handleSign serves POST /api/v1/quantum/crypto/sign. The signature covers
// quantum_nonce followed by the message (docs/crypto.md). A null key_id
// makes a new non-exportable key (RSA-3072 for SHA3-512-RSA); the answer is
// 200 either way, as in the reference.
func (s *server) handleSign() authedHandler {
	type request struct {
		Message   *string `json:"message"`
		KeyID     *string `json:"key_id"`
		Algorithm *string `json:"algorithm"`
	}
	type response struct {
		Signature    string `json:"signature"`
		KeyID        string `json:"key_id"`
		KeyVersion   int    `json:"key_version"`
		PublicKey    string `json:"public_key"`
		Algorithm    string `json:"algorithm"`
		QuantumNonce string `json:"quantum_nonce"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		var f fields
		kr := keyring.SignRequest{
			Message:   f.base64("message", req.Message),
			KeyID:     f.optional("key_id", req.KeyID),
			Algorithm: f.optional("algorithm", req.Algorithm),
		}
		if f.err != nil {
			s.writeError(w, r, f.err)
			return
		}
		sig, err := s.Keyring.Sign(r.Context(), c.ID, kr)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, response{
			Signature:    toBase64(sig.Signature),
			KeyID:        sig.KeyID,
			KeyVersion:   sig.KeyVersion,
			PublicKey:    sig.PublicKey,
			Algorithm:    sig.Algorithm,
			QuantumNonce: toBase64(sig.QuantumNonce),
		})
	}
}

// handleVerify serves POST /api/v1/quantum/crypto/verify. A signature that
// does not verify is 200 with valid false, not an error; so is a replayed
// nonce under consume_nonce.
func (s *server) handleVerify() authedHandler {
	type request struct {
		Message      *string `json:"message"`
		Signature    *string `json:"signature"`
		QuantumNonce *string `json:"quantum_nonce"`
		KeyID        *string `json:"key_id"`
		PublicKey    *string `json:"public_key"`
		Algorithm    *string `json:"algorithm"`
		ConsumeNonce bool    `json:"consume_nonce"`
	}
	type response struct {
		Valid      bool    `json:"valid"`
		KeyID      *string `json:"key_id"`      // null for a check by public_key
		KeyVersion *int    `json:"key_version"` // the version that verified; null otherwise
		Algorithm  string  `json:"algorithm"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		var f fields
		kr := keyring.VerifyRequest{
			Message:      f.base64("message", req.Message),
			Signature:    f.base64("signature", req.Signature),
			QuantumNonce: f.base64("quantum_nonce", req.QuantumNonce),
			KeyID:        f.optional("key_id", req.KeyID),
			PublicKey:    f.optional("public_key", req.PublicKey),
			Algorithm:    f.optional("algorithm", req.Algorithm),
			ConsumeNonce: req.ConsumeNonce,
		}
		if f.err != nil {
			s.writeError(w, r, f.err)
			return
		}
		v, err := s.Keyring.Verify(r.Context(), c.ID, kr)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp := response{Valid: v.Valid, KeyID: nonEmpty(v.KeyID), Algorithm: v.Algorithm}
		if v.KeyVersion != 0 {
			resp.KeyVersion = &v.KeyVersion
		}
		encode(w, http.StatusOK, resp)
	}
}
