package license

import (
	"crypto/hmac"
	"encoding/hex"

	"github.com/quantumlock/quantumlock"
)

// Sign and VerifySignature are the signature written plainly, a new keyed
// HMAC per call: the reference the pooled macs the Service signs with are
// tested against, and the baseline of BenchmarkVerifySignature.

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
	if err != nil || len(got) != SignatureSize || !issuedForm(l) {
		return false
	}
	m := hmac.New(newSHA3512, secret)
	m.Write(Canonical(l))
	return hmac.Equal(got, m.Sum(nil))
}
