package keyring

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"testing"

	"github.com/quantumlock/quantumlock"
	"golang.org/x/crypto/chacha20poly1305"
)

func TestAEADKnownAnswers(t *testing.T) {
	t.Parallel()
	var file struct {
		Vectors []struct {
			Name, Algorithm, Key, IV, Plaintext, AAD, Ciphertext, Tag string
		}
	}
	readJSON(t, "aead_vectors.json", &file)
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			aead, err := newAEAD(v.Algorithm, unhex(t, v.Key))
			if err != nil {
				t.Fatal(err)
			}
			want := append(unhex(t, v.Ciphertext), unhex(t, v.Tag)...)
			got := aead.Seal(nil, unhex(t, v.IV), unhex(t, v.Plaintext), unhex(t, v.AAD))
			if !bytes.Equal(got, want) {
				t.Fatalf("seal = %x\nwant   %x", got, want)
			}
			pt, err := aead.Open(nil, unhex(t, v.IV), want, unhex(t, v.AAD))
			if err != nil || !bytes.Equal(pt, unhex(t, v.Plaintext)) {
				t.Fatalf("open = %x, %v", pt, err)
			}
		})
	}
}

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range []string{AES256GCM, ChaCha20Poly1305} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			for name, tc := range map[string]struct{ plaintext, aad []byte }{
				"OK":        {[]byte("Hello World!"), nil},
				"OKWithAAD": {[]byte("Hello World!"), []byte("header")},
				"OKEmpty":   {[]byte{}, nil},
				"OKLargest": {bytes.Repeat([]byte{7}, MaxPlaintextSize), bytes.Repeat([]byte{8}, MaxAADSize)},
			} {
				enc, err := f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: tc.plaintext, Algorithm: alg, AAD: tc.aad})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if enc.Algorithm != alg || enc.KeyVersion != 1 || len(enc.IV) != IVSize || len(enc.Tag) != TagSize ||
					len(enc.Ciphertext) != len(tc.plaintext) || enc.QuantumSecured {
					t.Fatalf("%s: response %+v", name, enc)
				}
				if len(tc.plaintext) > 0 && bytes.Equal(enc.Ciphertext, tc.plaintext) {
					t.Fatalf("%s: ciphertext equals plaintext", name)
				}
				dec, err := f.svc.Decrypt(ctx, custA, DecryptRequest{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, KeyVersion: enc.KeyVersion, IV: enc.IV, Tag: enc.Tag, Algorithm: alg, AAD: tc.aad})
				if err != nil || !bytes.Equal(dec.Plaintext, tc.plaintext) || dec.KeyID != enc.KeyID || dec.KeyVersion != 1 {
					t.Fatalf("%s: decrypt = %+v, %v", name, dec, err)
				}
				info := must[*KeyInfo](t)(f.svc.Key(ctx, custA, enc.KeyID))
				if info.Algorithm != alg || info.Purpose != quantumlock.PurposeEncryption || info.Exportable || info.Key != "" {
					t.Fatalf("%s: new key %+v", name, info)
				}
			}
		})
	}
}

func TestEncryptDefaultsToAES256GCM(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	enc, err := f.svc.Encrypt(context.Background(), custA, EncryptRequest{Plaintext: []byte("x")})
	if err != nil || enc.Algorithm != AES256GCM {
		t.Fatalf("Encrypt = %+v, %v", enc, err)
	}
}

func TestDecryptTampered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range []string{AES256GCM, ChaCha20Poly1305} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: alg}))
			other := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: alg}))
			aad := []byte("context")
			enc := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("attack at dawn"), KeyID: key.KeyID, AAD: aad}))
			good := DecryptRequest{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, KeyVersion: 1, IV: enc.IV, Tag: enc.Tag, AAD: aad}
			if _, err := f.svc.Decrypt(ctx, custA, good); err != nil {
				t.Fatal(err)
			}
			must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, key.KeyID))
			flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
			cases := map[string]func(r *DecryptRequest){
				"WrongKey":      func(r *DecryptRequest) { r.KeyID = other.KeyID },
				"WrongVersion":  func(r *DecryptRequest) { r.KeyVersion = 2 },
				"NoSuchVersion": func(r *DecryptRequest) { r.KeyVersion = 9 },
				"WrongAAD":      func(r *DecryptRequest) { r.AAD = []byte("contexu") },
				"MissingAAD":    func(r *DecryptRequest) { r.AAD = nil },
				"ShortIV":       func(r *DecryptRequest) { r.IV = r.IV[:IVSize-1] },
				"ShortTag":      func(r *DecryptRequest) { r.Tag = r.Tag[:TagSize-1] },
				"NoTag":         func(r *DecryptRequest) { r.Tag = nil },
				"Truncated":     func(r *DecryptRequest) { r.Ciphertext = r.Ciphertext[1:] },
			}
			for i := range enc.Ciphertext {
				cases["FlipCiphertext"+string(rune('a'+i))] = func(r *DecryptRequest) { r.Ciphertext = flip(r.Ciphertext, i) }
			}
			for i := range enc.IV {
				cases["FlipIV"+string(rune('a'+i))] = func(r *DecryptRequest) { r.IV = flip(r.IV, i) }
			}
			for i := range enc.Tag {
				cases["FlipTag"+string(rune('a'+i))] = func(r *DecryptRequest) { r.Tag = flip(r.Tag, i) }
			}
			var message string
			for name, mutate := range cases {
				r := good
				mutate(&r)
				dec, err := f.svc.Decrypt(ctx, custA, r)
				if dec != nil {
					t.Fatalf("%s: decrypted %q", name, dec.Plaintext)
				}
				wantCode(t, err, quantumlock.EDECRYPT)
				if message == "" {
					message = quantumlock.ErrorMessage(err)
				} else if m := quantumlock.ErrorMessage(err); m != message {
					t.Fatalf("%s: message %q differs from %q", name, m, message)
				}
			}
			// Version 0 tries every version and still finds version 1.
			r := good
			r.KeyVersion = 0
			if dec, err := f.svc.Decrypt(ctx, custA, r); err != nil || dec.KeyVersion != 1 {
				t.Fatalf("any version: %+v, %v", dec, err)
			}
		})
	}
}

func TestEncryptRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: ChaCha20Poly1305}))
	old := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("old"), KeyID: key.KeyID}))
	rotated := must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, key.KeyID))
	if rotated.Version != 2 || len(rotated.Versions) != 2 {
		t.Fatalf("rotated = %+v", rotated)
	}
	cur := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("new"), KeyID: key.KeyID}))
	if old.KeyVersion != 1 || cur.KeyVersion != 2 {
		t.Fatalf("versions %d, %d; want 1, 2", old.KeyVersion, cur.KeyVersion)
	}
	for _, enc := range []*EncryptResponse{old, cur} {
		for _, version := range []int{0, enc.KeyVersion} {
			dec, err := f.svc.Decrypt(ctx, custA, DecryptRequest{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, KeyVersion: version, IV: enc.IV, Tag: enc.Tag})
			if err != nil || dec.KeyVersion != enc.KeyVersion {
				t.Fatalf("decrypt v%d with version %d: %+v, %v", enc.KeyVersion, version, dec, err)
			}
		}
	}
}

// TestEncryptExportedKey checks the ciphertext is plain AEAD output that
// the standard library opens with the exported key.
func TestEncryptExportedKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range []string{AES256GCM, ChaCha20Poly1305} {
		key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: alg, Exportable: true}))
		raw, err := base64.StdEncoding.DecodeString(key.Key)
		if err != nil || len(raw) != KeySize {
			t.Fatalf("%s: exported key %q: %v", alg, key.Key, err)
		}
		var aead cipher.AEAD
		if alg == AES256GCM {
			b, _ := aes.NewCipher(raw)
			aead, _ = cipher.NewGCM(b)
		} else {
			aead, _ = chacha20poly1305.New(raw)
		}
		enc := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("interop"), KeyID: key.KeyID, AAD: []byte("a")}))
		pt, err := aead.Open(nil, enc.IV, append(enc.Ciphertext, enc.Tag...), []byte("a"))
		if err != nil || string(pt) != "interop" {
			t.Fatalf("%s: standard library open = %q, %v", alg, pt, err)
		}
	}
}

func TestEncryptInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	aesKey := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: AES256GCM}))
	edKey := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
	for name, tc := range map[string]struct {
		req  EncryptRequest
		code string
	}{
		"ErrAlgorithm":        {EncryptRequest{Plaintext: []byte("x"), Algorithm: "DES"}, quantumlock.EINVALID},
		"ErrSignatureAlg":     {EncryptRequest{Plaintext: []byte("x"), Algorithm: Ed25519}, quantumlock.EINVALID},
		"ErrSigningKey":       {EncryptRequest{Plaintext: []byte("x"), KeyID: edKey.KeyID}, quantumlock.EINVALID},
		"ErrAlgorithmVsKey":   {EncryptRequest{Plaintext: []byte("x"), KeyID: aesKey.KeyID, Algorithm: ChaCha20Poly1305}, quantumlock.EINVALID},
		"ErrPlaintextTooLong": {EncryptRequest{Plaintext: make([]byte, MaxPlaintextSize+1)}, quantumlock.EINVALID},
		"ErrAADTooLong":       {EncryptRequest{Plaintext: []byte("x"), AAD: make([]byte, MaxAADSize+1)}, quantumlock.EINVALID},
		"ErrNoSuchKey":        {EncryptRequest{Plaintext: []byte("x"), KeyID: "key_000000000000000000000000"}, quantumlock.ENOTFOUND},
	} {
		_, err := f.svc.Encrypt(ctx, custA, tc.req)
		if quantumlock.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	enc := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("x"), KeyID: aesKey.KeyID}))
	good := DecryptRequest{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, IV: enc.IV, Tag: enc.Tag}
	for name, tc := range map[string]struct {
		mutate func(*DecryptRequest)
		code   string
	}{
		"ErrNoKeyID":           {func(r *DecryptRequest) { r.KeyID = "" }, quantumlock.EINVALID},
		"ErrSigningKey":        {func(r *DecryptRequest) { r.KeyID = edKey.KeyID }, quantumlock.EDECRYPT},
		"ErrAlgorithmVsKey":    {func(r *DecryptRequest) { r.Algorithm = ChaCha20Poly1305 }, quantumlock.EDECRYPT},
		"ErrCiphertextTooLong": {func(r *DecryptRequest) { r.Ciphertext = make([]byte, MaxPlaintextSize+1) }, quantumlock.EINVALID},
		"ErrOtherCustomer":     {func(r *DecryptRequest) {}, quantumlock.ENOTFOUND},
	} {
		r := good
		tc.mutate(&r)
		cust := custA
		if name == "ErrOtherCustomer" {
			cust = custB
		}
		_, err := f.svc.Decrypt(ctx, cust, r)
		if quantumlock.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
}

func BenchmarkEncrypt1KiB(b *testing.B) {
	for _, alg := range []string{AES256GCM, ChaCha20Poly1305} {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b)
			key := must[*KeyInfo](b)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: alg}))
			req := EncryptRequest{Plaintext: make([]byte, 1024), KeyID: key.KeyID}
			b.SetBytes(1024)
			for b.Loop() {
				if _, err := f.svc.Encrypt(ctx, custA, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt1KiB(b *testing.B) {
	for _, alg := range []string{AES256GCM, ChaCha20Poly1305} {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b)
			enc := must[*EncryptResponse](b)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: make([]byte, 1024), Algorithm: alg}))
			req := DecryptRequest{Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, KeyVersion: enc.KeyVersion, IV: enc.IV, Tag: enc.Tag}
			b.SetBytes(1024)
			for b.Loop() {
				if _, err := f.svc.Decrypt(ctx, custA, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
