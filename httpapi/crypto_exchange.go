package httpapi

import (
	"net/http"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/keyring"
)

// handleKeyExchange serves POST /api/v1/quantum/crypto/key-exchange, every
// step of the reference's four-step flow (keyring.ExchangeRequest). Every
// field of the answer is present: shared_secret is null when initiating,
// expires_at is null except when initiating. The shared secret is secret;
// like every body it is never logged.
func (s *server) handleKeyExchange() authedHandler {
	type request struct {
		PeerPublicKey *string `json:"peer_public_key"`
		SessionID     *string `json:"session_id"`
		Algorithm     *string `json:"algorithm"`
		KeyBits       *int    `json:"key_bits"`
	}
	type response struct {
		SessionID    string  `json:"session_id"`
		PublicKey    string  `json:"public_key"`
		SharedSecret *string `json:"shared_secret"`
		Algorithm    string  `json:"algorithm"`
		KeyBits      int     `json:"key_bits"`
		ExpiresAt    *string `json:"expires_at"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		var f fields
		kr := keyring.ExchangeRequest{
			PeerPublicKey: f.optionalBase64("peer_public_key", req.PeerPublicKey),
			SessionID:     f.optional("session_id", req.SessionID),
			Algorithm:     f.optional("algorithm", req.Algorithm),
		}
		if req.KeyBits != nil {
			// keyring reads 0 as "the default"; over the API that is null.
			if kr.KeyBits = *req.KeyBits; kr.KeyBits == 0 {
				f.fail("key_bits must be 128, 192 or 256, got 0.")
			}
		}
		if req.PeerPublicKey != nil && len(kr.PeerPublicKey) == 0 {
			f.fail("peer_public_key must not be empty; send null or leave it out to initiate.")
		}
		if f.err != nil {
			s.writeError(w, r, f.err)
			return
		}
		x, err := s.Keyring.KeyExchange(r.Context(), c.ID, kr)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp := response{SessionID: x.SessionID, PublicKey: toBase64(x.PublicKey), Algorithm: x.Algorithm, KeyBits: x.KeyBits}
		if x.SharedSecret != nil {
			secret := toBase64(x.SharedSecret)
			resp.SharedSecret = &secret
		}
		if !x.ExpiresAt.IsZero() {
			resp.ExpiresAt = nonEmpty(timeString(x.ExpiresAt))
		}
		encode(w, http.StatusOK, resp)
	}
}
