package entropy

import (
	"crypto/sha3"
	"encoding/binary"
)

// OSBytes is how many fresh bytes of the OS CSPRNG go into every conditioned
// output besides the source's bytes: 256 bits, so even a source that is
// entirely known to an attacker leaves the output as strong as crypto/rand.
const OSBytes = 32

// conditionLabel separates this use of SHAKE256 from every other.
const conditionLabel = "QuantumLock entropy conditioning v1"

// condition fills dst with SHAKE256 over an unambiguous encoding of the
// label, the source name, the output length, the source's raw bytes and
// fresh OS bytes (SP 800-90B §3.1.5 vetted conditioning with a hash).
// Every variable-length field is length-prefixed so no two different inputs
// encode alike.
func condition(dst []byte, source string, raw, osBytes []byte) {
	var h sha3.SHAKE // the zero value is SHAKE256
	var n [4]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(conditionLabel))
	field([]byte(source))
	binary.BigEndian.PutUint32(n[:], uint32(len(dst)))
	h.Write(n[:])
	field(raw)
	field(osBytes)
	h.Read(dst)
}
