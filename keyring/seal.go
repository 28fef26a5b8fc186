package keyring

import (
	"context"
	"encoding/binary"

	"github.com/quantumlock/quantumlock"
)

// Sealed material layout (docs/crypto.md, "Sealing at rest"):
//
//	format (1 byte, 1) | flags (1 byte) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The associated data binds the header and the owner of the material:
//
//	"quantumlock keyring seal v1" 0x00 kind 0x00 customer 0x00 id 0x00 version (4 bytes, big endian) header
//
// so sealed material copied to another key, version, customer or session,
// or a flipped flag, does not open.
const (
	sealFormat   = 1
	sealHeader   = 2
	sealOverhead = sealHeader + IVSize + TagSize

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

// scope names the owner of a piece of sealed material.
type scope struct {
	kind       string
	customerID string
	id         string
	version    int
}

func (sc scope) ad(header []byte) []byte {
	b := make([]byte, 0, 64+len(sc.customerID)+len(sc.id))
	b = append(b, "quantumlock keyring seal v1\x00"...)
	b = append(b, sc.kind...)
	b = append(b, 0)
	b = append(b, sc.customerID...)
	b = append(b, 0)
	b = append(b, sc.id...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(sc.version))
	return append(b, header...)
}

// seal encrypts material for sc under the key-encryption key, recording
// whether it came from quantum-verified entropy.
func (s *Service) seal(ctx context.Context, sc scope, material []byte, quantum bool) ([]byte, error) {
	nonce, _, err := s.draw(ctx, IVSize)
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
	return s.kek.Seal(out, nonce, material, sc.ad(header)), nil
}

// open reverses seal. It fails with ErrUnseal, never with wrong material.
func (s *Service) open(sc scope, sealed []byte) (material []byte, quantum bool, err error) {
	if len(sealed) < sealOverhead || sealed[0] != sealFormat || sealed[1]&^flagQuantum != 0 {
		return nil, false, ErrUnseal
	}
	header, nonce, ct := sealed[:sealHeader], sealed[sealHeader:sealHeader+IVSize], sealed[sealHeader+IVSize:]
	material, err = s.kek.Open(nil, nonce, ct, sc.ad(header))
	if err != nil {
		return nil, false, ErrUnseal
	}
	return material, header[1]&flagQuantum != 0, nil
}

// sealedQuantum reports whether sealed material is marked as drawn from
// quantum-verified entropy, without opening it. The mark is authenticated
// when the material is opened.
func sealedQuantum(sealed []byte) bool {
	return len(sealed) >= sealHeader && sealed[1]&flagQuantum != 0
}
