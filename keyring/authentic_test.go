package keyring

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// forger is someone who can write to the database but has no master key:
// they put a public key of their own beside a key's sealed material and
// sign with its private half.
type forger struct {
	t    *testing.T
	db   *sql.DB
	priv ed25519.PrivateKey
}

func newForger(t *testing.T, path string) *forger {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &forger{t: t, db: db, priv: priv}
}

func (f *forger) public() []byte { return f.priv.Public().(ed25519.PublicKey) }

func (f *forger) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(query, args...); err != nil {
		f.t.Fatal(err)
	}
}

// sign makes a signature Verify would accept from the forger's key.
func (f *forger) sign(nonce, message []byte) []byte {
	return ed25519.Sign(f.priv, signedData(nonce, message))
}

// wantAltered fails unless err says the stored key was altered.
func wantAltered(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnseal) || quantumlock.ErrorCode(err) != quantumlock.EMASTERKEY {
		t.Fatalf("%s: %v, want ErrUnseal", what, err)
	}
}

// A public key written into the store beside a key's material verifies
// nothing, and get and list refuse the key rather than show it; so does a
// version row made up whole, and a provenance flag flipped in the sealed
// bytes.
func TestStoredPublicKeyEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nonce := bytes.Repeat([]byte{9}, NonceSize)
	msg := []byte("pay the forger")

	t.Run("SwappedPublicKey", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
		evil := newForger(t, f.path)
		evil.exec(`UPDATE key_versions SET public_key = ? WHERE key_id = ?`, evil.public(), key.KeyID)
		res, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: msg, Signature: evil.sign(nonce, msg), QuantumNonce: nonce, KeyID: key.KeyID})
		if res != nil && res.Valid {
			t.Fatal("a signature by a public key written into the store verified")
		}
		wantAltered(t, "verify", err)
		_, err = f.svc.Key(ctx, custA, key.KeyID)
		wantAltered(t, "get", err)
		_, _, err = f.svc.Keys(ctx, custA, 0, 10)
		wantAltered(t, "list", err)
	})
	t.Run("MadeUpVersion", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
		evil := newForger(t, f.path)
		junk := append([]byte{sealFormat, 0}, make([]byte, IVSize+TagSize+ed25519.SeedSize)...)
		evil.exec(`INSERT INTO key_versions (key_id, version, sealed, public_key, created_at) VALUES (?, 2, ?, ?, ?)`,
			key.KeyID, junk, evil.public(), time.Now().UnixNano())
		_, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: msg, Signature: evil.sign(nonce, msg), QuantumNonce: nonce, KeyID: key.KeyID})
		wantAltered(t, "verify", err)
	})
	t.Run("FlippedProvenance", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: AES256GCM}))
		if key.QuantumSecured {
			t.Fatal("an OS-seeded key reported quantum_secured")
		}
		evil := newForger(t, f.path)
		var sealed []byte
		if err := evil.db.QueryRow(`SELECT sealed FROM key_versions WHERE key_id = ?`, key.KeyID).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		sealed[1] |= flagQuantum
		evil.exec(`UPDATE key_versions SET sealed = ? WHERE key_id = ?`, sealed, key.KeyID)
		got, err := f.svc.Key(ctx, custA, key.KeyID)
		if got != nil && got.QuantumSecured {
			t.Fatal("a flipped provenance flag was reported as quantum_secured")
		}
		wantAltered(t, "get", err)
	})
}

// sealFormat2For seals material as versions sealed before format 3 hold it:
// the key's attributes bound, its public key not.
func sealFormat2For(t *testing.T, s *Service, sc scope, material []byte, quantum bool) []byte {
	t.Helper()
	header := []byte{sealFormat2, 0}
	if quantum {
		header[1] |= flagQuantum
	}
	nonce := bytes.Repeat([]byte{5}, IVSize)
	out := append(bytes.Clone(header), nonce...)
	return s.kek.Seal(out, nonce, material, sc.ad(header))
}

// legacyKey stores, for customerID under id, a signature key of alg whose
// one version is sealed in format 2 with the quantum flag given, as a
// version made before format 3 would be. It returns the key as stored and
// its public key as get shows it.
func legacyKey(t *testing.T, f *fixture, customerID, id, alg string, quantum bool) (*quantumlock.Key, string) {
	t.Helper()
	ctx := context.Background()
	fresh := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custC, CreateKeyRequest{Algorithm: alg}))
	k, err := f.db.Key(ctx, custC, fresh.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	material, _, err := f.svc.openVersion(k, k.Latest())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := &quantumlock.Key{ID: id, CustomerID: customerID, Algorithm: alg, Purpose: quantumlock.PurposeSigning,
		CreatedAt: now, Versions: []quantumlock.KeyVersion{{Version: 1, PublicKey: k.Latest().PublicKey, CreatedAt: now}}}
	old.Versions[0].Sealed = sealFormat2For(t, f.svc, versionScope(old, old.Versions[0]), material, quantum)
	if err := f.db.CreateKey(ctx, old, 100); err != nil {
		t.Fatal(err)
	}
	return old, fresh.PublicKey
}

// Versions sealed before format 3 do not bind their public key: it is
// checked against the key derived from the material, once per stored
// form, so they work as before until someone edits them.
func TestStoredPublicKeyEditFormat2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, alg := range []string{Ed25519, MLDSA65, Ed25519MLDSA65, RSA2048} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			quantum := alg == Ed25519 // one flag set, the others not
			old, public := legacyKey(t, f, custA, "key_00000000000000000000f0f0", alg, quantum)

			msg := []byte("signed before the upgrade")
			sig := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{KeyID: old.ID, Message: msg}))
			for range 2 { // the second from what the first remembered
				res := must[*VerifyResponse](t)(f.svc.Verify(ctx, custA, VerifyRequest{Message: msg, Signature: sig.Signature, QuantumNonce: sig.QuantumNonce, KeyID: old.ID}))
				if !res.Valid {
					t.Fatal("a format 2 version's own signature did not verify")
				}
				info := must[*KeyInfo](t)(f.svc.Key(ctx, custA, old.ID))
				if info.PublicKey != public || info.QuantumSecured != quantum {
					t.Fatalf("public key %q, quantum_secured %v; want %q, %v", info.PublicKey, info.QuantumSecured, public, quantum)
				}
			}

			evil := newForger(t, f.path)
			forged := evil.public()
			if alg == MLDSA65 || alg == RSA2048 {
				// Some other key's valid public key of the same kind,
				// so only the check against the material tells them
				// apart.
				other := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custC, CreateKeyRequest{Algorithm: alg}))
				ok, err := f.db.Key(ctx, custC, other.KeyID)
				if err != nil {
					t.Fatal(err)
				}
				forged = ok.Latest().PublicKey
			} else if alg == Ed25519MLDSA65 {
				forged = append(bytes.Clone(forged), old.Latest().PublicKey[ed25519.PublicKeySize:]...)
			}
			evil.exec(`UPDATE key_versions SET public_key = ? WHERE key_id = ?`, forged, old.ID)
			_, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: msg, Signature: sig.Signature, QuantumNonce: sig.QuantumNonce, KeyID: old.ID})
			wantAltered(t, "verify after the edit", err)
			_, err = f.svc.Key(ctx, custA, old.ID)
			wantAltered(t, "get after the edit", err)
		})
	}
}

// What authentic remembers of an old version is that version's, under
// its key: the same stored bytes moved to another key, or given another
// key's attributes, are checked afresh and refused.
func TestCheckedVersionsStayWithTheirKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a, _ := legacyKey(t, f, custA, "key_00000000000000000000a0a0", Ed25519, false)
	b, _ := legacyKey(t, f, custA, "key_00000000000000000000b0b0", Ed25519, false)
	must[*KeyInfo](t)(f.svc.Key(ctx, custA, a.ID)) // remembered
	must[*KeyInfo](t)(f.svc.Key(ctx, custA, b.ID))
	evil := newForger(t, f.path)
	evil.exec(`UPDATE key_versions SET sealed = ?, public_key = ? WHERE key_id = ?`, a.Latest().Sealed, a.Latest().PublicKey, b.ID)
	_, err := f.svc.Key(ctx, custA, b.ID)
	wantAltered(t, "another key's version, moved", err)
	// The same bytes under a relabelled algorithm.
	evil.exec(`UPDATE keys SET algorithm = ? WHERE id = ?`, MLDSA65, a.ID)
	_, err = f.svc.Key(ctx, custA, a.ID)
	wantAltered(t, "a relabelled key", err)
}

// A version whose sealed bytes are missing or cut short is refused as
// altered, by get, list and verify alike, and nothing panics.
func TestShortSealedRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, sealed := range map[string]any{"NULL": nil, "Empty": []byte{}, "OneByte": []byte{sealFormat}, "HeaderOnly": []byte{sealFormat2, 0}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
			newForger(t, f.path).exec(`UPDATE key_versions SET sealed = ? WHERE key_id = ?`, sealed, key.KeyID)
			_, err := f.svc.Key(ctx, custA, key.KeyID)
			wantAltered(t, "get", err)
			_, _, err = f.svc.Keys(ctx, custA, 0, 10)
			wantAltered(t, "list", err)
			nonce := make([]byte, NonceSize)
			_, err = f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte("m"), Signature: make([]byte, 64), QuantumNonce: nonce, KeyID: key.KeyID})
			wantAltered(t, "verify", err)
		})
	}
}

// What is remembered of an old version is dropped as soon as any field it
// was checked with changes in the store, whichever field that is.
func TestCheckedVersionEditedAfterward(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, edit := range map[string]string{
		"Purpose":    `UPDATE keys SET purpose = 'encryption' WHERE id = ?`,
		"Exportable": `UPDATE keys SET exportable = 1 WHERE id = ?`,
		"Version":    `UPDATE key_versions SET version = 2 WHERE key_id = ?`,
		"Sealed":     `UPDATE key_versions SET sealed = substr(sealed, 1, length(sealed) - 1) || x'00' WHERE key_id = ?`,
		"Customer":   `UPDATE keys SET customer_id = '` + custB + `' WHERE id = ?`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			old, _ := legacyKey(t, f, custA, "key_00000000000000000000c0c0", Ed25519, false)
			must[*KeyInfo](t)(f.svc.Key(ctx, custA, old.ID)) // remembered
			newForger(t, f.path).exec(edit, old.ID)
			owner := custA
			if name == "Customer" {
				owner = custB
			}
			_, err := f.svc.Key(ctx, owner, old.ID)
			wantAltered(t, "get after the edit", err)
		})
	}
}

// The memory of checked versions stays bounded however many pass through,
// and keeps what is in use.
func TestCheckedVersionsBounded(t *testing.T) {
	t.Parallel()
	var c checkedVersions
	digest := func(i int) (d [32]byte) {
		binary.BigEndian.PutUint64(d[:], uint64(i))
		return d
	}
	c.put(digest(-1), true) // in use: read now and then
	for i := range 5 * maxChecked {
		c.put(digest(i), false)
		if i%(maxChecked/4) == 0 {
			if q, ok := c.get(digest(-1)); !ok || !q {
				t.Fatalf("after %d others the version in use was forgotten", i)
			}
		}
		if n := len(c.cur) + len(c.prev); n > maxChecked {
			t.Fatalf("%d remembered, bound %d", n, maxChecked)
		}
	}
	if _, ok := c.get(digest(5*maxChecked - 1)); !ok {
		t.Fatal("the newest was forgotten")
	}
	if _, ok := c.get(digest(0)); ok {
		t.Fatal("the oldest is still remembered past the bound")
	}
}
