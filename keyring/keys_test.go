package keyring

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudflare/circl/pki"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/internal/entropytest"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/sqlite"
)

var keyIDPattern = regexp.MustCompile(`^key_[0-9a-f]{24}$`)

func TestCreateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range []string{AES256GCM, ChaCha20Poly1305, Ed25519, MLDSA65, Ed25519MLDSA65, RSA2048} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			for _, exportable := range []bool{false, true} {
				info, err := f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: alg, Exportable: exportable, Label: "läbel"})
				if err != nil {
					t.Fatal(err)
				}
				if !keyIDPattern.MatchString(info.KeyID) || info.Algorithm != alg || info.Version != 1 || len(info.Versions) != 1 ||
					info.Label != "läbel" || info.Exportable != exportable || !info.CreatedAt.Equal(f.clock.Now()) {
					t.Fatalf("info %+v", info)
				}
				asym := keyAlgs[alg].purpose == quantumlock.PurposeSigning
				if asym != (info.PublicKey != "") || (info.Purpose == quantumlock.PurposeSigning) != asym {
					t.Fatalf("purpose %s, public key %q", info.Purpose, info.PublicKey)
				}
				if exportable != (info.Key != "") {
					t.Fatalf("exportable %v but key %q", exportable, info.Key)
				}
				if exportable && asym {
					checkExportedPair(t, alg, info.Key, info.PublicKey)
				}
				got := must[*KeyInfo](t)(f.svc.Key(ctx, custA, info.KeyID))
				if got.Key != "" || got.PublicKey != info.PublicKey || got.KeyID != info.KeyID {
					t.Fatalf("Key = %+v", got)
				}
				exp, err := f.svc.ExportKey(ctx, custA, info.KeyID, 0)
				if exportable {
					if err != nil || exp.Key != info.Key {
						t.Fatalf("ExportKey = %+v, %v", exp, err)
					}
				} else {
					wantCode(t, err, quantumlock.EFORBIDDEN)
				}
			}
		})
	}
}

// checkExportedPair checks the exported PEM private key parses with the
// standard parsers and matches the public key.
func checkExportedPair(t *testing.T, alg, private, public string) {
	t.Helper()
	var der [][]byte
	for rest := []byte(private); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "PRIVATE KEY" {
			t.Fatalf("PEM type %q", b.Type)
		}
		der = append(der, b.Bytes)
	}
	var pubs []string
	for _, d := range der {
		var pub any
		if k, err := x509.ParsePKCS8PrivateKey(d); err == nil {
			pub = k.(crypto.Signer).Public()
		} else {
			k, err := pki.UnmarshalPKIXPrivateKey(d)
			if err != nil {
				t.Fatalf("%s: private key parses with neither x509 nor circl: %v", alg, err)
			}
			pub = k.Public().(*mldsa65.PublicKey)
		}
		var pder []byte
		var err error
		if ml, ok := pub.(*mldsa65.PublicKey); ok {
			pder, err = pki.MarshalPKIXPublicKey(ml)
		} else {
			pder, err = x509.MarshalPKIXPublicKey(pub)
		}
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder})))
	}
	if got := strings.Join(pubs, ""); got != public {
		t.Fatalf("%s: exported private key's public key\n%s\nwant\n%s", alg, got, public)
	}
}

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a1 := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{}))
	a2 := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
	b1 := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custB, CreateKeyRequest{Algorithm: ChaCha20Poly1305}))
	if a1.Algorithm != AES256GCM {
		t.Fatalf("default algorithm %s", a1.Algorithm)
	}

	list, total, err := f.svc.Keys(ctx, custA, 0, DefaultListLimit)
	if err != nil || total != 2 || len(list) != 2 || list[0].KeyID != a1.KeyID || list[1].KeyID != a2.KeyID {
		t.Fatalf("Keys(A) = %v of %d, %v", list, total, err)
	}
	for _, k := range list {
		if k.Key != "" {
			t.Fatal("Keys returned material")
		}
	}

	rot := must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, a2.KeyID))
	if rot.Version != 2 || len(rot.Versions) != 2 || rot.Versions[0].PublicKey != a2.PublicKey || rot.PublicKey == a2.PublicKey || rot.PublicKey != rot.Versions[1].PublicKey {
		t.Fatalf("rotated %+v", rot)
	}
	// A list describes each key by its latest version, without the
	// versions themselves.
	if list, _, err := f.svc.Keys(ctx, custA, 1, 1); err != nil || len(list) != 1 || list[0].KeyID != a2.KeyID ||
		list[0].Version != 2 || list[0].PublicKey != rot.PublicKey || list[0].Versions != nil {
		t.Fatalf("Keys(A, 1, 1) after rotation = %+v, %v", list, err)
	}
	for _, page := range [][2]int{{-1, 10}, {0, 0}, {0, MaxListLimit + 1}} {
		_, _, err := f.svc.Keys(ctx, custA, page[0], page[1])
		wantCode(t, err, quantumlock.EINVALID)
	}
	if got := must[*KeyInfo](t)(f.svc.Key(ctx, custA, a2.KeyID)); got.Version != 2 {
		t.Fatalf("after rotation version %d", got.Version)
	}

	// Another customer's key is exactly not found, on every route.
	for name, call := range map[string]func() error{
		"Key":     func() error { _, err := f.svc.Key(ctx, custA, b1.KeyID); return err },
		"Rotate":  func() error { _, err := f.svc.RotateKey(ctx, custA, b1.KeyID); return err },
		"Export":  func() error { _, err := f.svc.ExportKey(ctx, custA, b1.KeyID, 0); return err },
		"Delete":  func() error { return f.svc.DeleteKey(ctx, custA, b1.KeyID) },
		"Encrypt": func() error { _, err := f.svc.Encrypt(ctx, custA, EncryptRequest{KeyID: b1.KeyID}); return err },
		"Sign":    func() error { _, err := f.svc.Sign(ctx, custB, SignRequest{KeyID: a2.KeyID}); return err },
	} {
		err := call()
		wantCode(t, err, quantumlock.ENOTFOUND)
		if msg := quantumlock.ErrorMessage(err); msg != "Key not found." {
			t.Errorf("%s: message %q", name, msg)
		}
	}
	missing := "key_000000000000000000000000"
	_, err = f.svc.Key(ctx, custA, missing)
	wantCode(t, err, quantumlock.ENOTFOUND)

	if err := f.svc.DeleteKey(ctx, custA, a1.KeyID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Key(ctx, custA, a1.KeyID)
	wantCode(t, err, quantumlock.ENOTFOUND)
	wantCode(t, f.svc.DeleteKey(ctx, custA, a1.KeyID), quantumlock.ENOTFOUND)
	if list, total, err := f.svc.Keys(ctx, custB, 0, DefaultListLimit); err != nil || total != 1 || len(list) != 1 || list[0].KeyID != b1.KeyID {
		t.Fatalf("Keys(B) = %v of %d, %v", list, total, err)
	}
}

func TestCreateKeyInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for name, req := range map[string]CreateKeyRequest{
		"ErrAlgorithm":     {Algorithm: "AES-128-GCM"},
		"ErrExchangeAlg":   {Algorithm: X25519},
		"ErrSignAlgorithm": {Algorithm: SHA3512RSA},
		"ErrLabelTooLong":  {Label: strings.Repeat("x", MaxLabelLength+1)},
		"ErrLabelTooLongé": {Label: strings.Repeat("é", MaxLabelLength+1)},
		"ErrLabelNotUTF8":  {Label: "\xff"},
		"ErrLabelEscape":   {Label: "a\x1b[31m"},
		"ErrLabelNUL":      {Label: "a\x00b"},
		"ErrLabelC1":       {Label: "a\u0085b"},
	} {
		_, err := f.svc.CreateKey(context.Background(), custA, req)
		if quantumlock.ErrorCode(err) != quantumlock.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The limit counts characters, as openapi.yaml's maxLength does.
	label := strings.Repeat("é", MaxLabelLength)
	if k, err := f.svc.CreateKey(context.Background(), custA, CreateKeyRequest{Label: label}); err != nil || k.Label != label {
		t.Errorf("a label of %d two-byte characters: %v", MaxLabelLength, err)
	}
	_, err := f.svc.CreateKey(context.Background(), "", CreateKeyRequest{})
	wantCode(t, err, quantumlock.EUNAUTHORIZED)
}

// TestQuantumSecured checks provenance: keys drawn from verified quantum
// entropy say so, RSA keys never do (crypto/rsa uses only the OS CSPRNG),
// and keys drawn from the OS alone do not.
func TestQuantumSecured(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newFixture(t, withRandomness(entropytest.Quantum{}))
	os := newFixture(t)
	for _, tc := range []struct {
		f    *fixture
		alg  string
		want bool
	}{
		{q, AES256GCM, true},
		{q, ChaCha20Poly1305, true},
		{q, Ed25519, true},
		{q, MLDSA65, true},
		{q, Ed25519MLDSA65, true},
		{q, RSA2048, false},
		{os, AES256GCM, false},
		{os, Ed25519, false},
	} {
		info := must[*KeyInfo](t)(tc.f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: tc.alg}))
		if info.QuantumSecured != tc.want || info.Versions[0].QuantumSecured != tc.want {
			t.Errorf("%s: quantum_secured %v, want %v", tc.alg, info.QuantumSecured, tc.want)
		}
	}
	enc := must[*EncryptResponse](t)(q.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("x")}))
	if !enc.QuantumSecured {
		t.Error("Encrypt with a quantum-seeded key: quantum_secured false")
	}
	enc = must[*EncryptResponse](t)(os.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("x")}))
	if enc.QuantumSecured {
		t.Error("Encrypt with an OS-seeded key: quantum_secured true")
	}
}

// TestRestart checks sealed keys still work from a fresh Service and a
// reopened store with the same master key, and that a different master key
// fails clearly and loses nothing.
func TestRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	enc := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("kept"), Algorithm: ChaCha20Poly1305}))
	sig := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("kept"), Algorithm: Ed25519}))
	dec := DecryptRequest{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, IV: enc.IV, Tag: enc.Tag}
	f.db.Close()

	db := openStore(t, f.path)
	same := f.service(t, db, f.mk)
	if got, err := same.Decrypt(ctx, custA, dec); err != nil || string(got.Plaintext) != "kept" {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	if _, err := same.Sign(ctx, custA, SignRequest{Message: []byte("again"), KeyID: sig.KeyID}); err != nil {
		t.Fatalf("sign after restart: %v", err)
	}

	wrong := f.service(t, db, masterkey.Generate())
	for name, call := range map[string]func() error{
		"Decrypt": func() error { _, err := wrong.Decrypt(ctx, custA, dec); return err },
		"Encrypt": func() error {
			_, err := wrong.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("x"), KeyID: enc.KeyID})
			return err
		},
		"Sign": func() error {
			_, err := wrong.Sign(ctx, custA, SignRequest{Message: []byte("x"), KeyID: sig.KeyID})
			return err
		},
		// The public key and provenance stored beside the material are
		// vouched for by the seal, so without the master key they are
		// not served either.
		"Verify": func() error {
			_, err := wrong.Verify(ctx, custA, VerifyRequest{Message: []byte("kept"), Signature: sig.Signature, QuantumNonce: sig.QuantumNonce, KeyID: sig.KeyID})
			return err
		},
		"Key":  func() error { _, err := wrong.Key(ctx, custA, sig.KeyID); return err },
		"Keys": func() error { _, _, err := wrong.Keys(ctx, custA, 0, 10); return err },
	} {
		err := call()
		if !errors.Is(err, ErrUnseal) || quantumlock.ErrorCode(err) != quantumlock.EMASTERKEY {
			t.Errorf("%s with the wrong master key: %v", name, err)
		}
	}
	// Nothing was lost: the right key still opens everything.
	if got, err := same.Decrypt(ctx, custA, dec); err != nil || string(got.Plaintext) != "kept" {
		t.Fatalf("after the wrong key: %+v, %v", got, err)
	}
}

func BenchmarkCreateKey(b *testing.B) {
	for _, alg := range []string{AES256GCM, Ed25519, MLDSA65, Ed25519MLDSA65} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b)
			for b.Loop() {
				if _, err := f.svc.CreateKey(context.Background(), custA, CreateKeyRequest{Algorithm: alg}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A key takes MaxKeyVersions versions and no more; the oldest still
// decrypts.
func TestRotateUpToMaxVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: AES256GCM}))
	enc := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("v1"), KeyID: key.KeyID}))
	for v := 2; v <= MaxKeyVersions; v++ {
		if rot := must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, key.KeyID)); rot.Version != v {
			t.Fatalf("rotation made version %d, want %d", rot.Version, v)
		}
	}
	_, err := f.svc.RotateKey(ctx, custA, key.KeyID)
	wantCode(t, err, quantumlock.EINVALID)
	if msg := quantumlock.ErrorMessage(err); !strings.Contains(msg, "key_id") || !strings.Contains(msg, "create a new key") {
		t.Errorf("message %q", msg)
	}
	if got := must[*KeyInfo](t)(f.svc.Key(ctx, custA, key.KeyID)); got.Version != MaxKeyVersions {
		t.Fatalf("after the refused rotation version %d", got.Version)
	}
	dec := must[*DecryptResponse](t)(f.svc.Decrypt(ctx, custA, DecryptRequest{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, IV: enc.IV, Tag: enc.Tag}))
	if string(dec.Plaintext) != "v1" || dec.KeyVersion != 1 {
		t.Fatalf("decrypted %q with version %d", dec.Plaintext, dec.KeyVersion)
	}
}

// A key made exportable by writing to the store, not through the service,
// does not give up its material: its attributes are sealed with it.
func TestExportAfterStoreEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
	_, err := f.svc.ExportKey(ctx, custA, key.KeyID, 0)
	wantCode(t, err, quantumlock.EFORBIDDEN)

	f.exec(t, `UPDATE keys SET exportable = 1 WHERE id = ?`, key.KeyID)
	exp, err := f.svc.ExportKey(ctx, custA, key.KeyID, 0)
	if exp != nil || !errors.Is(err, ErrUnseal) {
		t.Fatalf("export after the edit: %+v, %v; want ErrUnseal", exp, err)
	}
	// Signing with it fails the same way: the edited key is unusable, not
	// quietly weaker.
	_, err = f.svc.Sign(ctx, custA, SignRequest{KeyID: key.KeyID, Message: []byte("m")})
	wantCode(t, err, quantumlock.EMASTERKEY)
}

// A customer has at most MaxKeys keys, however they are made; deleting one
// makes room, and other customers are not counted.
func TestMaxKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, withMaxKeys(2))
	first := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{}))
	must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("x")})) // makes the second
	for name, call := range map[string]func() error{
		"CreateKey": func() error { _, err := f.svc.CreateKey(ctx, custA, CreateKeyRequest{}); return err },
		"Encrypt":   func() error { _, err := f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("x")}); return err },
		"Sign": func() error {
			_, err := f.svc.Sign(ctx, custA, SignRequest{Message: []byte("x"), Algorithm: Ed25519})
			return err
		},
	} {
		err := call()
		wantCode(t, err, quantumlock.EFORBIDDEN)
		if !strings.Contains(quantumlock.ErrorMessage(err), "at most 2 keys") {
			t.Errorf("%s: message %q", name, quantumlock.ErrorMessage(err))
		}
	}
	must[*KeyInfo](t)(f.svc.CreateKey(ctx, custB, CreateKeyRequest{}))
	if err := f.svc.DeleteKey(ctx, custA, first.KeyID); err != nil {
		t.Fatal(err)
	}
	rsaKey := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: RSA2048}))
	// At the limit, rotation, which adds no key, still works, RSA's too.
	must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, rsaKey.KeyID))
	_, err := f.svc.GenerateRSA(ctx, custA, GenerateRSARequest{Bits: 2048})
	wantCode(t, err, quantumlock.EFORBIDDEN)
}

// Sealed material opens only as what it was sealed as (SPEC §8: the key id
// and customer bound as associated data), and as the version and session it
// belongs to: a row moved to another customer, version, key or session by
// someone who can write to the database but has no master key is unusable.
func TestSealBindsScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	wantUnseal := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnseal) {
			t.Fatalf("%s: %v, want ErrUnseal", what, err)
		}
	}

	k := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Exportable: true}))
	must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, k.KeyID))
	other := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Exportable: true}))

	// Another customer.
	f.exec(t, `UPDATE keys SET customer_id = ? WHERE id = ?`, custB, k.KeyID)
	_, err := f.svc.ExportKey(ctx, custB, k.KeyID, 1)
	wantUnseal("a key moved to another customer", err)
	f.exec(t, `UPDATE keys SET customer_id = ? WHERE id = ?`, custA, k.KeyID)
	must[*KeyInfo](t)(f.svc.ExportKey(ctx, custA, k.KeyID, 1))

	// Another version.
	f.exec(t, `UPDATE key_versions SET sealed = (SELECT sealed FROM key_versions WHERE key_id = ?1 AND version = 2) WHERE key_id = ?1 AND version = 1`, k.KeyID)
	_, err = f.svc.ExportKey(ctx, custA, k.KeyID, 1)
	wantUnseal("version 2's material as version 1", err)

	// Another key.
	f.exec(t, `UPDATE key_versions SET sealed = (SELECT sealed FROM key_versions WHERE key_id = ?1 AND version = 2) WHERE key_id = ?2 AND version = 1`, k.KeyID, other.KeyID)
	_, err = f.svc.ExportKey(ctx, custA, other.KeyID, 1)
	wantUnseal("another key's material", err)

	// Another exchange session.
	s1 := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: X25519}))
	s2 := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: X25519}))
	f.exec(t, `UPDATE exchange_sessions SET sealed = (SELECT sealed FROM exchange_sessions WHERE id = ?1) WHERE id = ?2`, s1.SessionID, s2.SessionID)
	b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: s2.PublicKey}))
	_, err = f.svc.KeyExchange(ctx, custA, ExchangeRequest{PeerPublicKey: b.PublicKey, SessionID: s2.SessionID})
	wantUnseal("another session's private key", err)
}

// Concurrent rotations of one key each add a version: none is refused for
// having lost the race to another.
func TestRotateConcurrently(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
	const n = 30
	versions := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			rot, err := f.svc.RotateKey(ctx, custA, key.KeyID)
			if err != nil {
				t.Error(err)
				return
			}
			versions <- rot.Version
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int]bool{}
	for v := range versions {
		if seen[v] {
			t.Errorf("version %d returned twice", v)
		}
		seen[v] = true
	}
	got := must[*KeyInfo](t)(f.svc.Key(ctx, custA, key.KeyID))
	if len(seen) != n || got.Version != n+1 || len(got.Versions) != n+1 {
		t.Fatalf("%d rotations returned, key at version %d with %d versions; want %d, %d, %d", len(seen), got.Version, len(got.Versions), n, n+1, n+1)
	}
}

// racingStore is a key store where, on the first AddKeyVersion, other
// rotations get in first: race adds their versions before the call goes
// through.
type racingStore struct {
	*sqlite.DB
	once sync.Once
	race func(v quantumlock.KeyVersion)
}

func (r *racingStore) AddKeyVersion(ctx context.Context, customerID, id string, v quantumlock.KeyVersion) error {
	r.once.Do(func() { r.race(v) })
	return r.DB.AddKeyVersion(ctx, customerID, id, v)
}

// A rotation that loses the race for the next version reads the key again
// and takes the one after; one that finds the key full by then is refused
// as full.
func TestRotateAfterLosingTheRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, others := range []int{1, MaxKeyVersions - 1} {
		t.Run(fmt.Sprint(others), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: AES256GCM}))
			store := &racingStore{DB: f.db}
			store.race = func(v quantumlock.KeyVersion) {
				for i := range others {
					w := v
					w.Version += i
					if err := f.db.AddKeyVersion(ctx, custA, key.KeyID, w); err != nil {
						t.Error(err)
					}
				}
			}
			c := Config{Keys: store, Nonces: f.db, Exchanges: f.db, Randomness: entropy.System{}, MasterKey: f.mk, Clock: f.clock.Now}
			svc, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			rot, err := svc.RotateKey(ctx, custA, key.KeyID)
			if others == MaxKeyVersions-1 {
				wantCode(t, err, quantumlock.EINVALID)
				return
			}
			if err != nil || rot.Version != 3 {
				t.Fatalf("rotation after one other: %+v, %v; want version 3", rot, err)
			}
			got := must[*KeyInfo](t)(svc.Key(ctx, custA, key.KeyID))
			if len(got.Versions) != 3 {
				t.Fatalf("%d versions, want 3", len(got.Versions))
			}
		})
	}
}

// switchableQuantum is entropytest.Quantum while on, the OS source while off.
type switchableQuantum struct{ on atomic.Bool }

func (q *switchableQuantum) Draw(ctx context.Context, n int, source string) (*quantumlock.Entropy, error) {
	if q.on.Load() {
		return entropytest.Quantum{}.Draw(ctx, n, source)
	}
	return entropy.System{}.Draw(ctx, n, source)
}

// An export's version, public key and provenance are the exported
// version's: here version 1 drew quantum entropy and version 2 did not.
func TestExportDescribesItsVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := &switchableQuantum{}
	q.on.Store(true)
	f := newFixture(t, withRandomness(q))
	k := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519, Exportable: true}))
	q.on.Store(false)
	rot := must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, k.KeyID))
	for v, want := range map[int]*KeyInfo{1: k, 2: rot} {
		e := must[*KeyInfo](t)(f.svc.ExportKey(ctx, custA, k.KeyID, v))
		if e.Version != v || e.QuantumSecured != want.QuantumSecured || e.PublicKey != want.PublicKey || e.Key != want.Key {
			t.Errorf("export of version %d: version %d, quantum_secured %v (want %v), public key or material not that version's",
				v, e.Version, e.QuantumSecured, want.QuantumSecured)
		}
	}
	if !k.QuantumSecured || rot.QuantumSecured {
		t.Fatalf("provenance of the two versions: %v, %v", k.QuantumSecured, rot.QuantumSecured)
	}
}

// A customer exactly at the key limit is refused an RSA key before one is
// made: not after waiting its turn at the RSA gate and spending seconds of
// CPU on a key the store would then refuse. Here the gate is held by
// another customer, so a call that reached it would wait out its context.
func TestRSAAtLimitRefusedBeforeTheGate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withMaxKeys(1), withRSAConcurrency(1))
	ctx := context.Background()
	must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{}))
	release, err := f.svc.rsaGate.acquire(ctx, custB)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = f.svc.CreateKey(short, custA, CreateKeyRequest{Algorithm: RSA2048})
	wantCode(t, err, quantumlock.EFORBIDDEN)
}
