package keyring

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// TestMLKEM768KnownAnswers checks the initiator's ML-KEM-768 share made
// from a seed d‖z against NIST's ACVP keyGen vectors, and the standard
// library's encapsulation against the encapDecap vectors.
func TestMLKEM768KnownAnswers(t *testing.T) {
	t.Parallel()
	var file struct {
		KeyGen []struct{ D, Z, EK string }
		Encap  []struct{ EK, M, C, K string }
	}
	readJSON(t, "mlkem768_acvp.json", &file)
	if len(file.KeyGen) == 0 || len(file.Encap) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.KeyGen {
		share, err := initiatorShare(MLKEM768, append(unhex(t, v.D), unhex(t, v.Z)...))
		if err != nil || !bytes.Equal(share, unhex(t, v.EK)) {
			t.Fatalf("keyGen d=%s: %v", v.D, err)
		}
	}
	for _, v := range file.Encap {
		ek, err := mlkem.NewEncapsulationKey768(unhex(t, v.EK))
		if err != nil {
			t.Fatal(err)
		}
		k, c, err := mlkemtest.Encapsulate768(ek, unhex(t, v.M))
		if err != nil || !bytes.Equal(k, unhex(t, v.K)) || !bytes.Equal(c, unhex(t, v.C)) {
			t.Fatalf("encap m=%s: %v", v.M, err)
		}
	}
}

func TestKeyExchange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range ExchangeAlgorithms {
		for _, bits := range []int{0, 128, 192, 256} {
			t.Run(fmt.Sprintf("%s/%d", alg, bits), func(t *testing.T) {
				t.Parallel()
				want := bits
				if want == 0 {
					want = 256
				}
				a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg, KeyBits: bits}))
				if a.SharedSecret != nil || a.Algorithm != alg || a.KeyBits != want || len(a.PublicKey) != initiatorShareSize(alg) ||
					!a.ExpiresAt.Equal(f.clock.Now().Add(SessionTTL)) {
					t.Fatalf("initiate: %+v", a)
				}
				// B is told only A's public key; the algorithm follows from its size.
				b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey, KeyBits: bits}))
				if b.Algorithm != alg || len(b.SharedSecret) != want/8 || len(b.PublicKey) != responderShareSize(alg) || b.SessionID == a.SessionID {
					t.Fatalf("respond: %+v", b)
				}
				fin := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{PeerPublicKey: b.PublicKey, KeyBits: bits}))
				if !bytes.Equal(fin.SharedSecret, b.SharedSecret) || fin.SessionID != a.SessionID || !bytes.Equal(fin.PublicKey, a.PublicKey) {
					t.Fatalf("secrets differ: A %x, B %x", fin.SharedSecret, b.SharedSecret)
				}
				// Single use.
				_, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID})
				wantCode(t, err, quantumlock.ENOTFOUND)
			})
		}
	}
}

// TestKeyExchangeResponderKeyBits: a responder that names no key bits
// takes the initiator's, so the two secrets agree, also when the session
// has an answer already; one that names others
// is not recorded as the answer, so the initiator's finish by its value
// fails instead of returning a secret that differs from the responder's.
func TestKeyExchangeResponderKeyBits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range ExchangeAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg, KeyBits: 128}))
			b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
			if b.KeyBits != 128 || len(b.SharedSecret) != 16 {
				t.Fatalf("responder naming no key bits: %d bits, %d bytes", b.KeyBits, len(b.SharedSecret))
			}
			fin := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{PeerPublicKey: b.PublicKey}))
			if !bytes.Equal(fin.SharedSecret, b.SharedSecret) {
				t.Fatalf("secrets differ: A %x, B %x", fin.SharedSecret, b.SharedSecret)
			}

			a = must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg, KeyBits: 128}))
			b = must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey, KeyBits: 256}))
			if b.KeyBits != 256 {
				t.Fatalf("responder naming 256 bits got %d", b.KeyBits)
			}
			if alg != X25519 { // an X25519 answer of the same size would start a new exchange
				_, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{PeerPublicKey: b.PublicKey})
				wantCode(t, err, quantumlock.ENOTFOUND)
			}

			// Also once the session has an answer: B's retry after its
			// first answer was lost, or B after a third customer
			// answered first. B used to derive with the default 256
			// bits there, while A finished with the session's 128.
			for _, first := range []string{custB, custC} {
				a = must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg, KeyBits: 128}))
				must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, first, ExchangeRequest{PeerPublicKey: a.PublicKey}))
				b = must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
				fin = must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey}))
				if !bytes.Equal(fin.SharedSecret, b.SharedSecret) {
					t.Fatalf("answered first by %s: A (%d bits) and B (%d bits) disagree", first, fin.KeyBits, b.KeyBits)
				}
			}
		})
	}
}

func TestKeyExchangeBySessionID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{}))
	if a.Algorithm != X25519MLKEM768 || a.KeyBits != 256 {
		t.Fatalf("defaults: %+v", a)
	}
	b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey, Algorithm: X25519MLKEM768}))
	// The session id alone is not enough: the recorded answer could be
	// anyone's. The session survives the refusal.
	_, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID})
	wantCode(t, err, quantumlock.EINVALID)
	fin := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey}))
	if !bytes.Equal(fin.SharedSecret, b.SharedSecret) {
		t.Fatal("secrets differ")
	}
}

// TestKeyExchangeAnswerRace checks that a third customer who answers A's
// public value before B cannot take B's place: A finishes with B's value
// and shares its secret with B, not with C.
func TestKeyExchangeAnswerRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range ExchangeAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg}))
			c := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custC, ExchangeRequest{PeerPublicKey: a.PublicKey}))
			b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
			fin := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey}))
			if !bytes.Equal(fin.SharedSecret, b.SharedSecret) || bytes.Equal(fin.SharedSecret, c.SharedSecret) {
				t.Fatal("A's secret is not B's, or is C's")
			}
		})
	}
}

// TestKeyExchangeOutsidePeer plays B with the plain libraries and the
// derivation docs/crypto.md gives, to show the formats are what they say.
func TestKeyExchangeOutsidePeer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range ExchangeAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg, KeyBits: 192}))
			var share, raw []byte
			if alg != X25519 {
				ek, err := mlkem.NewEncapsulationKey768(a.PublicKey[:mlkem.EncapsulationKeySize768])
				if err != nil {
					t.Fatal(err)
				}
				ss, ct := ek.Encapsulate()
				share, raw = append(share, ct...), append(raw, ss...)
			}
			if alg != MLKEM768 {
				k, _ := ecdh.X25519().GenerateKey(rand.Reader)
				peer, err := ecdh.X25519().NewPublicKey(a.PublicKey[len(a.PublicKey)-32:])
				if err != nil {
					t.Fatal(err)
				}
				ss, _ := k.ECDH(peer)
				share, raw = append(share, k.PublicKey().Bytes()...), append(raw, ss...)
			}
			info := []byte("QuantumLock key exchange v1\x00" + alg + "\x00")
			info = binary.BigEndian.AppendUint16(info, 192)
			info = binary.BigEndian.AppendUint32(info, uint32(len(a.PublicKey)))
			info = append(info, a.PublicKey...)
			info = binary.BigEndian.AppendUint32(info, uint32(len(share)))
			info = append(info, share...)
			want, err := hkdf.Key(sha256.New, raw, nil, string(info), 24)
			if err != nil {
				t.Fatal(err)
			}
			// Nothing recorded B's answer, so A names its session.
			fin := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: share}))
			if !bytes.Equal(fin.SharedSecret, want) {
				t.Fatalf("service %x, outside peer %x", fin.SharedSecret, want)
			}
		})
	}
}

// TestKeyExchangeThirdCustomer checks a customer who learns both public
// values gets neither the session nor the secret.
func TestKeyExchangeThirdCustomer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, alg := range ExchangeAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg}))
			b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))

			_, err := f.svc.KeyExchange(ctx, custC, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey})
			wantCode(t, err, quantumlock.ENOTFOUND)
			_, err = f.svc.KeyExchange(ctx, custC, ExchangeRequest{SessionID: a.SessionID})
			wantCode(t, err, quantumlock.ENOTFOUND)
			// With B's value alone C is at best a new responder to it.
			if c, err := f.svc.KeyExchange(ctx, custC, ExchangeRequest{PeerPublicKey: b.PublicKey}); err == nil {
				if bytes.Equal(c.SharedSecret, b.SharedSecret) {
					t.Fatal("C derived the shared secret from B's public value")
				}
			} else {
				wantCode(t, err, quantumlock.ENOTFOUND)
			}
			// Answering A's key again gives C its own secret, and does not
			// displace B's recorded answer.
			c := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custC, ExchangeRequest{PeerPublicKey: a.PublicKey}))
			if bytes.Equal(c.SharedSecret, b.SharedSecret) {
				t.Fatal("C's secret equals A and B's")
			}
			fin := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey}))
			if !bytes.Equal(fin.SharedSecret, b.SharedSecret) {
				t.Fatal("A's secret differs from B's after C's attempts")
			}
		})
	}
}

func TestKeyExchangeExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: X25519}))
	b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
	f.clock.Add(SessionTTL + time.Second)
	_, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey})
	wantCode(t, err, quantumlock.ENOTFOUND)
}

func TestKeyExchangeInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: MLKEM768, KeyBits: 128}))
	for name, tc := range map[string]struct {
		req  ExchangeRequest
		code string
	}{
		"ErrAlgorithm":        {ExchangeRequest{Algorithm: "DH"}, quantumlock.EINVALID},
		"ErrKeyBits":          {ExchangeRequest{KeyBits: 512}, quantumlock.EINVALID},
		"ErrPeerSize":         {ExchangeRequest{PeerPublicKey: make([]byte, 31)}, quantumlock.EINVALID},
		"ErrPeerTooLong":      {ExchangeRequest{PeerPublicKey: make([]byte, 5000)}, quantumlock.EINVALID},
		"ErrPeerVsAlgorithm":  {ExchangeRequest{PeerPublicKey: a.PublicKey, Algorithm: X25519}, quantumlock.EINVALID},
		"ErrPeerLowOrder":     {ExchangeRequest{PeerPublicKey: make([]byte, 32)}, quantumlock.EINVALID},
		"ErrUnknownSession":   {ExchangeRequest{SessionID: "kx_000000000000000000000000"}, quantumlock.ENOTFOUND},
		"ErrUnansweredCipher": {ExchangeRequest{PeerPublicKey: make([]byte, MLKEM768CiphertextSize)}, quantumlock.ENOTFOUND},
	} {
		_, err := f.svc.KeyExchange(ctx, custB, tc.req)
		if quantumlock.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	// Mistakes in the final step leave the session usable.
	b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey, KeyBits: 128}))
	for name, req := range map[string]ExchangeRequest{
		// With B's value, so that only the mismatch can refuse them.
		"ErrKeyBitsVsSession":   {SessionID: a.SessionID, PeerPublicKey: b.PublicKey, KeyBits: 256},
		"ErrAlgorithmVsSession": {SessionID: a.SessionID, PeerPublicKey: b.PublicKey, Algorithm: X25519},
		"ErrPeerSizeVsSession":  {SessionID: a.SessionID, PeerPublicKey: make([]byte, 32)},
	} {
		_, err := f.svc.KeyExchange(ctx, custA, req)
		if quantumlock.ErrorCode(err) != quantumlock.EINVALID {
			t.Errorf("%s: %v, want %s", name, err, quantumlock.EINVALID)
		}
	}
	fin := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey}))
	if !bytes.Equal(fin.SharedSecret, b.SharedSecret) || len(fin.SharedSecret) != 16 {
		t.Fatal("secrets differ after rejected attempts")
	}
	// So does an X25519 value of low order, which only the computation with
	// the session's private value finds.
	for _, alg := range []string{X25519, X25519MLKEM768} {
		a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg}))
		b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
		lowOrder := make([]byte, responderShareSize(alg))
		_, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: lowOrder})
		if quantumlock.ErrorCode(err) != quantumlock.EINVALID {
			t.Errorf("%s ErrPeerLowOrderVsSession: %v, want %s", alg, err, quantumlock.EINVALID)
		}
		fin, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey})
		if err != nil {
			t.Fatalf("%s: session lost to a rejected final step: %v", alg, err)
		}
		if !bytes.Equal(fin.SharedSecret, b.SharedSecret) {
			t.Fatalf("%s: secrets differ after a rejected final step", alg)
		}
	}
}

func BenchmarkKeyExchange(b *testing.B) {
	for _, alg := range ExchangeAlgorithms {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b)
			for b.Loop() {
				a, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg})
				if err != nil {
					b.Fatal(err)
				}
				r, err := f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{PeerPublicKey: r.PublicKey}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// takeCounter is an ExchangeStore that counts the sessions taken.
type takeCounter struct {
	quantumlock.ExchangeStore
	takes atomic.Int32
}

func (s *takeCounter) TakeExchangeSession(ctx context.Context, customerID, id string, peer []byte, now time.Time) (*quantumlock.ExchangeSession, error) {
	s.takes.Add(1)
	return s.ExchangeStore.TakeExchangeSession(ctx, customerID, id, peer, now)
}

// A final step the request is at fault for never takes the session out of
// the store, not even for a moment (it used to take it and put it back): a
// responder answering meanwhile would not have found it, and derived with
// its own key bits instead of the initiator's, and a correct final step
// would have been told the session was gone. After the mistakes the
// responder takes the initiator's key bits, and the final step finishes.
func TestKeyExchangeMistakeLeavesSession(t *testing.T) {
	t.Parallel()
	for _, alg := range ExchangeAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t)
			store := &takeCounter{ExchangeStore: f.db}
			svc := f.service(t, f.db, f.mk, func(c *Config) { c.Exchanges = store })
			a := must[*ExchangeResponse](t)(svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: alg, KeyBits: 128}))
			other := X25519
			if alg == X25519 {
				other = MLKEM768
			}
			zeros := make([]byte, responderShareSize(alg))
			mistakes := []ExchangeRequest{
				{SessionID: a.SessionID}, // a poll: no peer value
				{SessionID: a.SessionID, PeerPublicKey: zeros[:5]},
				{SessionID: a.SessionID, PeerPublicKey: zeros, KeyBits: 256},
				{SessionID: a.SessionID, PeerPublicKey: zeros, Algorithm: other},
			}
			if alg != MLKEM768 {
				// An X25519 value of low order, found only by computing.
				mistakes = append(mistakes, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: zeros})
			}
			for _, m := range mistakes {
				_, err := svc.KeyExchange(ctx, custA, m)
				wantCode(t, err, quantumlock.EINVALID)
			}
			if n := store.takes.Load(); n != 0 {
				t.Fatalf("%d mistaken final steps took the session %d times", len(mistakes), n)
			}
			b := must[*ExchangeResponse](t)(svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
			if b.KeyBits != 128 {
				t.Errorf("the responder derived %d bits; the session was initiated with 128", b.KeyBits)
			}
			fin := must[*ExchangeResponse](t)(svc.KeyExchange(ctx, custA, ExchangeRequest{PeerPublicKey: b.PublicKey}))
			if fin.SessionID != a.SessionID || !bytes.Equal(fin.SharedSecret, b.SharedSecret) {
				t.Errorf("final step answered as session %s (initiated %s), secrets equal: %v", fin.SessionID, a.SessionID, bytes.Equal(fin.SharedSecret, b.SharedSecret))
			}
			if n := store.takes.Load(); n != 1 {
				t.Errorf("the final step took the session %d times", n)
			}
		})
	}
}

// A final step after expiry is NOT_FOUND and deletes the session, sealed
// private value and all, rather than leave it until someone else's step.
func TestKeyExchangeLateFinishDeletesSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	created := f.clock.Now()
	a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: X25519}))
	b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
	f.clock.Add(SessionTTL)
	_, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey})
	wantCode(t, err, quantumlock.ENOTFOUND)
	// Asked as of its creation, the session is gone, not merely expired.
	if _, err := f.db.ExchangeSession(ctx, custA, a.SessionID, nil, created); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
		t.Errorf("the expired session is still stored: %v", err)
	}
}

// A final step by the peer's value alone after expiry deletes its session
// too: it finds no session, is then taken for a responder's step and
// refused, and the sweep before that has deleted the expired one.
func TestKeyExchangeLateFinishByPeerDeletesSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	created := f.clock.Now()
	a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{}))
	b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
	f.clock.Add(SessionTTL)
	if _, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{PeerPublicKey: b.PublicKey}); err == nil {
		t.Fatal("a final step after expiry succeeded")
	}
	if _, err := f.db.ExchangeSession(ctx, custA, a.SessionID, nil, created); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
		t.Errorf("the expired session is still stored: %v", err)
	}
}
