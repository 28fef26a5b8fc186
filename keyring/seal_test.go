package keyring

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/masterkey"
)

func TestSeal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	s, mk := f.svc, f.mk
	sealOnly := func(t *testing.T, mk *masterkey.Key) *Service { return f.service(t, f.db, mk) }
	sc := scope{kindKey, custA, "key_0123", 3, keyAttrs{Ed25519, quantumlock.PurposeSigning, false}, []byte("its public key")}
	material := []byte("thirty-two bytes of key material")

	for _, quantum := range []bool{false, true} {
		sealed, err := s.seal(ctx, sc, material, quantum)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, material) {
			t.Fatal("sealed data contains the material")
		}
		// Format 5: a 24-byte salt.
		if sealed[0] != sealFormat || len(sealed) != sealHeader+24+len(material)+TagSize {
			t.Fatalf("sealed as format %d in %d bytes", sealed[0], len(sealed))
		}
		got, q, err := s.open(sc, sealed)
		if err != nil || !bytes.Equal(got, material) || q != quantum {
			t.Fatalf("open = %q, %v, %v; want the material, %v", got, q, err, quantum)
		}
		// A fresh Service with the same master key (a restart) opens it.
		if got, _, err := sealOnly(t, mk).open(sc, sealed); err != nil || !bytes.Equal(got, material) {
			t.Fatalf("after restart: %q, %v", got, err)
		}
	}

	sealed, err := s.seal(ctx, sc, material, false)
	if err != nil {
		t.Fatal(err)
	}
	fail := func(t *testing.T, s *Service, sc scope, sealed []byte) {
		t.Helper()
		got, _, err := s.open(sc, sealed)
		if got != nil || !errors.Is(err, ErrUnseal) || quantumlock.ErrorCode(err) != quantumlock.EMASTERKEY {
			t.Fatalf("open = %q, %v; want nil, ErrUnseal", got, err)
		}
	}
	t.Run("ErrWrongMasterKey", func(t *testing.T) {
		t.Parallel()
		fail(t, sealOnly(t, masterkey.Generate()), sc, sealed)
	})
	t.Run("ErrOtherOwner", func(t *testing.T) {
		t.Parallel()
		for _, other := range []scope{
			{kindExchange, sc.customerID, sc.id, sc.version, sc.attrs, sc.public},
			{sc.kind, custB, sc.id, sc.version, sc.attrs, sc.public},
			{sc.kind, sc.customerID, "key_0124", sc.version, sc.attrs, sc.public},
			{sc.kind, sc.customerID, sc.id, 2, sc.attrs, sc.public},
			// The key's attributes and public key, as someone writing
			// to the store might change them.
			{sc.kind, sc.customerID, sc.id, sc.version, keyAttrs{MLDSA65, sc.attrs.purpose, false}, sc.public},
			{sc.kind, sc.customerID, sc.id, sc.version, keyAttrs{sc.attrs.algorithm, quantumlock.PurposeEncryption, false}, sc.public},
			{sc.kind, sc.customerID, sc.id, sc.version, keyAttrs{sc.attrs.algorithm, sc.attrs.purpose, true}, sc.public},
			{sc.kind, sc.customerID, sc.id, sc.version, sc.attrs, []byte("another public key")},
			{sc.kind, sc.customerID, sc.id, sc.version, sc.attrs, nil},
		} {
			fail(t, s, other, sealed)
		}
	})
	t.Run("ErrFlippedBit", func(t *testing.T) {
		t.Parallel()
		for i := range sealed {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(sealed)
				bad[i] ^= bit
				fail(t, s, sc, bad)
			}
		}
	})
	t.Run("Format1", func(t *testing.T) {
		t.Parallel()
		// Material sealed before format 2 bound no attributes: it opens
		// under its owner whatever they are, and not under another owner.
		// Its associated data as format 1 wrote it (docs/crypto.md), by
		// hand, not by ad(), so that a change to how ad() builds it for
		// format 1 shows here.
		header := []byte{sealFormat1, 0}
		ad1 := []byte("quantumlock keyring seal v1\x00" + sc.kind + "\x00" + sc.customerID + "\x00" + sc.id + "\x00")
		ad1 = append(ad1, 0, 0, 0, byte(sc.version))
		ad1 = append(ad1, header...)
		nonce := bytes.Repeat([]byte{7}, IVSize)
		old := append(bytes.Clone(header), nonce...)
		old = s.kek.Seal(old, nonce, material, ad1)
		for _, attrs := range []keyAttrs{sc.attrs, {}, {ChaCha20Poly1305, quantumlock.PurposeEncryption, true}} {
			if got, _, err := s.open(scope{sc.kind, sc.customerID, sc.id, sc.version, attrs, nil}, old); err != nil || !bytes.Equal(got, material) {
				t.Fatalf("format 1 with attributes %v: %q, %v", attrs, got, err)
			}
		}
		fail(t, s, scope{sc.kind, custB, sc.id, sc.version, sc.attrs, sc.public}, old)
		// Format 5 relabelled as 1, to shed its attributes, does not open.
		down := bytes.Clone(sealed)
		down[0] = sealFormat1
		fail(t, s, sc, down)
	})
	t.Run("Format2", func(t *testing.T) {
		t.Parallel()
		// Material sealed before format 3 bound the attributes but not
		// the public key: it opens whatever public key is stored beside
		// it (Service.authentic checks that one against the material),
		// and not under other attributes.
		header := []byte{sealFormat2, 0}
		ad2 := []byte("quantumlock keyring seal v1\x00" + sc.kind + "\x00" + sc.customerID + "\x00" + sc.id + "\x00")
		ad2 = append(ad2, 0, 0, 0, byte(sc.version))
		ad2 = append(ad2, sc.attrs.algorithm+"\x00"+sc.attrs.purpose+"\x00\x00"...)
		ad2 = append(ad2, header...)
		nonce := bytes.Repeat([]byte{7}, IVSize)
		old := append(bytes.Clone(header), nonce...)
		old = s.kek.Seal(old, nonce, material, ad2)
		for _, public := range [][]byte{sc.public, nil, []byte("another public key")} {
			if got, _, err := s.open(scope{sc.kind, sc.customerID, sc.id, sc.version, sc.attrs, public}, old); err != nil || !bytes.Equal(got, material) {
				t.Fatalf("format 2 with public key %q: %q, %v", public, got, err)
			}
		}
		fail(t, s, scope{sc.kind, sc.customerID, sc.id, sc.version, keyAttrs{sc.attrs.algorithm, sc.attrs.purpose, true}, sc.public}, old)
		// Format 5 relabelled as 2, to shed its public key, does not open,
		// nor as 4, nor format 2 relabelled as 3 (the format byte is
		// bound) or as 4 or 5 (another cipher or key).
		for _, f := range []byte{sealFormat2, sealFormat4} {
			down := bytes.Clone(sealed)
			down[0] = f
			fail(t, s, sc, down)
		}
		for _, f := range []byte{sealFormat3, sealFormat4, sealFormat} {
			up := bytes.Clone(old)
			up[0] = f
			fail(t, s, sc, up)
		}
		fail(t, s, sc, old[:sealHeader+IVSize+TagSize-1])
	})
	t.Run("ErrTruncated", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{0, 1, sealOverhead - 1, len(sealed) - 1} {
			fail(t, s, sc, sealed[:n])
		}
	})
}
