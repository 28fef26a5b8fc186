package license

import "github.com/quantumlock/quantumlock/masterkey"

// signingPurpose is the HKDF label of the per-customer license-signing
// keys. Changing it invalidates every license ever issued.
const signingPurpose = "license-signing/v1"

// Secrets returns Service.Secret for master key mk: each customer's
// license-signing key, derived from the master key and the customer id
// with HKDF. The Service asks once per customer and keeps keyed MAC states
// from then on (see macs), so nothing is cached here. The keys must stay
// secret.
func Secrets(mk *masterkey.Key) func(customerID string) []byte {
	return func(customerID string) []byte {
		return mk.Derive(signingPurpose, customerID, SignatureSize)
	}
}
