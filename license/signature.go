package license

import (
	"crypto/hmac"
	"crypto/sha3"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"strconv"

	"github.com/quantumlock/quantumlock"
)

// SignatureSize is the length of a license signature in bytes; it is
// rendered as 128 lowercase hex digits.
const SignatureSize = 64

// signingDomain separates license signatures from any other use of the same
// derived key and versions the encoding.
const signingDomain = "quantumlock/license/v1"

func newSHA3512() hash.Hash { return sha3.New512() }

// Canonical returns the unambiguous byte encoding of the license fields the
// signature covers: every string and list is length-prefixed, so no two
// different licenses encode alike. Revocation is not covered: it is state
// that changes after issue.
func Canonical(l *quantumlock.License) []byte {
	b := make([]byte, 0, 256+len(l.Metadata))
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str(signingDomain)
	str(l.Key)
	str(l.CustomerID)
	str(l.EndCustomerID)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Features)))
	for _, f := range l.Features {
		str(f)
	}
	str(string(l.Metadata))
	b = binary.BigEndian.AppendUint64(b, uint64(l.GeneratedAt.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(l.ValidUntil.Unix()))
	if l.QuantumVerified {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if l.Fidelity == nil {
		str("")
	} else {
		str(strconv.FormatUint(math.Float64bits(*l.Fidelity), 16))
	}
	str(l.SecurityLevel)
	str(l.EntropySource)
	return b
}

// Sign returns the license's signature under secret, the customer's
// license-signing key.
func Sign(secret []byte, l *quantumlock.License) string {
	m := hmac.New(newSHA3512, secret)
	m.Write(Canonical(l))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether l.Signature is the signature of l under
// secret, comparing in constant time.
func VerifySignature(secret []byte, l *quantumlock.License) bool {
	got, err := hex.DecodeString(l.Signature)
	if err != nil || len(got) != SignatureSize {
		return false
	}
	m := hmac.New(newSHA3512, secret)
	m.Write(Canonical(l))
	return hmac.Equal(got, m.Sum(nil))
}
