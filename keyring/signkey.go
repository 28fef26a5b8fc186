package keyring

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha3"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"filippo.io/edwards25519"
	"github.com/cloudflare/circl/pki"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// Sizes of the signature algorithms' values. RSA sizes depend on the key.
const (
	Ed25519PublicKeySize = ed25519.PublicKeySize
	Ed25519SignatureSize = ed25519.SignatureSize
	MLDSA65PublicKeySize = mldsa65.PublicKeySize
	MLDSA65SignatureSize = mldsa65.SignatureSize
	// HybridPublicKeySize is the raw hybrid public key: the Ed25519 key
	// followed by the ML-DSA-65 key.
	HybridPublicKeySize = Ed25519PublicKeySize + MLDSA65PublicKeySize
	// HybridSignatureSize is the hybrid signature: the Ed25519 signature
	// followed by the ML-DSA-65 signature, both over the same bytes.
	HybridSignatureSize = Ed25519SignatureSize + MLDSA65SignatureSize

	// MinRSABits and MaxRSABits bound RSA public keys accepted by Verify.
	MinRSABits = 2048
	MaxRSABits = 8192
)

// pssOptions are the RSASSA-PSS parameters of SHA3-512-RSA: salt as long as
// the hash (64 bytes); MGF1 uses the same hash, as crypto/rsa always does.
var pssOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA3_512}

// signingKey is an opened signature key. It is secret.
type signingKey struct {
	alg    string // key algorithm
	rsa    *rsa.PrivateKey
	ed     ed25519.PrivateKey
	ml     *mldsa65.PrivateKey
	public *publicKey
}

// newSigningKey rebuilds a signature key from its material: the 32-byte
// Ed25519 seed (RFC 8032 §5.1.5), the 32-byte ML-DSA-65 seed ξ (FIPS 204
// Algorithm 6), both concatenated for the hybrid, or PKCS #8 DER for RSA.
func newSigningKey(alg string, material []byte) (*signingKey, error) {
	sk := &signingKey{alg: alg, public: &publicKey{alg: alg}}
	switch alg {
	case Ed25519:
		if len(material) != ed25519.SeedSize {
			return nil, errors.New("keyring: bad Ed25519 seed")
		}
		sk.ed = ed25519.NewKeyFromSeed(material)
	case MLDSA65:
		if len(material) != mldsa65.SeedSize {
			return nil, errors.New("keyring: bad ML-DSA-65 seed")
		}
		sk.ml = mldsaFromSeed(material)
	case Ed25519MLDSA65:
		if len(material) != ed25519.SeedSize+mldsa65.SeedSize {
			return nil, errors.New("keyring: bad hybrid seed")
		}
		sk.ed = ed25519.NewKeyFromSeed(material[:ed25519.SeedSize])
		sk.ml = mldsaFromSeed(material[ed25519.SeedSize:])
	case RSA2048, RSA3072, RSA4096:
		k, err := x509.ParsePKCS8PrivateKey(material)
		if err != nil {
			return nil, fmt.Errorf("keyring: RSA key: %w", err)
		}
		r, ok := k.(*rsa.PrivateKey)
		if !ok || r.N.BitLen() != keyAlgs[alg].rsaBits {
			return nil, errors.New("keyring: RSA key does not match its algorithm")
		}
		sk.rsa = r
		sk.public.rsa = &r.PublicKey
		der, err := x509.MarshalPKIXPublicKey(&r.PublicKey)
		if err != nil {
			return nil, err
		}
		sk.public.raw = der
		return sk, nil
	default:
		return nil, fmt.Errorf("keyring: %q is not a signature key", alg)
	}
	if sk.ed != nil {
		sk.public.ed = sk.ed.Public().(ed25519.PublicKey)
		sk.public.raw = append(sk.public.raw, sk.public.ed...)
	}
	if sk.ml != nil {
		sk.public.ml = sk.ml.Public().(*mldsa65.PublicKey)
		sk.public.raw = append(sk.public.raw, sk.public.ml.Bytes()...)
	}
	return sk, nil
}

func mldsaFromSeed(seed []byte) *mldsa65.PrivateKey {
	var s [mldsa65.SeedSize]byte
	copy(s[:], seed)
	_, sk := mldsa65.NewKeyFromSeed(&s)
	clear(s[:])
	return sk
}

// sign signs data (the nonce followed by the message).
func (sk *signingKey) sign(data []byte) ([]byte, error) {
	if sk.rsa != nil {
		digest := sha3.Sum512(data)
		// Go 1.26 always signs with its own secure randomness here.
		return rsa.SignPSS(rand.Reader, sk.rsa, crypto.SHA3_512, digest[:], pssOptions)
	}
	var sig []byte
	if sk.ed != nil {
		sig = append(sig, ed25519.Sign(sk.ed, data)...)
	}
	if sk.ml != nil {
		ms := make([]byte, mldsa65.SignatureSize)
		// Hedged signing (FIPS 204 §3.4) with an empty context.
		if err := mldsa65.SignTo(sk.ml, data, nil, true, ms); err != nil {
			return nil, err
		}
		sig = append(sig, ms...)
	}
	return sig, nil
}

// privatePEM encodes the key as PEM PKCS #8 (RFC 5208): RSA and Ed25519
// (RFC 8410) as the standard library writes them, ML-DSA-65 in the seed
// form of RFC 9881; the hybrid as two blocks, Ed25519 first.
func (sk *signingKey) privatePEM() (string, error) {
	var ders [][]byte
	switch {
	case sk.rsa != nil:
		der, err := x509.MarshalPKCS8PrivateKey(sk.rsa)
		if err != nil {
			return "", err
		}
		ders = append(ders, der)
	default:
		if sk.ed != nil {
			der, err := x509.MarshalPKCS8PrivateKey(sk.ed)
			if err != nil {
				return "", err
			}
			ders = append(ders, der)
		}
		if sk.ml != nil {
			der, err := pki.MarshalPKIXPrivateKey(sk.ml)
			if err != nil {
				return "", err
			}
			ders = append(ders, der)
		}
	}
	var b strings.Builder
	for _, der := range ders {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	return b.String(), nil
}

// publicKey is a signature verification key. raw is keyring's stored
// encoding (quantumlock.KeyVersion.PublicKey): PKIX DER for RSA, the raw
// 32-byte Ed25519 key, the raw 1952-byte ML-DSA-65 key (FIPS 204 pkEncode),
// or the two raw keys concatenated, Ed25519 first, for the hybrid.
type publicKey struct {
	alg string // key algorithm; for keys given to Verify RSA is "RSA"
	raw []byte
	rsa *rsa.PublicKey
	ed  ed25519.PublicKey
	ml  *mldsa65.PublicKey
}

// sigAlg is the signature algorithm the key verifies.
func (p *publicKey) sigAlg() string {
	if p.rsa != nil {
		return SHA3512RSA
	}
	return p.alg
}

// storedPublicKey parses a stored public key of key algorithm alg.
func storedPublicKey(alg string, raw []byte) (*publicKey, error) {
	p, err := rawPublicKey(raw, keyAlgs[alg].rsaBits != 0)
	if err != nil {
		return nil, err
	}
	if p.sigAlg() != sigAlgFor(alg) {
		return nil, fmt.Errorf("keyring: stored public key does not match algorithm %s", alg)
	}
	p.alg = alg
	return p, nil
}

// rawPublicKey parses keyring's raw encoding, told apart by length, or a
// PKIX DER RSA key when isRSA.
func rawPublicKey(raw []byte, isRSA bool) (*publicKey, error) {
	p := &publicKey{raw: bytes.Clone(raw)}
	if isRSA {
		k, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			return nil, err
		}
		r, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("not an RSA public key")
		}
		if b := r.N.BitLen(); b < MinRSABits || b > MaxRSABits {
			return nil, fmt.Errorf("RSA key of %d bits; want %d to %d", b, MinRSABits, MaxRSABits)
		}
		p.alg, p.rsa = "RSA", r
		return p, nil
	}
	switch len(raw) {
	case Ed25519PublicKeySize:
		p.alg, p.ed = Ed25519, ed25519.PublicKey(p.raw)
	case MLDSA65PublicKeySize:
		p.alg, p.ml = MLDSA65, new(mldsa65.PublicKey)
		if err := p.ml.UnmarshalBinary(p.raw); err != nil {
			return nil, err
		}
	case HybridPublicKeySize:
		p.alg, p.ed, p.ml = Ed25519MLDSA65, ed25519.PublicKey(p.raw[:Ed25519PublicKeySize]), new(mldsa65.PublicKey)
		if err := p.ml.UnmarshalBinary(p.raw[Ed25519PublicKeySize:]); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%d bytes is not an Ed25519, ML-DSA-65 or hybrid public key", len(raw))
	}
	return p, nil
}

// verify reports whether sig is a valid signature of data under p. For the
// hybrid both halves must verify.
func (p *publicKey) verify(data, sig []byte) bool {
	switch {
	case p.rsa != nil:
		if len(sig) != p.rsa.Size() {
			return false
		}
		digest := sha3.Sum512(data)
		return rsa.VerifyPSS(p.rsa, crypto.SHA3_512, digest[:], sig, pssOptions) == nil
	case p.ed != nil && p.ml != nil:
		if len(sig) != HybridSignatureSize {
			return false
		}
		okEd := ed25519.Verify(p.ed, data, sig[:Ed25519SignatureSize])
		okML := mldsa65.Verify(p.ml, data, nil, sig[Ed25519SignatureSize:])
		return okEd && okML
	case p.ed != nil:
		return len(sig) == Ed25519SignatureSize && ed25519.Verify(p.ed, data, sig)
	case p.ml != nil:
		return len(sig) == MLDSA65SignatureSize && mldsa65.Verify(p.ml, data, nil, sig)
	}
	return false
}

// pem encodes p as PEM SubjectPublicKeyInfo (RFC 5280): RSA (RFC 8017 key
// in rsaEncryption SPKI), Ed25519 (RFC 8410), ML-DSA-65 (RFC 9881,
// id-ml-dsa-65); the hybrid as two blocks, Ed25519 first.
func (p *publicKey) pem() string {
	var ders [][]byte
	if p.rsa != nil {
		ders = append(ders, p.raw)
	}
	if p.ed != nil {
		der, err := x509.MarshalPKIXPublicKey(p.ed)
		if err != nil {
			panic("keyring: " + err.Error()) // cannot fail for a valid key
		}
		ders = append(ders, der)
	}
	if p.ml != nil {
		der, err := pki.MarshalPKIXPublicKey(p.ml)
		if err != nil {
			panic("keyring: " + err.Error())
		}
		ders = append(ders, der)
	}
	var b strings.Builder
	for _, der := range ders {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return b.String()
}

// parsePublicKey parses a public key given to Verify: PEM SPKI as pem
// writes it (one block, or two for the hybrid: Ed25519 then ML-DSA-65), or
// standard base64 of keyring's raw encoding (RSA: PKIX DER).
func parsePublicKey(s string) (*publicKey, error) {
	p, err := parseAnyPublicKey(s)
	if err != nil {
		return nil, err
	}
	if p.ed != nil {
		if err := checkEd25519(p.ed); err != nil {
			return nil, invalid("public_key: %s.", err)
		}
	}
	return p, nil
}

// checkEd25519 refuses an Ed25519 public key that is no point of the
// curve, or a point of small order. crypto/ed25519 verifies with the
// cofactorless equation, under which a small-order key (the identity
// point, say) makes one constant signature valid for every message: a
// "valid" anyone can forge for a key no one holds. X25519 peers of low
// order are refused alike (exchange.go).
func checkEd25519(pk ed25519.PublicKey) error {
	p, err := new(edwards25519.Point).SetBytes(pk)
	if err != nil {
		return errors.New("not a point of Ed25519's curve")
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return errors.New("Ed25519 public key of small order")
	}
	return nil
}

// parseAnyPublicKey is parsePublicKey without the checks of the point.
func parseAnyPublicKey(s string) (*publicKey, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxPublicKeySize {
		return nil, invalid("public_key: longer than %d bytes.", MaxPublicKeySize)
	}
	if !strings.HasPrefix(s, "-----BEGIN") {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, invalid("public_key: neither PEM nor base64.")
		}
		p, err := rawPublicKey(raw, false)
		if err != nil {
			if p, err = rawPublicKey(raw, true); err != nil {
				return nil, invalid("public_key: not a supported public key.")
			}
		}
		return p, nil
	}
	var parts []*publicKey
	rest := []byte(s)
	for len(bytes.TrimSpace(rest)) > 0 {
		// pem.Decode skips any text before a block and accepts headers;
		// a public key is blocks separated by white space and nothing else.
		rest = bytes.TrimLeft(rest, " \t\r\n")
		var block *pem.Block
		if bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			block, rest = pem.Decode(rest)
		}
		if block == nil || block.Type != "PUBLIC KEY" || len(block.Headers) != 0 || len(parts) == 2 {
			return nil, invalid("public_key: want one PEM PUBLIC KEY block, or two for %s.", Ed25519MLDSA65)
		}
		p, err := spkiPublicKey(block.Bytes)
		if err != nil {
			return nil, invalid("public_key: %s.", err)
		}
		parts = append(parts, p)
	}
	switch {
	case len(parts) == 1:
		return parts[0], nil
	case len(parts) == 2 && parts[0].alg == Ed25519 && parts[1].alg == MLDSA65:
		raw := append(bytes.Clone(parts[0].raw), parts[1].raw...)
		return &publicKey{alg: Ed25519MLDSA65, raw: raw, ed: parts[0].ed, ml: parts[1].ml}, nil
	}
	return nil, invalid("public_key: two blocks must be an Ed25519 key followed by an ML-DSA-65 key.")
}

// spkiPublicKey parses one DER SubjectPublicKeyInfo.
func spkiPublicKey(der []byte) (*publicKey, error) {
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		switch k := k.(type) {
		case *rsa.PublicKey:
			return rawPublicKey(der, true)
		case ed25519.PublicKey:
			return &publicKey{alg: Ed25519, raw: bytes.Clone(k), ed: k}, nil
		}
		return nil, errors.New("unsupported key type")
	}
	k, err := pki.UnmarshalPKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a supported public key")
	}
	ml, ok := k.(*mldsa65.PublicKey)
	if !ok {
		return nil, errors.New("unsupported key type")
	}
	return &publicKey{alg: MLDSA65, raw: ml.Bytes(), ml: ml}, nil
}
