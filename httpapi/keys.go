package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/keyring"
)

// keyJSON is a managed key as every /quantum/keys route returns it.
// Material (key) appears only for exportable keys, and only in the
// responses of create, rotate and export.
type keyJSON struct {
	KeyID          string           `json:"key_id"`
	Algorithm      string           `json:"algorithm"`
	Purpose        string           `json:"purpose"`
	Version        int              `json:"version"`
	Exportable     bool             `json:"exportable"`
	Label          string           `json:"label"`
	CreatedAt      string           `json:"created_at"`
	PublicKey      *string          `json:"public_key"` // null for symmetric keys
	Key            string           `json:"key,omitempty"`
	QuantumSecured bool             `json:"quantum_secured"`
	Versions       []keyVersionJSON `json:"versions,omitempty"` // absent in a list's entries
}

// keyVersionJSON is one version of a managed key.
type keyVersionJSON struct {
	Version        int     `json:"version"`
	CreatedAt      string  `json:"created_at"`
	PublicKey      *string `json:"public_key"`
	QuantumSecured bool    `json:"quantum_secured"`
}

// nonEmpty returns &s, or nil for "".
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func keyOf(k *keyring.KeyInfo) keyJSON {
	j := keyJSON{
		KeyID:          k.KeyID,
		Algorithm:      k.Algorithm,
		Purpose:        k.Purpose,
		Version:        k.Version,
		Exportable:     k.Exportable,
		Label:          k.Label,
		CreatedAt:      timeString(k.CreatedAt),
		PublicKey:      nonEmpty(k.PublicKey),
		Key:            k.Key,
		QuantumSecured: k.QuantumSecured,
		Versions:       make([]keyVersionJSON, len(k.Versions)),
	}
	for i, v := range k.Versions {
		j.Versions[i] = keyVersionJSON{Version: v.Version, CreatedAt: timeString(v.CreatedAt),
			PublicKey: nonEmpty(v.PublicKey), QuantumSecured: v.QuantumSecured}
	}
	return j
}

// handleKeyCreate serves POST /api/v1/quantum/keys.
func (s *server) handleKeyCreate() authedHandler {
	type request struct {
		Algorithm  *string `json:"algorithm"`
		Exportable bool    `json:"exportable"`
		Label      string  `json:"label"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req request
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		var f fields
		kr := keyring.CreateKeyRequest{
			Algorithm:  f.optional("algorithm", req.Algorithm),
			Exportable: req.Exportable,
			Label:      req.Label,
		}
		if f.err != nil {
			s.writeError(w, r, f.err)
			return
		}
		k, err := s.Keyring.CreateKey(r.Context(), c.ID, kr)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusCreated, keyOf(k))
	}
}

// handleKeyList serves GET /api/v1/quantum/keys[?skip=N&limit=N]: one
// page of the customer's keys, oldest first, without material and without
// their versions (GET /quantum/keys/{key_id} has those).
func (s *server) handleKeyList() authedHandler {
	type response struct {
		Total int64     `json:"total"`
		Skip  int       `json:"skip"`
		Limit int       `json:"limit"`
		Keys  []keyJSON `json:"keys"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		q, err := query(r, "skip", "limit")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		skip, limit, err := page(q, keyring.DefaultListLimit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ks, total, err := s.Keyring.Keys(r.Context(), c.ID, skip, limit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp := response{Total: total, Skip: skip, Limit: limit, Keys: make([]keyJSON, len(ks))}
		for i, k := range ks {
			resp.Keys[i] = keyOf(k)
		}
		encode(w, http.StatusOK, resp)
	}
}

// handleKeyGet serves GET /api/v1/quantum/keys/{key_id}.
func (s *server) handleKeyGet() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		k, err := s.Keyring.Key(r.Context(), c.ID, r.PathValue("key_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, keyOf(k))
	}
}

// handleKeyRotate serves POST /api/v1/quantum/keys/{key_id}/rotate.
// Concurrent rotations each get a version of their own (the keyring takes
// the next one when another rotation won the race).
func (s *server) handleKeyRotate() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		var req struct{}
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		k, err := s.Keyring.RotateKey(r.Context(), c.ID, r.PathValue("key_id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, keyOf(k))
	}
}

// handleKeyDelete serves DELETE /api/v1/quantum/keys/{key_id}: 200 with the
// deleted key's id, so the answer is JSON like every other.
func (s *server) handleKeyDelete() authedHandler {
	type response struct {
		KeyID   string `json:"key_id"`
		Deleted bool   `json:"deleted"`
	}
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		// No fields, as for rotate: a body, if any, is an empty object,
		// so that a request meant for another route is not taken as a
		// delete.
		var req struct{}
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		id := r.PathValue("key_id")
		if err := s.Keyring.DeleteKey(r.Context(), c.ID, id); err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, response{KeyID: id, Deleted: true})
	}
}

// handleKeyExport serves GET /api/v1/quantum/keys/{key_id}/export[?version=N]:
// the key with the material of one version (default the latest) in key.
// A key not created exportable is 403 FORBIDDEN.
func (s *server) handleKeyExport() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		q, err := query(r, "version")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		version := 0
		if v := q["version"]; v != "" {
			// No key has more than MaxKeyVersions versions, so a version
			// past that, even past int's range, is out of range, not "not
			// an integer".
			n, err := strconv.Atoi(v)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				s.writeError(w, r, quantumlock.Errorf(quantumlock.EINVALID, "version must be an integer."))
				return
			}
			if n < 1 || n > keyring.MaxKeyVersions {
				s.writeError(w, r, quantumlock.Errorf(quantumlock.EINVALID, "version must be between 1 and %d.", keyring.MaxKeyVersions))
				return
			}
			version = n
		}
		k, err := s.Keyring.ExportKey(r.Context(), c.ID, r.PathValue("key_id"), version)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, keyOf(k))
	}
}
