package license

import (
	"bytes"
	"testing"
)

// BenchmarkVerifySignature compares a license verification with a new
// keyed HMAC each time (VerifySignature) against the pooled keyed states
// the Service uses.
func BenchmarkVerifySignature(b *testing.B) {
	secret := bytes.Repeat([]byte{7}, SignatureSize)
	l := sampleLicense()
	l.Signature = Sign(secret, l)
	b.Run("New", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !VerifySignature(secret, l) {
				b.Fatal("does not verify")
			}
		}
	})
	b.Run("Pooled", func(b *testing.B) {
		var m macs
		secretOf := func(string) []byte { return secret }
		b.ReportAllocs()
		for b.Loop() {
			if !m.verify(l.CustomerID, secretOf, l) {
				b.Fatal("does not verify")
			}
		}
	})
}
