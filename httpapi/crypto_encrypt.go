package httpapi

import (
	"net/http"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/keyring"
)

// encryptResponse is the body of encrypt; every binary field is standard
// base64.
type encryptResponse struct {
	Ciphertext     string `json:"ciphertext"`
	KeyID          string `json:"key_id"`
	KeyVersion     int    `json:"key_version"`
	IV             string `json:"iv"`
	Tag            string `json:"tag"`
	Algorithm      string `json:"algorithm"`
	QuantumSecured bool   `json:"quantum_secured"`
}

// handleEncrypt serves POST /api/v1/quantum/crypto/encrypt. A null key_id
// makes a new non-exportable key; the answer is 200 either way, as in the
// reference.
func (s *server) handleEncrypt() authedHandler {
	type request struct {
		Plaintext *string `json:"plaintext"`
		KeyID     *string `json:"key_id"`
		Algorithm *string `json:"algorithm"`
		AAD       *string `json:"aad"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		var f fields
		kr := keyring.EncryptRequest{
			Plaintext: f.base64("plaintext", req.Plaintext),
			KeyID:     f.optional("key_id", req.KeyID),
			Algorithm: f.optional("algorithm", req.Algorithm),
			AAD:       f.optionalBase64("aad", req.AAD),
		}
		if f.err != nil {
			s.writeError(w, r, f.err)
			return
		}
		e, err := s.Keyring.Encrypt(r.Context(), c.ID, kr)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, encryptResponse{
			Ciphertext:     toBase64(e.Ciphertext),
			KeyID:          e.KeyID,
			KeyVersion:     e.KeyVersion,
			IV:             toBase64(e.IV),
			Tag:            toBase64(e.Tag),
			Algorithm:      e.Algorithm,
			QuantumSecured: e.QuantumSecured,
		})
	}
}

// handleDecrypt serves POST /api/v1/quantum/crypto/decrypt. It takes an
// encrypt response back as it came (quantum_secured is accepted and
// ignored) plus the aad, if any. Every authentication failure is the same
// 400 DECRYPTION_FAILED.
func (s *server) handleDecrypt() authedHandler {
	type request struct {
		Ciphertext     *string `json:"ciphertext"`
		KeyID          *string `json:"key_id"`
		KeyVersion     *int    `json:"key_version"`
		IV             *string `json:"iv"`
		Tag            *string `json:"tag"`
		Algorithm      *string `json:"algorithm"`
		AAD            *string `json:"aad"`
		QuantumSecured *bool   `json:"quantum_secured"`
	}
	type response struct {
		Plaintext  string `json:"plaintext"`
		KeyID      string `json:"key_id"`
		KeyVersion int    `json:"key_version"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		var f fields
		kr := keyring.DecryptRequest{
			Ciphertext: f.base64("ciphertext", req.Ciphertext),
			KeyID:      f.required("key_id", req.KeyID),
			IV:         f.base64("iv", req.IV),
			Tag:        f.base64("tag", req.Tag),
			Algorithm:  f.optional("algorithm", req.Algorithm),
			AAD:        f.optionalBase64("aad", req.AAD),
		}
		if req.KeyVersion != nil {
			// keyring reads 0 as "try every version"; over the API that is null.
			if kr.KeyVersion = *req.KeyVersion; kr.KeyVersion < 1 {
				f.fail("key_version must be at least 1, or null to try every version.")
			}
		}
		if f.err != nil {
			s.writeError(w, r, f.err)
			return
		}
		d, err := s.Keyring.Decrypt(r.Context(), c.ID, kr)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, response{Plaintext: toBase64(d.Plaintext), KeyID: d.KeyID, KeyVersion: d.KeyVersion})
	}
}
