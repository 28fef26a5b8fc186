package keyring

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"time"
)

// RSABits lists the modulus sizes GenerateRSA accepts.
var RSABits = []int{2048, 3072, 4096}

// GenerateRSARequest asks for a new RSA key pair.
type GenerateRSARequest struct {
	Bits       int // 2048, 3072 or 4096; 0 means DefaultRSABits
	Exportable bool
	Label      string
}

// RSAKey is a new RSA key pair, also kept as a managed signing key
// (algorithm RSA-<bits>, signature algorithm SHA3-512-RSA).
type RSAKey struct {
	KeyID      string
	Bits       int
	PublicKey  string // PEM SubjectPublicKeyInfo
	PrivateKey string // PEM PKCS #8, only when exportable; secret
	CreatedAt  time.Time
	// QuantumSecured is always false: since Go 1.26 crypto/rsa draws its
	// primes from the operating system's CSPRNG and ignores any other
	// randomness, so no quantum entropy goes into an RSA key.
	QuantumSecured bool
}

// CheckRSABits returns EINVALID naming bits unless it is one of RSABits.
// GenerateRSA reads 0 as DefaultRSABits first; a caller for whom 0 is a
// mistake checks it here.
func CheckRSABits(bits int) error {
	if !slices.Contains(RSABits, bits) {
		return invalid("bits: must be 2048, 3072 or 4096, got %d.", bits)
	}
	return nil
}

// GenerateRSA makes a new RSA key pair and stores it as a managed key. At
// most Config.RSAConcurrency generations run at once; a call waiting for
// its turn returns ctx's error when ctx ends. Errors: EINVALID (bits,
// label), or ctx.Err().
func (s *Service) GenerateRSA(ctx context.Context, customerID string, req GenerateRSARequest) (*RSAKey, error) {
	if req.Bits == 0 {
		req.Bits = DefaultRSABits
	}
	if err := CheckRSABits(req.Bits); err != nil {
		return nil, err
	}
	info, err := s.CreateKey(ctx, customerID, CreateKeyRequest{
		Algorithm:  fmt.Sprintf("RSA-%d", req.Bits),
		Exportable: req.Exportable,
		Label:      req.Label,
	})
	if err != nil {
		return nil, err
	}
	return &RSAKey{
		KeyID:      info.KeyID,
		Bits:       req.Bits,
		PublicKey:  info.PublicKey,
		PrivateKey: info.Key,
		CreatedAt:  info.CreatedAt,
	}, nil
}

// generateRSA makes an RSA key under the concurrency bound and returns it
// as PKCS #8 DER (secret) and PKIX DER.
func (s *Service) generateRSA(ctx context.Context, customerID string, bits int) (private, public []byte, err error) {
	release, err := s.rsaGate.acquire(ctx, customerID)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// Since Go 1.26 the reader is ignored (GODEBUG cryptocustomrand) and
	// the OS CSPRNG is used; passing rand.Reader says so plainly. Keys made
	// here are therefore never marked quantum-secured.
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: RSA-%d: %w", bits, err)
	}
	if private, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
		return nil, nil, err
	}
	if public, err = x509.MarshalPKIXPublicKey(&k.PublicKey); err != nil {
		return nil, nil, err
	}
	return private, public, nil
}
