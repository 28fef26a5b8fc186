package keyring

import (
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/quantumlock/quantumlock"
)

// Sealed material layout (docs/crypto.md, "Sealing at rest"):
//
//	format 4:      4 | flags (1 byte) | nonce (24 bytes) | XChaCha20-Poly1305 ciphertext and tag
//	formats 1-3:   1, 2 or 3 | flags (1 byte) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// Format 4 seals under XChaCha20-Poly1305 with a key of its own, because
// all material shares one key-encryption key: with AES-GCM's random 96-bit
// nonces that key would be good for about 2^32 seals (NIST SP 800-38D
// §8.3), which a busy service's key exchanges could reach in a year; a
// random 192-bit nonce has no such bound in practice.
//
// The associated data binds the header, the owner of the material and, from
// format 2, what the owner may do with it and, from format 3, the public
// key stored beside it:
//
//	"quantumlock keyring seal v1" 0x00 kind 0x00 customer 0x00 id 0x00 version (4 bytes, big endian)
//	[formats 2-4: algorithm 0x00 purpose 0x00 exportable (1 byte)]
//	[formats 3-4: SHA-256 of the stored public key (of no bytes when there is none)] header
//
// so sealed material copied to another key, version, customer or session,
// a flipped flag, or a key's algorithm, purpose, exportable flag (format 2)
// or public key (format 3) edited in the store, does not open. Formats 1
// to 3 are what versions sealed before format 4 hold; they still open, and
// nothing seals them any more. The public keys of formats 1 and 2 are
// checked against the opened material instead (Service.authentic).
const (
	sealFormat1  = 1
	sealFormat2  = 2
	sealFormat3  = 3
	sealFormat   = 4
	sealHeader   = 2
	sealNonce    = chacha20poly1305.NonceSizeX
	sealOverhead = sealHeader + sealNonce + TagSize

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

// seal encrypts material for sc under the key-encryption key, recording
// whether it came from quantum-verified entropy.
func (s *Service) seal(ctx context.Context, sc scope, material []byte, quantum bool) ([]byte, error) {
	nonce, _, err := s.draw(ctx, sealNonce)
	if err != nil {
		return nil, err
	}
	header := []byte{sealFormat, 0}
	if quantum {
		header[1] |= flagQuantum
	}
	out := make([]byte, 0, sealOverhead+len(material))
	out = append(out, header...)
	out = append(out, nonce...)
	return s.sealKey.Seal(out, nonce, material, sc.ad(header)), nil
}

// open reverses seal, and opens material sealed in the earlier formats. It
// fails with ErrUnseal, never with wrong material.
func (s *Service) open(sc scope, sealed []byte) (material []byte, quantum bool, err error) {
	if len(sealed) < sealHeader || sealed[0] < sealFormat1 || sealed[0] > sealFormat || sealed[1]&^flagQuantum != 0 {
		return nil, false, ErrUnseal
	}
	var aead cipher.AEAD = s.sealKey
	if sealed[0] < sealFormat {
		aead = s.kek
	}
	n := aead.NonceSize()
	if len(sealed) < sealHeader+n+aead.Overhead() {
		return nil, false, ErrUnseal
	}
	header, nonce, ct := sealed[:sealHeader], sealed[sealHeader:sealHeader+n], sealed[sealHeader+n:]
	material, err = aead.Open(nil, nonce, ct, sc.ad(header))
	if err != nil {
		return nil, false, ErrUnseal
	}
	return material, header[1]&flagQuantum != 0, nil
}
