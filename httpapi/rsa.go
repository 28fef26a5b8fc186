package httpapi

import (
	"net/http"
	"strconv"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/keyring"
)

// handleRSA serves POST /api/v1/quantum/rsa: a new RSA key pair, kept as a
// managed signing key (SHA3-512-RSA). The private key is in the response
// only when the key is exportable. Generation is CPU-heavy; keyring bounds
// how many run at once and a waiting request gives up when its client does.
func (s *server) handleRSA() authedHandler {
	type request struct {
		Bits       *int   `json:"bits"`
		Exportable bool   `json:"exportable"`
		Label      string `json:"label"`
	}
	type response struct {
		KeyID          string `json:"key_id"`
		Algorithm      string `json:"algorithm"`
		Bits           int    `json:"bits"`
		PublicKey      string `json:"public_key"`
		PrivateKey     string `json:"private_key,omitempty"`
		Exportable     bool   `json:"exportable"`
		CreatedAt      string `json:"created_at"`
		QuantumSecured bool   `json:"quantum_secured"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		bits := keyring.DefaultRSABits
		if req.Bits != nil {
			// keyring reads 0 as "the default"; over the API 0 is a mistake.
			if bits = *req.Bits; bits == 0 {
				s.writeError(w, r, keyring.CheckRSABits(bits))
				return
			}
		}
		k, err := s.Keyring.GenerateRSA(r.Context(), c.ID, keyring.GenerateRSARequest{
			Bits: bits, Exportable: req.Exportable, Label: req.Label,
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusCreated, response{
			KeyID:          k.KeyID,
			Algorithm:      "RSA-" + strconv.Itoa(k.Bits),
			Bits:           k.Bits,
			PublicKey:      k.PublicKey,
			PrivateKey:     k.PrivateKey,
			Exportable:     req.Exportable,
			CreatedAt:      timeString(k.CreatedAt),
			QuantumSecured: k.QuantumSecured,
		})
	}
}
