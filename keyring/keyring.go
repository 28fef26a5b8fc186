// Package keyring is QuantumLock's managed-key service: per-customer,
// versioned keys sealed at rest, and every cryptographic operation of the
// API (SPEC §8) as Go methods on a [Service].
//
// Algorithms and the specifications they follow:
//
//   - AES-256-GCM (NIST SP 800-38D) and ChaCha20-Poly1305 (RFC 8439) for
//     encryption, with 96-bit random nonces.
//   - Ed25519 (RFC 8032, pure Ed25519), ML-DSA-65 (FIPS 204, the pure
//     "external" interface with an empty context, hedged signing) and the
//     hybrid Ed25519+ML-DSA-65 for signatures.
//   - RSASSA-PSS (RFC 8017 §8.1) with SHA3-512 (FIPS 202) for SHA3-512-RSA,
//     salt length equal to the hash length (64 bytes), MGF1 with SHA3-512.
//   - X25519 (RFC 7748), ML-KEM-768 (FIPS 203) and the hybrid
//     X25519MLKEM768 (shares and secret laid out as in
//     draft-ietf-tls-ecdhe-mlkem) for key exchange, with HKDF-SHA-256
//     (RFC 5869) deriving the final secret.
//   - Sealing at rest: AES-256-GCM under a key and nonce derived for each
//     seal from the master key and a random salt with HKDF-SHA-256.
//
// Every signature covers the 32-byte quantum nonce followed by the message,
// so anyone can check it with a standard verifier; docs/crypto.md gives the
// exact encodings and openssl commands.
//
// What must stay secret: the master key (it opens every sealed key), the
// opened key material and exchange private values that live in memory only
// for the duration of one call, plaintexts, and the shared secrets the key
// exchange returns. The service necessarily sees plaintexts and shared
// secrets; none of them is logged or stored.
//
// Every method takes the calling customer's id. Another customer's key or
// session is reported exactly as a missing one (ENOTFOUND).
package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/masterkey"
	"golang.org/x/crypto/chacha20poly1305"
)

// Key algorithms, as the API spells them.
const (
	AES256GCM        = "AES-256-GCM"
	ChaCha20Poly1305 = "ChaCha20-Poly1305"
	Ed25519          = "Ed25519"
	MLDSA65          = "ML-DSA-65"
	Ed25519MLDSA65   = "Ed25519+ML-DSA-65"
	RSA2048          = "RSA-2048"
	RSA3072          = "RSA-3072"
	RSA4096          = "RSA-4096"
)

// SHA3512RSA is the signature algorithm RSASSA-PSS with SHA3-512, the
// default of Sign. The other signature algorithms share their key
// algorithm's name (Ed25519, ML-DSA-65, Ed25519+ML-DSA-65).
const SHA3512RSA = "SHA3-512-RSA"

// Defaults used when a request leaves the algorithm empty.
const (
	DefaultKeyAlgorithm      = AES256GCM
	DefaultSignAlgorithm     = SHA3512RSA
	DefaultExchangeAlgorithm = X25519MLKEM768
	DefaultRSABits           = 3072
)

// Input limits. Requests beyond them fail with EINVALID naming the field.
// Base64 makes data a third larger, so these keep a request inside the
// API's 1 MiB body limit.
const (
	MaxPlaintextSize = 512 << 10 // plaintext or ciphertext bytes per call
	MaxAADSize       = 64 << 10  // additional authenticated data bytes
	MaxMessageSize   = 512 << 10 // bytes of a message to sign or verify
	MaxSignatureSize = 16 << 10  // bytes of a signature to verify
	MaxPublicKeySize = 16 << 10  // bytes of a public key given to Verify
	MaxLabelLength   = 256       // characters of a key label (as openapi.yaml's maxLength counts)

	// MaxKeyVersions is how many versions a key may have. Every use of a
	// key reads all its versions, a decrypt without key_version tries
	// each, and a verify by key_id checks the signature against each, so
	// versions without end would let one customer make every such request
	// cost the server as much as it liked. A hundred is a hundred days of
	// daily rotation; past it, create a new key.
	MaxKeyVersions = 100

	// DefaultMaxKeys is how many keys one customer may have at once unless
	// Config says otherwise. Encrypting or signing without a key_id makes
	// a new key, so without a bound a customer's keys, and the disk under
	// them, would grow with every such call; ten thousand keys of a hundred
	// versions is a few GB at most. Past it, CreateKey (and so encrypt,
	// sign and RSA generation without a key) is EFORBIDDEN until a key is
	// deleted.
	DefaultMaxKeys = 10000

	// DefaultListLimit and MaxListLimit bound a page of Keys.
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Sizes of the values the service hands out.
const (
	KeySize   = 32 // symmetric key bytes (AES-256, ChaCha20-Poly1305)
	IVSize    = 12 // AEAD nonce bytes, both ciphers
	TagSize   = 16 // AEAD tag bytes, both ciphers
	NonceSize = 32 // quantum_nonce bytes, prepended to every signed message
)

// NonceRetention is how long Verify with consume_nonce remembers a nonce.
// A signature carries no time, so a replay after this long verifies again.
const NonceRetention = 366 * 24 * time.Hour

// SessionTTL is how long a key-exchange session waits for its final step.
const SessionTTL = 10 * time.Minute

// Config holds a Service's dependencies. One value (such as *sqlite.DB) may
// serve as all three stores.
type Config struct {
	Keys       quantumlock.KeyStore
	Nonces     quantumlock.NonceStore
	Exchanges  quantumlock.ExchangeStore
	Randomness quantumlock.Randomness // key material, ids, IVs, nonces
	MasterKey  *masterkey.Key         // seals key material at rest
	Clock      quantumlock.Clock      // nil means quantumlock.SystemClock

	// RSAConcurrency bounds how many RSA key generations run at once,
	// and half as many (at least one) for one customer; zero or less
	// means runtime.GOMAXPROCS(0). It bounds the same way the verifies
	// and decrypts that search a key's older versions (olderVersion).
	RSAConcurrency int

	// MaxKeys bounds how many keys one customer may have; zero or less
	// means DefaultMaxKeys.
	MaxKeys int
}

// Service performs the managed-key and cryptography operations. It is safe
// for concurrent use.
type Service struct {
	keys      quantumlock.KeyStore
	nonces    quantumlock.NonceStore
	exchanges quantumlock.ExchangeStore
	rand      quantumlock.Randomness
	now       quantumlock.Clock
	sealOKM   func(context string, n int) []byte // derives each seal's key and nonce (format 5, sealKeys); secret
	xchacha   cipher.AEAD                        // opens material sealed in format 4; secret
	kek       cipher.AEAD                        // opens material sealed in formats 1 to 3; secret
	rsaGate   *gate                              // bounds concurrent RSA generations, overall and per customer
	trialGate *gate                              // bounds concurrent verifies and decrypts trying a key's older versions (olderVersion)
	maxKeys   int                                // per customer
	checked   checkedVersions
}

// kekPurpose is the HKDF label of the AES-256-GCM key-encryption key of
// seal formats 1 to 3, xchachaPurpose that of format 4's
// XChaCha20-Poly1305 key (format 5's is sealKeysPurpose).
const (
	kekPurpose     = "keyring/seal/v1"
	xchachaPurpose = "keyring/seal/v3"
)

// New returns a Service using the dependencies in c. It fails when a
// required dependency is missing.
func New(c Config) (*Service, error) {
	switch {
	case c.Keys == nil:
		return nil, errors.New("keyring: no key store")
	case c.Nonces == nil:
		return nil, errors.New("keyring: no nonce store")
	case c.Exchanges == nil:
		return nil, errors.New("keyring: no exchange store")
	case c.Randomness == nil:
		return nil, errors.New("keyring: no randomness")
	case c.MasterKey == nil:
		return nil, errors.New("keyring: no master key")
	}
	block, err := aes.NewCipher(c.MasterKey.Derive(kekPurpose, "", 32))
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	kek, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	xchacha, err := chacha20poly1305.NewX(c.MasterKey.Derive(xchachaPurpose, "", chacha20poly1305.KeySize))
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	n := c.RSAConcurrency
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	clock := c.Clock
	if clock == nil {
		clock = quantumlock.SystemClock
	}
	maxKeys := c.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Service{
		keys:      c.Keys,
		nonces:    c.Nonces,
		exchanges: c.Exchanges,
		rand:      c.Randomness,
		now:       clock,
		kek:       kek,
		xchacha:   xchacha,
		sealOKM:   c.MasterKey.Expander(sealKeysPurpose),
		rsaGate:   newGate(n, "RSA key generation", "RSA key generations"),
		trialGate: newGate(n, "The search through a key's older versions", "searches through a key's older versions"),
		maxKeys:   maxKeys,
	}, nil
}

// unclaimed marks ctx for draws whose provenance no answer claims (ids,
// IVs, signature nonces, seal salts, key-exchange private values): they
// take from the qcos_api pool only its spare half (entropy.SpareOnly), and
// fall back to cryptographic past it. The reserve is kept for what does
// claim it, license keys and key material (quantum_verified,
// quantum_secured), so that one customer's encryptions, signatures and
// exchanges, at whatever rate, cannot leave other customers' keys without
// it.
func unclaimed(ctx context.Context) context.Context { return entropy.SpareOnly(ctx) }

// draw returns n random bytes from the best healthy source and reports
// whether a verified quantum source contributed.
func (s *Service) draw(ctx context.Context, n int) ([]byte, bool, error) {
	e, err := s.rand.Draw(ctx, n, "")
	if err != nil {
		return nil, false, err
	}
	if len(e.Bytes) != n {
		return nil, false, fmt.Errorf("keyring: randomness returned %d bytes, want %d", len(e.Bytes), n)
	}
	return e.Bytes, e.QuantumVerified, nil
}

// checkCustomer rejects a call without a customer; the HTTP layer always
// passes the authenticated one.
func checkCustomer(customerID string) error {
	if customerID == "" {
		return quantumlock.Errorf(quantumlock.EUNAUTHORIZED, "No customer.")
	}
	return nil
}

// invalid returns an EINVALID error.
func invalid(format string, args ...any) error {
	return quantumlock.Errorf(quantumlock.EINVALID, format, args...)
}

// errDecrypt is the one answer to every failed decryption, whatever failed.
func errDecrypt() error {
	return quantumlock.Errorf(quantumlock.EDECRYPT, "Decryption failed: wrong key, iv, tag, aad or corrupted ciphertext.")
}

// errKeyNotFound is the answer for a missing key and for another customer's.
func errKeyNotFound() error {
	return quantumlock.Errorf(quantumlock.ENOTFOUND, "Key not found.")
}
