package keyring

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/masterkey"
	"golang.org/x/crypto/chacha20poly1305"
)

// fixedRandomness answers every draw with bytes 0x42, so a seal's nonce is
// known.
type fixedRandomness struct{}

func (fixedRandomness) Draw(_ context.Context, n int, _ string) (*quantumlock.Entropy, error) {
	return &quantumlock.Entropy{Bytes: bytes.Repeat([]byte{0x42}, n), Source: quantumlock.SourceCryptographic}, nil
}

// Every format a version or session may be stored in opens, each built
// here by hand from the layout docs/crypto.md gives (HKDF labels, cipher,
// nonce size, associated data), not by seal: a change to how any of them
// is read, or a format number given a new meaning, fails here. A fresh
// seal is format 5, byte for byte as documented.
func TestSealFormatsAsDocumented(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i)
	}
	mk, err := masterkey.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	kek := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, raw, []byte("quantumlock master key v1"), label+"\x00", 32)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	block, err := aes.NewCipher(kek("keyring/seal/v1"))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	xchacha, err := chacha20poly1305.NewX(kek("keyring/seal/v3"))
	if err != nil {
		t.Fatal(err)
	}

	sc := scope{kindKey, custA, "key_0123", 3, keyAttrs{Ed25519, quantumlock.PurposeSigning, false}, []byte("its public key")}
	material := []byte("thirty-two bytes of key material")
	ad := func(format byte) []byte {
		b := []byte("quantumlock keyring seal v1\x00" + sc.kind + "\x00" + sc.customerID + "\x00" + sc.id + "\x00")
		b = binary.BigEndian.AppendUint32(b, uint32(sc.version))
		if format >= 2 {
			b = append(b, sc.attrs.algorithm+"\x00"+sc.attrs.purpose+"\x00\x00"...)
		}
		if format >= 3 {
			h := sha256.Sum256(sc.public)
			b = append(b, h[:]...)
		}
		return append(b, format, flagQuantum)
	}
	build := func(format byte, aead cipher.AEAD) []byte {
		nonce := bytes.Repeat([]byte{0x42}, aead.NonceSize())
		out := append([]byte{format, flagQuantum}, nonce...)
		return aead.Seal(out, nonce, material, ad(format))
	}
	// Format 5: key and nonce from HKDF with the salt as the context.
	salt := bytes.Repeat([]byte{0x42}, 24)
	okm, err := hkdf.Key(sha256.New, raw, []byte("quantumlock master key v1"), "keyring/seal/v5\x00"+string(salt), 44)
	if err != nil {
		t.Fatal(err)
	}
	block5, err := aes.NewCipher(okm[:32])
	if err != nil {
		t.Fatal(err)
	}
	gcm5, err := cipher.NewGCM(block5)
	if err != nil {
		t.Fatal(err)
	}
	format5 := gcm5.Seal(append([]byte{5, flagQuantum}, salt...), okm[32:], material, ad(5))

	f := newFixture(t)
	s := f.service(t, f.db, mk, withRandomness(fixedRandomness{}))
	for format, sealed := range map[byte][]byte{1: build(1, gcm), 2: build(2, gcm), 3: build(3, gcm), 4: build(4, xchacha), 5: format5} {
		got, quantum, err := s.open(sc, sealed)
		if err != nil || !bytes.Equal(got, material) || !quantum {
			t.Errorf("format %d as documented: %q, %v, %v", format, got, quantum, err)
		}
	}
	sealed, err := s.seal(ctx, sc, material, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed, format5) {
		t.Errorf("seal wrote\n%x\nwant, as documented,\n%x", sealed, format5)
	}
}

// Two seals of the same material under the same scope differ: each draws
// its own nonce.
func TestSealNoncesDiffer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sc := scope{kindKey, custA, "key_0123", 1, keyAttrs{AES256GCM, quantumlock.PurposeEncryption, false}, nil}
	material := []byte("thirty-two bytes of key material")
	a, err := f.svc.seal(context.Background(), sc, material, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.seal(context.Background(), sc, material, false)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[sealHeader:sealHeader+sealSalt], b[sealHeader:sealHeader+sealSalt]) {
		t.Fatal("two seals used the same salt")
	}
}

// BenchmarkOpen opens material of a seed's and of an RSA key's size sealed
// in format 2 (AES-256-GCM under the one key-encryption key), in format 4
// (XChaCha20-Poly1305) and in format 5 (AES-256-GCM under a key derived
// for the seal).
func BenchmarkOpen(b *testing.B) {
	f := newFixture(b)
	s := f.svc
	sc := scope{kindKey, custA, "key_0123", 1, keyAttrs{Ed25519, quantumlock.PurposeSigning, false}, nil}
	for _, size := range []int{32, 1250} {
		material := bytes.Repeat([]byte{7}, size)
		nonce := bytes.Repeat([]byte{1}, IVSize)
		header := []byte{sealFormat2, 0}
		v2 := s.kek.Seal(append(bytes.Clone(header), nonce...), nonce, material, sc.ad(header))
		xnonce := bytes.Repeat([]byte{1}, s.xchacha.NonceSize())
		header4 := []byte{sealFormat4, 0}
		v4 := s.xchacha.Seal(append(bytes.Clone(header4), xnonce...), xnonce, material, sc.ad(header4))
		v5, err := s.seal(context.Background(), sc, material, false)
		if err != nil {
			b.Fatal(err)
		}
		for name, sealed := range map[string][]byte{"format2": v2, "format4": v4, "format5": v5} {
			b.Run(fmt.Sprintf("%s/%dB", name, size), func(b *testing.B) {
				for b.Loop() {
					if _, _, err := s.open(sc, sealed); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
