package keyring

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha3"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudflare/circl/pki"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/quantumlock/quantumlock"
)

func TestEd25519KnownAnswers(t *testing.T) {
	t.Parallel()
	var file struct {
		Vectors []struct{ Name, Seed, Public, Message, Signature string }
	}
	readJSON(t, "ed25519_rfc8032.json", &file)
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			sk, err := newSigningKey(Ed25519, unhex(t, v.Seed))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sk.public.raw, unhex(t, v.Public)) {
				t.Fatalf("public key %x", sk.public.raw)
			}
			sig, err := sk.sign(unhex(t, v.Message))
			if err != nil || !bytes.Equal(sig, unhex(t, v.Signature)) {
				t.Fatalf("signature %x, %v", sig, err)
			}
			if !sk.public.verify(unhex(t, v.Message), sig) {
				t.Fatal("does not verify")
			}
		})
	}
}

// TestMLDSA65KnownAnswers checks that keys made from a seed match NIST's
// ACVP ML-DSA-65 keyGen vectors (FIPS 204 ML-DSA.KeyGen_internal).
func TestMLDSA65KnownAnswers(t *testing.T) {
	t.Parallel()
	var file struct {
		KeyGen []struct{ Seed, PK, SK string }
	}
	readJSON(t, "mldsa65_acvp.json", &file)
	if len(file.KeyGen) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.KeyGen {
		sk, err := newSigningKey(MLDSA65, unhex(t, v.Seed))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sk.public.raw, unhex(t, v.PK)) {
			t.Fatalf("public key differs for seed %s", v.Seed)
		}
		if !bytes.Equal(sk.ml.Bytes(), unhex(t, v.SK)) {
			t.Fatalf("private key differs for seed %s", v.Seed)
		}
	}
}

// plainVerify checks sig over nonce‖message with the plain library
// verifier of each algorithm, given the PEM public key Sign returned.
func plainVerify(t *testing.T, alg, publicPEM string, nonce, message, sig []byte) bool {
	t.Helper()
	data := append(bytes.Clone(nonce), message...)
	var blocks [][]byte
	for rest := []byte(publicPEM); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b.Bytes)
	}
	edKey := func(der []byte) ed25519.PublicKey {
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		return k.(ed25519.PublicKey)
	}
	mlKey := func(der []byte) *mldsa65.PublicKey {
		k, err := pki.UnmarshalPKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		return k.(*mldsa65.PublicKey)
	}
	switch alg {
	case SHA3512RSA:
		k, err := x509.ParsePKIXPublicKey(blocks[0])
		if err != nil {
			t.Fatal(err)
		}
		digest := sha3.Sum512(data)
		return rsa.VerifyPSS(k.(*rsa.PublicKey), crypto.SHA3_512, digest[:], sig, &rsa.PSSOptions{SaltLength: 64}) == nil
	case Ed25519:
		return ed25519.Verify(edKey(blocks[0]), data, sig)
	case MLDSA65:
		return mldsa65.Verify(mlKey(blocks[0]), data, nil, sig)
	case Ed25519MLDSA65:
		if len(blocks) != 2 || len(sig) != ed25519.SignatureSize+mldsa65.SignatureSize {
			return false
		}
		return ed25519.Verify(edKey(blocks[0]), data, sig[:ed25519.SignatureSize]) &&
			mldsa65.Verify(mlKey(blocks[1]), data, nil, sig[ed25519.SignatureSize:])
	}
	t.Fatalf("unknown algorithm %s", alg)
	return false
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	message := []byte("message to sign")
	for _, alg := range SignAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			// No key_id: Sign makes a new key (RSA-3072 for SHA3-512-RSA).
			sig, err := f.svc.Sign(ctx, custA, SignRequest{Message: message, Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			if sig.Algorithm != alg || sig.KeyVersion != 1 || len(sig.QuantumNonce) != NonceSize || !strings.HasPrefix(sig.PublicKey, "-----BEGIN PUBLIC KEY-----") {
				t.Fatalf("response %+v", sig)
			}
			key := must[*KeyInfo](t)(f.svc.Key(ctx, custA, sig.KeyID))
			if key.Purpose != quantumlock.PurposeSigning || key.PublicKey != sig.PublicKey || key.Algorithm != keyAlgFor(alg) {
				t.Fatalf("key %+v", key)
			}
			if !plainVerify(t, alg, sig.PublicKey, sig.QuantumNonce, message, sig.Signature) {
				t.Fatal("plain library verifier rejects the signature")
			}
			if plainVerify(t, alg, sig.PublicKey, nil, message, sig.Signature) {
				t.Fatal("signature verifies without the nonce")
			}

			raw, err := parsePublicKey(sig.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			good := VerifyRequest{Message: message, Signature: sig.Signature, QuantumNonce: sig.QuantumNonce}
			for name, mutate := range map[string]func(*VerifyRequest){
				"ByKeyID":        func(r *VerifyRequest) { r.KeyID = sig.KeyID },
				"ByKeyIDAndAlg":  func(r *VerifyRequest) { r.KeyID, r.Algorithm = sig.KeyID, alg },
				"ByPEM":          func(r *VerifyRequest) { r.PublicKey = sig.PublicKey },
				"ByBase64RawKey": func(r *VerifyRequest) { r.PublicKey = base64.StdEncoding.EncodeToString(raw.raw) },
				"ByPEMAndAlg":    func(r *VerifyRequest) { r.PublicKey, r.Algorithm = sig.PublicKey, alg },
			} {
				r := good
				mutate(&r)
				res, err := f.svc.Verify(ctx, custA, r)
				if err != nil || !res.Valid || res.Algorithm != alg {
					t.Fatalf("%s: %+v, %v", name, res, err)
				}
				if r.KeyID != "" && (res.KeyID != sig.KeyID || res.KeyVersion != 1) {
					t.Fatalf("%s: %+v", name, res)
				}
			}
			flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x10; return b }
			for name, mutate := range map[string]func(*VerifyRequest){
				"BadMessage":      func(r *VerifyRequest) { r.Message = flip(r.Message, 0) },
				"LongerMessage":   func(r *VerifyRequest) { r.Message = append(bytes.Clone(r.Message), 0) },
				"BadNonce":        func(r *VerifyRequest) { r.QuantumNonce = flip(r.QuantumNonce, NonceSize-1) },
				"BadSignature":    func(r *VerifyRequest) { r.Signature = flip(r.Signature, 3) },
				"BadSignatureEnd": func(r *VerifyRequest) { r.Signature = flip(r.Signature, len(r.Signature)-1) },
				"ShortSignature":  func(r *VerifyRequest) { r.Signature = r.Signature[:len(r.Signature)-1] },
				"NoSignature":     func(r *VerifyRequest) { r.Signature = nil },
			} {
				for _, by := range []string{"key_id", "public_key"} {
					r := good
					if by == "key_id" {
						r.KeyID = sig.KeyID
					} else {
						r.PublicKey = sig.PublicKey
					}
					mutate(&r)
					res, err := f.svc.Verify(ctx, custA, r)
					if err != nil || res.Valid {
						t.Fatalf("%s by %s: %+v, %v", name, by, res, err)
					}
				}
			}
		})
	}
}

// TestVerifyHybridNeedsBoth checks a hybrid signature with either half
// from another key is invalid, though the other half verifies on its own.
func TestVerifyHybridNeedsBoth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	msg := []byte("m")
	a := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: msg, Algorithm: Ed25519MLDSA65}))
	b := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: msg, Algorithm: Ed25519MLDSA65}))
	sk := openSigningKey(t, f, a.KeyID)
	data := signedData(a.QuantumNonce, msg)
	edOnly := append(ed25519.Sign(sk.ed, data), make([]byte, mldsa65.SignatureSize)...)
	mlSig := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(sk.ml, data, nil, true, mlSig); err != nil {
		t.Fatal(err)
	}
	mlOnly := append(make([]byte, ed25519.SignatureSize), mlSig...)
	for name, sig := range map[string][]byte{"EdOnly": edOnly, "MLOnly": mlOnly} {
		res, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: msg, Signature: sig, QuantumNonce: a.QuantumNonce, KeyID: a.KeyID})
		if err != nil || res.Valid {
			t.Fatalf("%s: %+v, %v", name, res, err)
		}
	}
	both := append(ed25519.Sign(sk.ed, data), mlSig...)
	if res, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: msg, Signature: both, QuantumNonce: a.QuantumNonce, KeyID: a.KeyID}); err != nil || !res.Valid {
		t.Fatalf("both halves: %+v, %v", res, err)
	}
	if res, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: msg, Signature: both, QuantumNonce: a.QuantumNonce, KeyID: b.KeyID}); err != nil || res.Valid {
		t.Fatalf("other key: %+v, %v", res, err)
	}
}

// openSigningKey opens a key's latest version (white box).
func openSigningKey(t *testing.T, f *fixture, keyID string) *signingKey {
	t.Helper()
	k, err := f.db.Key(context.Background(), custA, keyID)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := f.svc.openVersion(k, k.Latest())
	if err != nil {
		t.Fatal(err)
	}
	sk, err := newSigningKey(k.Algorithm, m)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func TestSignRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range []string{Ed25519, MLDSA65} {
		key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: alg}))
		old := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("old"), KeyID: key.KeyID}))
		must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, key.KeyID))
		cur := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("new"), KeyID: key.KeyID}))
		if old.KeyVersion != 1 || cur.KeyVersion != 2 || old.PublicKey == cur.PublicKey {
			t.Fatalf("%s: versions %d, %d", alg, old.KeyVersion, cur.KeyVersion)
		}
		for _, s := range []struct {
			sig *SignResponse
			msg string
		}{{old, "old"}, {cur, "new"}} {
			res, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte(s.msg), Signature: s.sig.Signature, QuantumNonce: s.sig.QuantumNonce, KeyID: key.KeyID})
			if err != nil || !res.Valid || res.KeyVersion != s.sig.KeyVersion {
				t.Fatalf("%s: verify v%d: %+v, %v", alg, s.sig.KeyVersion, res, err)
			}
		}
	}
}

func TestVerifyConsumeNonce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	sig := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("once"), Algorithm: Ed25519}))
	req := VerifyRequest{Message: []byte("once"), Signature: sig.Signature, QuantumNonce: sig.QuantumNonce, KeyID: sig.KeyID, ConsumeNonce: true}

	// An invalid signature does not use the nonce up.
	bad := req
	bad.Message = []byte("twice")
	if res, err := f.svc.Verify(ctx, custA, bad); err != nil || res.Valid {
		t.Fatalf("bad: %+v, %v", res, err)
	}
	// Without consume_nonce the nonce is only looked at.
	look := req
	look.ConsumeNonce = false
	if res, err := f.svc.Verify(ctx, custA, look); err != nil || !res.Valid {
		t.Fatalf("look: %+v, %v", res, err)
	}

	const n = 16
	var valid atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := f.svc.Verify(ctx, custA, req)
			if err != nil {
				t.Error(err)
				return
			}
			if res.Valid {
				valid.Add(1)
			}
		})
	}
	wg.Wait()
	if got := valid.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent verifications valid, want exactly 1", got, n)
	}
	if res, err := f.svc.Verify(ctx, custA, req); err != nil || res.Valid {
		t.Fatalf("replay: %+v, %v", res, err)
	}
}

func TestSignVerifyInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	ed := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("m"), Algorithm: Ed25519}))
	hybrid := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("m"), Algorithm: Ed25519MLDSA65}))
	aesKey := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{}))
	for name, tc := range map[string]struct {
		req  SignRequest
		cust string
		code string
	}{
		"ErrAlgorithm":      {SignRequest{Message: []byte("m"), Algorithm: "DSA"}, custA, quantumlock.EINVALID},
		"ErrCipherAlg":      {SignRequest{Message: []byte("m"), Algorithm: AES256GCM}, custA, quantumlock.EINVALID},
		"ErrEncryptionKey":  {SignRequest{Message: []byte("m"), KeyID: aesKey.KeyID}, custA, quantumlock.EINVALID},
		"ErrAlgorithmVsKey": {SignRequest{Message: []byte("m"), KeyID: ed.KeyID, Algorithm: MLDSA65}, custA, quantumlock.EINVALID},
		"ErrMessageTooLong": {SignRequest{Message: make([]byte, MaxMessageSize+1), Algorithm: Ed25519}, custA, quantumlock.EINVALID},
		"ErrOtherCustomer":  {SignRequest{Message: []byte("m"), KeyID: ed.KeyID}, custB, quantumlock.ENOTFOUND},
	} {
		_, err := f.svc.Sign(ctx, tc.cust, tc.req)
		if quantumlock.ErrorCode(err) != tc.code {
			t.Errorf("Sign %s: %v, want %s", name, err, tc.code)
		}
	}
	good := VerifyRequest{Message: []byte("m"), Signature: ed.Signature, QuantumNonce: ed.QuantumNonce, KeyID: ed.KeyID}
	for name, tc := range map[string]struct {
		mutate func(*VerifyRequest)
		cust   string
		code   string
	}{
		"ErrNonceShort":     {func(r *VerifyRequest) { r.QuantumNonce = r.QuantumNonce[1:] }, custA, quantumlock.EINVALID},
		"ErrNoNonce":        {func(r *VerifyRequest) { r.QuantumNonce = nil }, custA, quantumlock.EINVALID},
		"ErrNoKey":          {func(r *VerifyRequest) { r.KeyID = "" }, custA, quantumlock.EINVALID},
		"ErrBothKeys":       {func(r *VerifyRequest) { r.PublicKey = ed.PublicKey }, custA, quantumlock.EINVALID},
		"ErrAlgorithm":      {func(r *VerifyRequest) { r.Algorithm = "HMAC" }, custA, quantumlock.EINVALID},
		"ErrAlgorithmVsKey": {func(r *VerifyRequest) { r.Algorithm = SHA3512RSA }, custA, quantumlock.EINVALID},
		"ErrAlgorithmVsPEM": {func(r *VerifyRequest) { r.KeyID, r.PublicKey, r.Algorithm = "", ed.PublicKey, MLDSA65 }, custA, quantumlock.EINVALID},
		"ErrBadPublicKey": {func(r *VerifyRequest) {
			r.KeyID, r.PublicKey = "", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
		}, custA, quantumlock.EINVALID},
		"ErrNotBase64": {func(r *VerifyRequest) { r.KeyID, r.PublicKey = "", "not a key!" }, custA, quantumlock.EINVALID},
		"ErrPEMTextBetweenBlocks": {func(r *VerifyRequest) {
			blocks := strings.SplitAfter(hybrid.PublicKey, "-----END PUBLIC KEY-----\n")
			r.KeyID, r.PublicKey = "", blocks[0]+"not part of any key\n"+blocks[1]
			r.Signature, r.QuantumNonce = hybrid.Signature, hybrid.QuantumNonce
		}, custA, quantumlock.EINVALID},
		"ErrPEMHeaders": {func(r *VerifyRequest) {
			r.KeyID, r.PublicKey = "", strings.Replace(ed.PublicKey, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1)
		}, custA, quantumlock.EINVALID},
		"ErrRawKeyOddSize":    {func(r *VerifyRequest) { r.KeyID, r.PublicKey = "", base64.StdEncoding.EncodeToString(make([]byte, 33)) }, custA, quantumlock.EINVALID},
		"ErrEncryptionKey":    {func(r *VerifyRequest) { r.KeyID = aesKey.KeyID }, custA, quantumlock.EINVALID},
		"ErrMessageTooLong":   {func(r *VerifyRequest) { r.Message = make([]byte, MaxMessageSize+1) }, custA, quantumlock.EINVALID},
		"ErrSignatureTooLong": {func(r *VerifyRequest) { r.Signature = make([]byte, MaxSignatureSize+1) }, custA, quantumlock.EINVALID},
		"ErrOtherCustomer":    {func(r *VerifyRequest) {}, custB, quantumlock.ENOTFOUND},
	} {
		r := good
		tc.mutate(&r)
		_, err := f.svc.Verify(ctx, tc.cust, r)
		if quantumlock.ErrorCode(err) != tc.code {
			t.Errorf("Verify %s: %v, want %s", name, err, tc.code)
		}
	}
}

// Verify refuses an Ed25519 public key of small order, under which one
// constant signature verifies every message, and one that is no point of
// the curve: raw or PEM, alone or as the hybrid's first half.
func TestVerifyRefusesWeakEd25519Keys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	hybrid := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("m"), Algorithm: Ed25519MLDSA65}))
	mlHalf := strings.SplitAfter(hybrid.PublicKey, "-----END PUBLIC KEY-----\n")[1]
	identity := make([]byte, Ed25519PublicKeySize) // y = 1: the neutral point
	identity[0] = 1
	orderFour := make([]byte, Ed25519PublicKeySize) // y = 0
	notAPoint := make([]byte, Ed25519PublicKeySize) // y = 2 has no x on the curve
	notAPoint[0] = 2
	// R the neutral point, S 0: valid under the identity key for any
	// message, by the cofactorless equation.
	sig := make([]byte, Ed25519SignatureSize)
	sig[0] = 1
	for name, tc := range map[string]struct {
		key  []byte
		want string
	}{
		"Identity":  {identity, "small order"},
		"OrderFour": {orderFour, "small order"},
		"NotAPoint": {notAPoint, "not a point"},
	} {
		pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must[[]byte](t)(x509.MarshalPKIXPublicKey(ed25519.PublicKey(tc.key)))}))
		for form, pub := range map[string]string{
			"Raw":       base64.StdEncoding.EncodeToString(tc.key),
			"PEM":       pemKey,
			"HybridPEM": pemKey + mlHalf,
		} {
			_, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte("pay mallory"), Signature: sig, QuantumNonce: hybrid.QuantumNonce, PublicKey: pub})
			if quantumlock.ErrorCode(err) != quantumlock.EINVALID || !strings.Contains(quantumlock.ErrorMessage(err), tc.want) {
				t.Errorf("%s, %s: %v, want 400 saying %q", name, form, err, tc.want)
			}
		}
	}
	// A key the service made is of the whole group's prime order.
	if _, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte("m"), Signature: hybrid.Signature, QuantumNonce: hybrid.QuantumNonce, PublicKey: hybrid.PublicKey}); err != nil {
		t.Errorf("the service's own hybrid key: %v", err)
	}
}

// TestOpenSSLVerifies runs the commands docs/crypto.md gives for checking
// signatures with openssl.
func TestOpenSSLVerifies(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	ctx := context.Background()
	f := newFixture(t)
	for _, tc := range []struct {
		alg  string
		args []string
	}{
		{SHA3512RSA, []string{"dgst", "-sha3-512", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:64", "-verify", "pub.pem", "-signature", "sig.bin", "data.bin"}},
		{Ed25519, []string{"pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "data.bin", "-sigfile", "sig.bin"}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			msg := []byte("checked outside the service\n")
			sig := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: msg, Algorithm: tc.alg}))
			dir := t.TempDir()
			write := func(name string, b []byte) {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write("pub.pem", []byte(sig.PublicKey))
			write("sig.bin", sig.Signature)
			write("data.bin", signedData(sig.QuantumNonce, msg))
			run := func() (string, error) {
				cmd := exec.Command("openssl", tc.args...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			if out, err := run(); err != nil || !strings.Contains(out, "Verified") || strings.Contains(out, "Failure") {
				t.Fatalf("openssl: %v\n%s", err, out)
			}
			write("data.bin", signedData(sig.QuantumNonce, append(msg, '!')))
			if out, err := run(); err == nil {
				t.Fatalf("openssl accepted a changed message:\n%s", out)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range SignAlgorithms {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b)
			key := must[*SignResponse](b)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("x"), Algorithm: alg}))
			req := SignRequest{Message: make([]byte, 1024), KeyID: key.KeyID}
			for b.Loop() {
				if _, err := f.svc.Sign(ctx, custA, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range SignAlgorithms {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b)
			sig := must[*SignResponse](b)(f.svc.Sign(ctx, custA, SignRequest{Message: make([]byte, 1024), Algorithm: alg}))
			req := VerifyRequest{Message: make([]byte, 1024), Signature: sig.Signature, QuantumNonce: sig.QuantumNonce, KeyID: sig.KeyID}
			for b.Loop() {
				if res, err := f.svc.Verify(ctx, custA, req); err != nil || !res.Valid {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// FuzzParsePublicKey feeds Verify's public_key decoder arbitrary text: it
// must never panic, and whatever it accepts must survive a round trip.
func FuzzParsePublicKey(f *testing.F) {
	for _, alg := range []string{Ed25519, MLDSA65, Ed25519MLDSA65} {
		sk, err := newSigningKey(alg, make([]byte, keyAlgs[alg].seedSize))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sk.public.pem())
		f.Add(base64.StdEncoding.EncodeToString(sk.public.raw))
	}
	f.Add("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePublicKey(s)
		if err != nil {
			if quantumlock.ErrorCode(err) != quantumlock.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		again, err := parsePublicKey(p.pem())
		if err != nil || again.sigAlg() != p.sigAlg() || !bytes.Equal(again.raw, p.raw) {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		p.verify([]byte("data"), make([]byte, 64))
	})
}

// recordingNonces records the expiry every ConsumeNonce asks for.
type recordingNonces struct {
	quantumlock.NonceStore
	mu      sync.Mutex
	expires []time.Time
}

func (r *recordingNonces) ConsumeNonce(ctx context.Context, customerID string, nonce []byte, expiresAt time.Time) (bool, error) {
	r.mu.Lock()
	r.expires = append(r.expires, expiresAt)
	r.mu.Unlock()
	return r.NonceStore.ConsumeNonce(ctx, customerID, nonce, expiresAt)
}

// A consumed nonce is kept for NonceRetention from the service's clock:
// forgotten any sooner, its signature could be replayed.
func TestVerifyNonceRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	rec := &recordingNonces{NonceStore: f.db}
	svc := f.service(t, f.db, f.mk, func(c *Config) { c.Nonces = rec })
	sig := must[*SignResponse](t)(svc.Sign(ctx, custA, SignRequest{Message: []byte("m"), Algorithm: Ed25519}))
	res, err := svc.Verify(ctx, custA, VerifyRequest{Message: []byte("m"), Signature: sig.Signature, QuantumNonce: sig.QuantumNonce, KeyID: sig.KeyID, ConsumeNonce: true})
	if err != nil || !res.Valid {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	if want := f.clock.Now().Add(NonceRetention); len(rec.expires) != 1 || !rec.expires[0].Equal(want) {
		t.Fatalf("nonce kept until %v, want %v", rec.expires, want)
	}
}

// Verify refuses RSA public keys outside 2048-8192 bits (docs/crypto.md,
// Limits) as INVALID_REQUEST naming public_key.
func TestVerifyRSAKeySizeBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	for name, pub := range map[string]string{
		"PEM":    string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		"Base64": base64.StdEncoding.EncodeToString(der),
	} {
		_, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte("m"), Signature: make([]byte, 128), QuantumNonce: make([]byte, NonceSize), PublicKey: pub})
		wantCode(t, err, quantumlock.EINVALID)
		if !strings.Contains(quantumlock.ErrorMessage(err), "public_key") {
			t.Fatalf("%s: %q does not name public_key", name, quantumlock.ErrorMessage(err))
		}
	}
}

// SHA3-512-RSA is PSS with a 64-byte salt (docs/crypto.md); a PSS
// signature by the same key with another salt length is not one.
func TestVerifyPSSSaltLength(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: RSA2048, Exportable: true}))
	block, _ := pem.Decode([]byte(key.Key))
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, NonceSize)
	digest := sha3.Sum512(signedData(nonce, []byte("m")))
	sig, err := rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA3_512, digest[:], &rsa.PSSOptions{SaltLength: 20})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte("m"), Signature: sig, QuantumNonce: nonce, KeyID: key.KeyID})
	if err != nil || res.Valid {
		t.Fatalf("salt of 20 bytes: %+v, %v", res, err)
	}
}

// TestVerifyOlderVersionsBound checks that a verification trying a key's
// older versions waits for a slot of its gate, as RSA generation does,
// while one that the latest version settles never does.
func TestVerifyOlderVersionsBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, withRSAConcurrency(1))
	key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
	old := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("old"), KeyID: key.KeyID}))
	must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, key.KeyID))
	cur := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("new"), KeyID: key.KeyID}))

	f.svc.trialGate.all <- struct{}{} // another customer's trial in progress
	if res, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte("new"), Signature: cur.Signature, QuantumNonce: cur.QuantumNonce, KeyID: key.KeyID}); err != nil || !res.Valid {
		t.Fatalf("verify by the latest version beside a full gate: %+v, %v", res, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := f.svc.Verify(cctx, custA, VerifyRequest{Message: []byte("old"), Signature: old.Signature, QuantumNonce: old.QuantumNonce, KeyID: key.KeyID})
		done <- err
	}()
	waitInGate(t, f.svc.trialGate, custA, "a verification trying an older version")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled verification still waits in the gate")
	}
	<-f.svc.trialGate.all
	if res, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte("old"), Signature: old.Signature, QuantumNonce: old.QuantumNonce, KeyID: key.KeyID}); err != nil || !res.Valid || res.KeyVersion != 1 {
		t.Fatalf("verify by version 1 after the slot freed: %+v, %v", res, err)
	}
}

// waitInGate waits until one of customer's calls waits in (or holds a slot
// of) g, failing the test after 10 s: what names the call.
func waitInGate(t *testing.T, g *gate, customer, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		waiting := g.mine[customer] != nil
		g.mu.Unlock()
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never waited in the gate", what)
		}
	}
}

// TestDecryptOlderVersionsBound checks the same of a decrypt that names no
// version: past the latest it waits for the gate, and one naming its
// version, or settled by the latest, never does.
func TestDecryptOlderVersionsBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, withRSAConcurrency(1))
	key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: AES256GCM}))
	old := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("old"), KeyID: key.KeyID}))
	must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, key.KeyID))
	cur := must[*EncryptResponse](t)(f.svc.Encrypt(ctx, custA, EncryptRequest{Plaintext: []byte("new"), KeyID: key.KeyID}))
	req := func(e *EncryptResponse, version int) DecryptRequest {
		return DecryptRequest{Ciphertext: e.Ciphertext, KeyID: key.KeyID, KeyVersion: version, IV: e.IV, Tag: e.Tag}
	}

	f.svc.trialGate.all <- struct{}{} // another customer's search in progress
	for _, r := range []DecryptRequest{req(cur, 0), req(old, 1)} {
		if res, err := f.svc.Decrypt(ctx, custA, r); err != nil || res.KeyVersion != r.KeyVersion && r.KeyVersion != 0 {
			t.Fatalf("decrypt beside a full gate (version %d asked): %+v, %v", r.KeyVersion, res, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Decrypt(cctx, custA, req(old, 0))
		done <- err
	}()
	waitInGate(t, f.svc.trialGate, custA, "a decrypt trying an older version")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Decrypt = %v, want context.Canceled", err)
	}
	<-f.svc.trialGate.all
	if res, err := f.svc.Decrypt(ctx, custA, req(old, 0)); err != nil || res.KeyVersion != 1 {
		t.Fatalf("decrypt by version 1 after the slot freed: %+v, %v", res, err)
	}
}

// TestOlderVersionStopsWhenContextEnds: a search holding its slot stops at
// the next version once its context has ended, freeing the slot for
// clients still waiting.
func TestOlderVersionStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	var release func()
	if err := f.svc.olderVersion(ctx, custA, 2, 3, &release); err != nil || release != nil {
		t.Fatalf("the latest version: %v, slot taken %v", err, release != nil)
	}
	if err := f.svc.olderVersion(ctx, custA, 1, 3, &release); err != nil || release == nil {
		t.Fatalf("the first older version: %v, slot taken %v", err, release != nil)
	}
	cancel()
	if err := f.svc.olderVersion(ctx, custA, 0, 3, &release); !errors.Is(err, context.Canceled) {
		t.Fatalf("after the context ended: %v, want context.Canceled", err)
	}
	release()
}
