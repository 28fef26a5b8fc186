package keyring

import (
	"context"
	"strings"

	"github.com/quantumlock/quantumlock"
)

// SignAlgorithms lists the signature algorithms Sign and Verify accept.
var SignAlgorithms = []string{SHA3512RSA, Ed25519, MLDSA65, Ed25519MLDSA65}

// sigAlgFor returns the signature algorithm of a key algorithm.
func sigAlgFor(keyAlg string) string {
	if keyAlgs[keyAlg].rsaBits != 0 {
		return SHA3512RSA
	}
	return keyAlg
}

// keyAlgFor returns the algorithm of the key Sign creates for sigAlg.
func keyAlgFor(sigAlg string) string {
	if sigAlg == SHA3512RSA {
		return RSA3072
	}
	return sigAlg
}

func checkSignAlgorithm(alg string) error {
	for _, a := range SignAlgorithms {
		if a == alg {
			return nil
		}
	}
	return invalid("algorithm: unknown signature algorithm %q; use one of %s.", alg, strings.Join(SignAlgorithms, ", "))
}

// SignRequest asks for a signature of Message.
type SignRequest struct {
	Message   []byte // at most MaxMessageSize bytes
	KeyID     string // empty: create a new, non-exportable key
	Algorithm string // one of SignAlgorithms; empty: the key's, or SHA3-512-RSA for a new key
}

// SignResponse is a signature over QuantumNonce followed by the message.
type SignResponse struct {
	Signature    []byte
	KeyID        string
	KeyVersion   int
	PublicKey    string // PEM, see docs/crypto.md
	Algorithm    string
	QuantumNonce []byte // NonceSize random bytes, signed before the message
}

// Sign signs a fresh NonceSize-byte nonce followed by the message with the
// latest version of the customer's signing key, or with a new key when
// KeyID is empty (RSA-3072 for SHA3-512-RSA). Errors: EINVALID (algorithm,
// message size, an encryption key, an algorithm the key does not do),
// ENOTFOUND, EUNAVAILABLE (randomness), EMASTERKEY (ErrUnseal).
func (s *Service) Sign(ctx context.Context, customerID string, req SignRequest) (*SignResponse, error) {
	if err := checkCustomer(customerID); err != nil {
		return nil, err
	}
	if len(req.Message) > MaxMessageSize {
		return nil, invalid("message: longer than %d bytes.", MaxMessageSize)
	}
	if req.Algorithm != "" {
		if err := checkSignAlgorithm(req.Algorithm); err != nil {
			return nil, err
		}
	}
	var (
		k        *quantumlock.Key
		material []byte
		err      error
	)
	if req.KeyID == "" {
		if req.Algorithm == "" {
			req.Algorithm = DefaultSignAlgorithm
		}
		k, material, _, err = s.createKey(ctx, customerID, CreateKeyRequest{Algorithm: keyAlgFor(req.Algorithm)})
		if err != nil {
			return nil, err
		}
	} else {
		if k, err = s.key(ctx, customerID, req.KeyID); err != nil {
			return nil, err
		}
		if k.Purpose != quantumlock.PurposeSigning {
			return nil, invalid("key_id: %s is an %s key, not a signing key.", k.Algorithm, k.Purpose)
		}
		alg := sigAlgFor(k.Algorithm)
		if req.Algorithm != "" && req.Algorithm != alg {
			return nil, invalid("algorithm: key %s signs with %s, not %s.", k.ID, alg, req.Algorithm)
		}
		req.Algorithm = alg
		if material, _, err = s.openVersion(k, k.Latest()); err != nil {
			return nil, err
		}
	}
	defer clear(material)
	sk, err := newSigningKey(k.Algorithm, material)
	if err != nil {
		return nil, err
	}
	nonce, _, err := s.draw(unclaimed(ctx), NonceSize)
	if err != nil {
		return nil, err
	}
	sig, err := sk.sign(signedData(nonce, req.Message))
	if err != nil {
		return nil, err
	}
	return &SignResponse{
		Signature:    sig,
		KeyID:        k.ID,
		KeyVersion:   k.Latest().Version,
		PublicKey:    sk.public.pem(),
		Algorithm:    req.Algorithm,
		QuantumNonce: nonce,
	}, nil
}

// signedData is what every signature covers: the nonce, then the message.
func signedData(nonce, message []byte) []byte {
	b := make([]byte, 0, len(nonce)+len(message))
	return append(append(b, nonce...), message...)
}

// VerifyRequest asks whether Signature is valid for QuantumNonce followed
// by Message, under the customer's key KeyID (any version) or under
// PublicKey. Exactly one of KeyID and PublicKey must be set.
type VerifyRequest struct {
	Message      []byte
	Signature    []byte
	QuantumNonce []byte // NonceSize bytes
	KeyID        string
	PublicKey    string // PEM SPKI, or base64 of the raw key; see docs/crypto.md
	Algorithm    string // empty: the key's
	ConsumeNonce bool   // accept each nonce once
}

// VerifyResponse is the result of Verify.
type VerifyResponse struct {
	Valid      bool
	KeyID      string // as requested; empty for a PublicKey check
	KeyVersion int    // the version that verified, for a valid KeyID check
	Algorithm  string
}

// Verify checks a signature made by Sign or by any standard signer of the
// same algorithm. By KeyID it tries the key's versions newest first, so
// signatures stay valid after rotation. A bad signature is Valid false, not
// an error. With ConsumeNonce a valid signature's nonce is recorded for the
// customer and a nonce already recorded makes it Valid false: of concurrent
// calls exactly one is valid. Errors: EINVALID (sizes, quantum_nonce,
// public_key, algorithm, key purpose, neither or both of key_id and
// public_key), ENOTFOUND; and, once a search by KeyID goes past the
// latest version (see olderVersion), ERATELIMIT when no search slot comes
// free in time, or ctx's error when ctx ends.
func (s *Service) Verify(ctx context.Context, customerID string, req VerifyRequest) (*VerifyResponse, error) {
	if err := checkCustomer(customerID); err != nil {
		return nil, err
	}
	switch {
	case len(req.Message) > MaxMessageSize:
		return nil, invalid("message: longer than %d bytes.", MaxMessageSize)
	case len(req.Signature) > MaxSignatureSize:
		return nil, invalid("signature: longer than %d bytes.", MaxSignatureSize)
	case len(req.QuantumNonce) != NonceSize:
		return nil, invalid("quantum_nonce: must be %d bytes, got %d.", NonceSize, len(req.QuantumNonce))
	case req.KeyID == "" && req.PublicKey == "":
		return nil, invalid("key_id or public_key: one is required.")
	case req.KeyID != "" && req.PublicKey != "":
		return nil, invalid("key_id, public_key: give one, not both.")
	}
	if req.Algorithm != "" {
		if err := checkSignAlgorithm(req.Algorithm); err != nil {
			return nil, err
		}
	}
	data := signedData(req.QuantumNonce, req.Message)
	resp := &VerifyResponse{KeyID: req.KeyID}
	if req.KeyID != "" {
		k, err := s.key(ctx, customerID, req.KeyID)
		if err != nil {
			return nil, err
		}
		if k.Purpose != quantumlock.PurposeSigning {
			return nil, invalid("key_id: %s is an %s key, not a signing key.", k.Algorithm, k.Purpose)
		}
		resp.Algorithm = sigAlgFor(k.Algorithm)
		if req.Algorithm != "" && req.Algorithm != resp.Algorithm {
			return nil, invalid("algorithm: key %s verifies %s, not %s.", k.ID, resp.Algorithm, req.Algorithm)
		}
		var release func()
		defer func() {
			if release != nil {
				release()
			}
		}()
		for i := len(k.Versions) - 1; i >= 0 && !resp.Valid; i-- {
			v := k.Versions[i]
			if err := s.olderVersion(ctx, customerID, i, len(k.Versions), &release); err != nil {
				return nil, err
			}
			// The stored public key is checked against the sealed
			// material: one written into the store verifies nothing.
			if _, err := s.authentic(k, v); err != nil {
				return nil, err
			}
			p, err := storedPublicKey(k.Algorithm, v.PublicKey)
			if err != nil {
				return nil, err
			}
			if p.verify(data, req.Signature) {
				resp.Valid, resp.KeyVersion = true, v.Version
			}
		}
		// The slot bounds the search's CPU; consuming the nonce below
		// waits on the store's writer, and other searches need not.
		if release != nil {
			release()
			release = nil
		}
	} else {
		p, err := parsePublicKey(req.PublicKey)
		if err != nil {
			return nil, err
		}
		resp.Algorithm = p.sigAlg()
		if req.Algorithm != "" && req.Algorithm != resp.Algorithm {
			return nil, invalid("algorithm: public_key is a %s key, not %s.", resp.Algorithm, req.Algorithm)
		}
		resp.Valid = p.verify(data, req.Signature)
	}
	if resp.Valid && req.ConsumeNonce {
		fresh, err := s.nonces.ConsumeNonce(ctx, customerID, req.QuantumNonce, s.now().Add(NonceRetention))
		if err != nil {
			return nil, err
		}
		if !fresh {
			resp.Valid, resp.KeyVersion = false, 0
		}
	}
	return resp, nil
}
