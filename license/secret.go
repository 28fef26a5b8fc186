package license

import (
	"sync"

	"github.com/quantumlock/quantumlock/masterkey"
)

// signingPurpose is the HKDF label of the per-customer license-signing
// keys. Changing it invalidates every license ever issued.
const signingPurpose = "license-signing/v1"

// Secrets returns Service.Secret for master key mk: each customer's
// license-signing key, derived from the master key and the customer id
// with HKDF, cached because it is needed on every validation and never
// changes. The keys must stay secret.
func Secrets(mk *masterkey.Key) func(customerID string) []byte {
	var cache sync.Map
	return func(customerID string) []byte {
		if v, ok := cache.Load(customerID); ok {
			return v.([]byte)
		}
		k := mk.Derive(signingPurpose, customerID, SignatureSize)
		cache.Store(customerID, k)
		return k
	}
}
