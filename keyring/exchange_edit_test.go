package keyring

import (
	"bytes"
	"context"
	"testing"
)

// An exchange session's seal binds its algorithm and key_bits: a session
// relabelled in the database (another algorithm, fewer bits) fails its
// final step, rather than derive a secret from a value made for something
// else, or panic on a private value of the wrong size.
func TestExchangeSessionEditRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, tc := range []struct {
		name, set string
		value     any
		peerSize  int
	}{
		{"algorithm", "algorithm = ?", MLKEM768, MLKEM768CiphertextSize},
		{"key_bits", "key_bits = ?", 128, 32},
	} {
		a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: X25519}))
		f.exec(t, `UPDATE exchange_sessions SET `+tc.set+` WHERE id = ?`, tc.value, a.SessionID)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s edited: the final step panicked: %v", tc.name, r)
				}
			}()
			peer := make([]byte, tc.peerSize)
			peer[0] = 9 // X25519's base point: a valid public value
			resp, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: peer})
			if err == nil {
				t.Errorf("%s edited: the final step succeeded: %+v", tc.name, resp)
			}
		}()
	}
}

// A session sealed before the algorithm and key_bits were bound, with
// empty attributes (one an older binary began just before this one
// started), still finishes.
func TestExchangeSessionSealedUnboundFinishes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: X25519}))
	sess, err := f.db.ExchangeSession(ctx, custA, a.SessionID, nil, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sc := scope{kindExchange, custA, a.SessionID, 0, exchangeAttrs(sess.Algorithm, sess.KeyBits), sess.PublicKey}
	private, _, err := f.svc.open(sc, sess.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	sc.attrs = keyAttrs{}
	old, err := f.svc.seal(ctx, sc, private, false)
	if err != nil {
		t.Fatal(err)
	}
	f.exec(t, `UPDATE exchange_sessions SET sealed = ? WHERE id = ?`, old, a.SessionID)

	b := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custB, ExchangeRequest{PeerPublicKey: a.PublicKey}))
	fin := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: b.PublicKey}))
	if !bytes.Equal(fin.SharedSecret, b.SharedSecret) {
		t.Fatalf("secrets differ: A %x, B %x", fin.SharedSecret, b.SharedSecret)
	}
}
