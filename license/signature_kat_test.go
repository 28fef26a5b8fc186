package license

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha3"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"strconv"
	"testing"
)

// TestSignatureKnownAnswer computes a license's signature the way SPEC §5
// names it, HMAC-SHA3-512, over the encoding written out here byte by byte
// rather than by Canonical: a change to either the MAC or the encoding
// fails it, and with it every license already issued would stop
// validating.
func TestSignatureKnownAnswer(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{7}, 64)
	l := sampleLicense()

	var want []byte
	str := func(s string) {
		want = binary.BigEndian.AppendUint32(want, uint32(len(s)))
		want = append(want, s...)
	}
	str("quantumlock/license/v1")
	str("QLOCK-7A3F-9B2C-4E1D")
	str("cust_0123456789ab")
	str("alice")
	want = binary.BigEndian.AppendUint32(want, 2)
	str("a")
	str("b")
	str(`{"k":"v"}`)
	want = binary.BigEndian.AppendUint64(want, uint64(l.GeneratedAt.Unix()))
	want = binary.BigEndian.AppendUint64(want, uint64(l.ValidUntil.Unix()))
	want = append(want, 0) // not quantum verified
	str(strconv.FormatUint(math.Float64bits(0.97), 16))
	str("CRYPTOGRAPHIC")
	str("cryptographic")
	if got := Canonical(l); !bytes.Equal(got, want) {
		t.Fatalf("Canonical:\n got %x\nwant %x", got, want)
	}

	m := hmac.New(func() hash.Hash { return sha3.New512() }, secret)
	m.Write(want)
	want2 := hex.EncodeToString(m.Sum(nil))
	if got := Sign(secret, l); got != want2 {
		t.Fatalf("Sign = %s, want HMAC-SHA3-512 %s", got, want2)
	}
	// And the pooled MACs the Service signs and verifies with.
	var pooled macs
	secretOf := func(string) []byte { return secret }
	if got := pooled.sign(l.CustomerID, secretOf, l); got != want2 {
		t.Fatalf("pooled sign = %s, want HMAC-SHA3-512 %s", got, want2)
	}
	l.Signature = want2
	if !pooled.verify(l.CustomerID, secretOf, l) {
		t.Fatal("pooled verify refuses the known answer")
	}
}
