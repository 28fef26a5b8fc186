package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/quantumlock/quantumlock"
	"golang.org/x/crypto/chacha20poly1305"
)

// EncryptRequest asks to encrypt Plaintext.
type EncryptRequest struct {
	Plaintext []byte // at most MaxPlaintextSize bytes
	KeyID     string // empty: create a new, non-exportable key
	Algorithm string // AES-256-GCM or ChaCha20-Poly1305; empty: the key's, or AES-256-GCM for a new key
	AAD       []byte
}

// EncryptResponse is an AEAD ciphertext with its nonce and tag apart, as
// the API reference has them: the standard AEAD output is Ciphertext
// followed by Tag.
type EncryptResponse struct {
	Ciphertext     []byte
	KeyID          string
	KeyVersion     int
	IV             []byte // IVSize bytes, random
	Tag            []byte // TagSize bytes
	Algorithm      string
	QuantumSecured bool // the key's material came from verified quantum entropy
}

// DecryptRequest carries an EncryptResponse's fields back.
type DecryptRequest struct {
	Ciphertext []byte
	KeyID      string
	KeyVersion int // 0: try every version, newest first
	IV         []byte
	Tag        []byte
	Algorithm  string // empty: the key's
	AAD        []byte
}

// DecryptResponse is a decrypted plaintext.
type DecryptResponse struct {
	Plaintext  []byte
	KeyID      string
	KeyVersion int
}

func checkCipher(alg string) error {
	if alg != AES256GCM && alg != ChaCha20Poly1305 {
		return invalid("algorithm: must be %s or %s, got %q.", AES256GCM, ChaCha20Poly1305, alg)
	}
	return nil
}

// newAEAD returns the cipher for a symmetric key: AES-256 in GCM (SP
// 800-38D) or ChaCha20-Poly1305 (RFC 8439), both with 12-byte nonces and
// 16-byte tags.
func newAEAD(alg string, key []byte) (cipher.AEAD, error) {
	switch alg {
	case AES256GCM:
		if len(key) != KeySize {
			return nil, fmt.Errorf("keyring: AES-256 key of %d bytes", len(key))
		}
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	case ChaCha20Poly1305:
		return chacha20poly1305.New(key)
	}
	return nil, fmt.Errorf("keyring: %q is not a cipher", alg)
}

// Encrypt encrypts Plaintext with AAD under the latest version of the
// customer's encryption key, or under a new key when KeyID is empty. The
// IV is drawn from the Randomness; with 96-bit random IVs a key should
// encrypt fewer than 2^32 messages (SP 800-38D §8.3), so rotate busy keys.
// Errors: EINVALID (algorithm, sizes, a signing key, an algorithm the key
// does not do), ENOTFOUND, EUNAVAILABLE (randomness), EMASTERKEY (ErrUnseal).
func (s *Service) Encrypt(ctx context.Context, customerID string, req EncryptRequest) (*EncryptResponse, error) {
	if err := checkCustomer(customerID); err != nil {
		return nil, err
	}
	if len(req.Plaintext) > MaxPlaintextSize {
		return nil, invalid("plaintext: longer than %d bytes.", MaxPlaintextSize)
	}
	if len(req.AAD) > MaxAADSize {
		return nil, invalid("aad: longer than %d bytes.", MaxAADSize)
	}
	if req.Algorithm != "" {
		if err := checkCipher(req.Algorithm); err != nil {
			return nil, err
		}
	}
	var (
		k        *quantumlock.Key
		material []byte
		quantum  bool
		err      error
	)
	if req.KeyID == "" {
		if req.Algorithm == "" {
			req.Algorithm = DefaultKeyAlgorithm
		}
		if k, material, quantum, err = s.createKey(ctx, customerID, CreateKeyRequest{Algorithm: req.Algorithm}); err != nil {
			return nil, err
		}
	} else {
		if k, err = s.key(ctx, customerID, req.KeyID); err != nil {
			return nil, err
		}
		if err := checkEncryptionKey(k, req.Algorithm); err != nil {
			return nil, err
		}
		if material, quantum, err = s.openVersion(k, k.Latest()); err != nil {
			return nil, err
		}
	}
	defer clear(material)
	aead, err := newAEAD(k.Algorithm, material)
	if err != nil {
		return nil, err
	}
	iv, _, err := s.draw(unclaimed(ctx), IVSize)
	if err != nil {
		return nil, err
	}
	out := aead.Seal(nil, iv, req.Plaintext, req.AAD)
	n := len(out) - TagSize
	return &EncryptResponse{
		Ciphertext:     out[:n:n],
		KeyID:          k.ID,
		KeyVersion:     k.Latest().Version,
		IV:             iv,
		Tag:            out[n:],
		Algorithm:      k.Algorithm,
		QuantumSecured: quantum,
	}, nil
}

func checkEncryptionKey(k *quantumlock.Key, alg string) error {
	if k.Purpose != quantumlock.PurposeEncryption {
		return invalid("key_id: %s is a %s key, not an encryption key.", k.Algorithm, k.Purpose)
	}
	if alg != "" && alg != k.Algorithm {
		return invalid("algorithm: key %s is a %s key, not %s.", k.ID, k.Algorithm, alg)
	}
	return nil
}

// Decrypt reverses Encrypt. Every failure to authenticate — wrong key
// (one of the other cipher, or a signing key, included), version, IV, tag,
// AAD or a changed bit — is the same EDECRYPT error, so a caller learns
// nothing about which part was wrong (SPEC §8). Errors: EINVALID (key_id
// missing, sizes, an algorithm that is no cipher), ENOTFOUND, EDECRYPT,
// EMASTERKEY (ErrUnseal); and, without KeyVersion, once the search goes
// past the latest version (see olderVersion), ERATELIMIT when no search
// slot comes free in time, or ctx's error when ctx ends.
func (s *Service) Decrypt(ctx context.Context, customerID string, req DecryptRequest) (*DecryptResponse, error) {
	if err := checkCustomer(customerID); err != nil {
		return nil, err
	}
	if len(req.Ciphertext) > MaxPlaintextSize {
		return nil, invalid("ciphertext: longer than %d bytes.", MaxPlaintextSize)
	}
	if len(req.AAD) > MaxAADSize {
		return nil, invalid("aad: longer than %d bytes.", MaxAADSize)
	}
	if req.Algorithm != "" {
		if err := checkCipher(req.Algorithm); err != nil {
			return nil, err
		}
	}
	k, err := s.key(ctx, customerID, req.KeyID)
	if err != nil {
		return nil, err
	}
	if err := checkEncryptionKey(k, req.Algorithm); err != nil {
		return nil, errDecrypt()
	}
	if len(req.IV) != IVSize || len(req.Tag) != TagSize {
		return nil, errDecrypt()
	}
	sealed := make([]byte, 0, len(req.Ciphertext)+TagSize)
	sealed = append(append(sealed, req.Ciphertext...), req.Tag...)
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	for i := len(k.Versions) - 1; i >= 0; i-- {
		v := k.Versions[i]
		if req.KeyVersion != 0 && v.Version != req.KeyVersion {
			continue
		}
		if req.KeyVersion == 0 {
			if err := s.olderVersion(ctx, customerID, i, len(k.Versions), &release); err != nil {
				return nil, err
			}
		}
		plaintext, err := s.decryptWith(k, v, req.IV, sealed, req.AAD)
		if err != nil {
			return nil, err
		}
		if plaintext != nil {
			return &DecryptResponse{Plaintext: plaintext, KeyID: k.ID, KeyVersion: v.Version}, nil
		}
	}
	return nil, errDecrypt()
}

// decryptWith opens sealed with one key version. A nil plaintext with a
// nil error means the ciphertext does not authenticate under it.
func (s *Service) decryptWith(k *quantumlock.Key, v quantumlock.KeyVersion, iv, sealed, aad []byte) ([]byte, error) {
	material, _, err := s.openVersion(k, v)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	aead, err := newAEAD(k.Algorithm, material)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, iv, sealed, aad)
	if err != nil {
		return nil, nil
	}
	if plaintext == nil {
		plaintext = []byte{}
	}
	return plaintext, nil
}
