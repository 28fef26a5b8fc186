package keyring

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/quantumlock/quantumlock"
)

// Sealed material layout (docs/crypto.md, "Sealing at rest"):
//
//	format 5:      5 | flags (1 byte) | salt (24 bytes) | AES-256-GCM ciphertext and tag
//	format 4:      4 | flags (1 byte) | nonce (24 bytes) | XChaCha20-Poly1305 ciphertext and tag
//	formats 1-3:   1, 2 or 3 | flags (1 byte) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// Format 5 seals with AES-256-GCM, as SPEC §8 has it, under a key and nonce
// derived for that one seal from the master key and a random salt
// (sealKeys): formats 1 to 3 sealed everything under one key with random
// 96-bit nonces, which NIST SP 800-38D §8.3 bounds at about 2^32 seals, a
// number a busy service's key exchanges could reach in a year. Format 4
// lifted the bound with XChaCha20-Poly1305's 192-bit nonces, which SPEC §8
// does not name; a key of its own for every seal lifts it under AES-GCM.
//
// The associated data binds the header, the owner of the material and, from
// format 2, what the owner may do with it and, from format 3, the public
// key stored beside it:
//
//	"quantumlock keyring seal v1" 0x00 kind 0x00 customer 0x00 id 0x00 version (4 bytes, big endian)
//	[formats 2-5: algorithm 0x00 purpose 0x00 exportable (1 byte)]
//	[formats 3-5: SHA-256 of the stored public key (of no bytes when there is none)] header
//
// so sealed material copied to another key, version, customer or session,
// a flipped flag, or a key's algorithm, purpose, exportable flag (format 2)
// or public key (format 3) edited in the store, does not open. Formats 1
// to 4 are what versions sealed before format 5 hold; they still open, and
// nothing seals them any more. The public keys of formats 1 and 2 are
// checked against the opened material instead (Service.authentic).
const (
	sealFormat1  = 1
	sealFormat2  = 2
	sealFormat3  = 3
	sealFormat4  = 4
	sealFormat   = 5
	sealHeader   = 2
	sealSalt     = 24 // format 5's
	sealOverhead = sealHeader + sealSalt + TagSize

	// sealKeysPurpose is the HKDF label format 5 derives each seal's key
	// and nonce under, with the seal's salt as the context.
	sealKeysPurpose = "keyring/seal/v5"

	flagQuantum = 1 << 0 // material drawn from quantum-verified entropy
)

// Kinds of sealed objects.
const (
	kindKey      = "key"
	kindExchange = "exchange"
)

// ErrUnseal is returned, wrapped, when stored material does not open: the
// master key is not the one it was sealed with, or the stored bytes were
// altered. Nothing is returned in its place.
var ErrUnseal = &quantumlock.Error{
	Code:    quantumlock.EMASTERKEY,
	Message: "Stored key material cannot be opened: the master key differs from the one that sealed it, or the data was altered.",
}

// scope names the owner of a piece of sealed material, what it may be used
// for, and the public key stored with it.
type scope struct {
	kind       string
	customerID string
	id         string
	version    int
	attrs      keyAttrs // a key's; zero for an exchange session
	public     []byte   // the stored public key: a signature key version's, an exchange session's share; nil for a cipher key
}

// keyAttrs are the stored attributes of a key that decide what its
// material may be used for; format 2 binds them.
type keyAttrs struct {
	algorithm, purpose string
	exportable         bool
}

// attrsOf returns k's attributes as bound in its sealed material.
func attrsOf(k *quantumlock.Key) keyAttrs {
	return keyAttrs{k.Algorithm, k.Purpose, k.Exportable}
}

func (sc scope) ad(header []byte) []byte {
	b := make([]byte, 0, 96+len(sc.customerID)+len(sc.id))
	b = append(b, "quantumlock keyring seal v1\x00"...)
	b = append(b, sc.kind...)
	b = append(b, 0)
	b = append(b, sc.customerID...)
	b = append(b, 0)
	b = append(b, sc.id...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(sc.version))
	if header[0] >= sealFormat2 {
		b = append(b, sc.attrs.algorithm...)
		b = append(b, 0)
		b = append(b, sc.attrs.purpose...)
		b = append(b, 0)
		exportable := byte(0)
		if sc.attrs.exportable {
			exportable = 1
		}
		b = append(b, exportable)
	}
	if header[0] >= sealFormat3 {
		h := sha256.Sum256(sc.public)
		b = append(b, h[:]...)
	}
	return append(b, header...)
}

// seal encrypts material for sc in format 5, recording whether it came
// from quantum-verified entropy.
func (s *Service) seal(ctx context.Context, sc scope, material []byte, quantum bool) ([]byte, error) {
	salt, _, err := s.draw(unclaimed(ctx), sealSalt)
	if err != nil {
		return nil, err
	}
	aead, nonce, err := s.sealKeys(salt)
	if err != nil {
		return nil, err
	}
	header := []byte{sealFormat, 0}
	if quantum {
		header[1] |= flagQuantum
	}
	out := make([]byte, 0, sealOverhead+len(material))
	out = append(out, header...)
	out = append(out, salt...)
	return aead.Seal(out, nonce, material, sc.ad(header)), nil
}

// sealKeys returns format 5's AES-256-GCM key and nonce for one seal:
// HKDF-SHA-256 of the master key with the label sealKeysPurpose and the
// seal's salt as the context, 32 bytes of key then 12 of nonce. A salt of
// 192 random bits makes every seal's key its own.
func (s *Service) sealKeys(salt []byte) (cipher.AEAD, []byte, error) {
	okm := s.sealOKM(string(salt), 32+IVSize)
	defer clear(okm)
	block, err := aes.NewCipher(okm[:32])
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: %w", err)
	}
	return aead, bytes.Clone(okm[32:]), nil
}

// open reverses seal, and opens material sealed in the earlier formats. It
// fails with ErrUnseal, never with wrong material.
func (s *Service) open(sc scope, sealed []byte) (material []byte, quantum bool, err error) {
	if len(sealed) < sealHeader || sealed[0] < sealFormat1 || sealed[0] > sealFormat || sealed[1]&^flagQuantum != 0 {
		return nil, false, ErrUnseal
	}
	header, rest := sealed[:sealHeader], sealed[sealHeader:]
	var (
		aead      cipher.AEAD
		nonce, ct []byte
	)
	switch header[0] {
	case sealFormat:
		if len(rest) < sealSalt+TagSize {
			return nil, false, ErrUnseal
		}
		if aead, nonce, err = s.sealKeys(rest[:sealSalt]); err != nil {
			return nil, false, ErrUnseal
		}
		ct = rest[sealSalt:]
	default:
		aead = s.kek // formats 1 to 3
		if header[0] == sealFormat4 {
			aead = s.xchacha
		}
		n := aead.NonceSize()
		if len(rest) < n+aead.Overhead() {
			return nil, false, ErrUnseal
		}
		nonce, ct = rest[:n], rest[n:]
	}
	material, err = aead.Open(nil, nonce, ct, sc.ad(header))
	if err != nil {
		return nil, false, ErrUnseal
	}
	return material, header[1]&flagQuantum != 0, nil
}
