package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// sessionTTL is the ten-minute life of SPEC §8.
const sessionTTL = 10 * time.Minute

// newSession returns an unanswered session of the customer created at t0.
func newSession(id, customerID string) *quantumlock.ExchangeSession {
	return &quantumlock.ExchangeSession{
		ID:         id,
		CustomerID: customerID,
		Algorithm:  "X25519MLKEM768",
		KeyBits:    256,
		PublicKey:  []byte("initiator public\x00" + id),
		Sealed:     []byte("sealed private\xff" + id),
		CreatedAt:  t0,
		ExpiresAt:  t0.Add(sessionTTL),
	}
}

// setPeer is SetExchangePeer for any key bits, reporting whether it
// recorded the answer.
func setPeer(st quantumlock.Store, publicKey, peer []byte, now time.Time) (bool, error) {
	_, recorded, err := st.SetExchangePeer(context.Background(), publicKey, peer, 0, now)
	return recorded, err
}

func (s suite) exchangeTests() []test {
	during := t0.Add(sessionTTL / 2)
	return []test{
		{"TakeByID", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			x := newSession("kx_000000000000000000000001", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), x))
			got, err := st.TakeExchangeSession(t.Context(), a.ID, x.ID, nil, during)
			must(t, err)
			sameSession(t, got, x)
			// Single use.
			_, err = st.TakeExchangeSession(t.Context(), a.ID, x.ID, nil, during)
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
		{"TakeByPeer", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			x := newSession("kx_000000000000000000000001", a.ID)
			y := newSession("kx_000000000000000000000002", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), x))
			must(t, st.CreateExchangeSession(t.Context(), y))
			peer := []byte("responder public key")
			_, err := st.TakeExchangeSession(t.Context(), a.ID, "", peer, during)
			wantCode(t, err, quantumlock.ENOTFOUND) // nobody answered yet
			ok, err := setPeer(st, y.PublicKey, peer, during)
			must(t, err)
			if !ok {
				t.Fatal("SetExchangePeer on a fresh session reported false")
			}
			got, err := st.TakeExchangeSession(t.Context(), a.ID, "", peer, during)
			must(t, err)
			y.PeerPublicKey = peer
			sameSession(t, got, y)
			_, err = st.TakeExchangeSession(t.Context(), a.ID, "", peer, during)
			wantCode(t, err, quantumlock.ENOTFOUND)
			// The unanswered session is still there.
			got, err = st.TakeExchangeSession(t.Context(), a.ID, x.ID, nil, during)
			must(t, err)
			sameSession(t, got, x)
		}},
		{"ReadLeavesSession", func(t *testing.T) {
			// ExchangeSession finds what TakeExchangeSession would take,
			// by id or by recorded peer, for the customer only, until
			// expiry, and leaves it in place.
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			x := newSession("kx_000000000000000000000001", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), x))
			for range 2 {
				got, err := st.ExchangeSession(t.Context(), a.ID, x.ID, nil, during)
				must(t, err)
				sameSession(t, got, x)
			}
			peer := []byte("responder public key")
			_, err := st.ExchangeSession(t.Context(), a.ID, "", peer, during)
			wantCode(t, err, quantumlock.ENOTFOUND) // nobody answered yet
			ok, err := setPeer(st, x.PublicKey, peer, during)
			must(t, err)
			if !ok {
				t.Fatal("SetExchangePeer on a fresh session reported false")
			}
			x.PeerPublicKey = peer
			got, err := st.ExchangeSession(t.Context(), a.ID, "", peer, during)
			must(t, err)
			sameSession(t, got, x)
			for _, tc := range []struct {
				customer, id string
				peer         []byte
				now          time.Time
			}{
				{b.ID, x.ID, nil, during},
				{b.ID, "", peer, during},
				{a.ID, x.ID, nil, x.ExpiresAt},
				{a.ID, "", peer, x.ExpiresAt},
				{a.ID, "", nil, during},
			} {
				_, err := st.ExchangeSession(t.Context(), tc.customer, tc.id, tc.peer, tc.now)
				wantCode(t, err, quantumlock.ENOTFOUND)
			}
			got, err = st.TakeExchangeSession(t.Context(), a.ID, x.ID, nil, during)
			must(t, err)
			sameSession(t, got, x)
			_, err = st.ExchangeSession(t.Context(), a.ID, x.ID, nil, during)
			wantCode(t, err, quantumlock.ENOTFOUND) // taken
		}},
		{"TakeNeitherIDNorPeer", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			must(t, st.CreateExchangeSession(t.Context(), newSession("kx_000000000000000000000001", a.ID)))
			_, err := st.TakeExchangeSession(t.Context(), a.ID, "", nil, during)
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
		{"ErrConflict", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			x := newSession("kx_000000000000000000000001", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), x))
			dup := newSession(x.ID, a.ID)
			dup.PublicKey = []byte("another public key")
			wantCode(t, st.CreateExchangeSession(t.Context(), dup), quantumlock.ECONFLICT)
			got, err := st.TakeExchangeSession(t.Context(), a.ID, x.ID, nil, during)
			must(t, err)
			sameSession(t, got, x)
		}},
		{"OtherCustomerIsNotFound", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			x := newSession("kx_000000000000000000000001", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), x))
			// The peer may be anyone, b included: the answer is recorded…
			peer := []byte("b's public key")
			ok, err := setPeer(st, x.PublicKey, peer, during)
			must(t, err)
			if !ok {
				t.Fatal("SetExchangePeer by another customer's peer reported false")
			}
			// …but only a can take the session, by id or by peer.
			_, err = st.TakeExchangeSession(t.Context(), b.ID, x.ID, nil, during)
			wantCode(t, err, quantumlock.ENOTFOUND)
			_, err = st.TakeExchangeSession(t.Context(), b.ID, "", peer, during)
			wantCode(t, err, quantumlock.ENOTFOUND)
			got, err := st.TakeExchangeSession(t.Context(), a.ID, x.ID, nil, during)
			must(t, err)
			x.PeerPublicKey = peer
			sameSession(t, got, x)
		}},
		{"Expired", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			x := newSession("kx_000000000000000000000001", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), x))
			ok, err := setPeer(st, x.PublicKey, []byte("late peer"), x.ExpiresAt)
			must(t, err)
			if ok {
				t.Error("SetExchangePeer at the expiry instant reported true")
			}
			_, err = st.TakeExchangeSession(t.Context(), a.ID, x.ID, nil, x.ExpiresAt)
			wantCode(t, err, quantumlock.ENOTFOUND)
			// Answered in time, taken too late.
			y := newSession("kx_000000000000000000000002", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), y))
			peer := []byte("timely peer")
			ok, err = setPeer(st, y.PublicKey, peer, during)
			must(t, err)
			if !ok {
				t.Fatal("SetExchangePeer before expiry reported false")
			}
			_, err = st.TakeExchangeSession(t.Context(), a.ID, "", peer, y.ExpiresAt.Add(time.Microsecond))
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
		{"ExpiredSwept", func(t *testing.T) {
			// Deleting expired sessions, and creating one, deletes the
			// sessions expired by its time, sealed private values and
			// all: asked again as of before their expiry, they are gone,
			// not merely refused.
			for name, step := range map[string]func(st quantumlock.Store, a *quantumlock.Customer, now time.Time) error{
				"DeleteExpired": func(st quantumlock.Store, _ *quantumlock.Customer, now time.Time) error {
					return st.DeleteExpiredExchangeSessions(t.Context(), now)
				},
				"Create": func(st quantumlock.Store, a *quantumlock.Customer, now time.Time) error {
					y := newSession(fmt.Sprintf("kx_%024d", now.UnixMicro()%1e12), a.ID)
					y.CreatedAt, y.ExpiresAt = now, now.Add(sessionTTL)
					return st.CreateExchangeSession(t.Context(), y)
				},
			} {
				t.Run(name, func(t *testing.T) {
					st := s.store(t)
					a := newCustomer(t, st, "cust_00000000000a")
					x := newSession("kx_000000000000000000000001", a.ID)
					must(t, st.CreateExchangeSession(t.Context(), x))
					must(t, step(st, a, x.ExpiresAt.Add(-time.Microsecond)))
					_, err := st.ExchangeSession(t.Context(), a.ID, x.ID, nil, during)
					must(t, err) // not yet expired: kept
					must(t, step(st, a, x.ExpiresAt))
					_, err = st.ExchangeSession(t.Context(), a.ID, x.ID, nil, during)
					wantCode(t, err, quantumlock.ENOTFOUND)
				})
			}
		}},
		{"SetPeerOnce", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			x := newSession("kx_000000000000000000000001", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), x))
			for i, tc := range []struct {
				publicKey, peer []byte
				want            bool
			}{
				{[]byte("no such session"), []byte("peer one"), false},
				{x.PublicKey, []byte("peer one"), true},
				{x.PublicKey, []byte("peer two"), false}, // answered already
				{x.PublicKey, []byte("peer one"), false},
			} {
				ok, err := setPeer(st, tc.publicKey, tc.peer, during)
				must(t, err)
				if ok != tc.want {
					t.Errorf("call %d: SetExchangePeer = %v, want %v", i, ok, tc.want)
				}
			}
			got, err := st.TakeExchangeSession(t.Context(), a.ID, x.ID, nil, during)
			must(t, err)
			x.PeerPublicKey = []byte("peer one")
			sameSession(t, got, x)
		}},
		{"SetPeerKeyBits", func(t *testing.T) {
			// An answer for other key bits is not recorded; one for any
			// is. Every answer learns the session's key bits, recorded
			// or not, answered before or not; a missing or expired
			// session has none.
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			x := newSession("kx_000000000000000000000001", a.ID)
			x.KeyBits = 128
			must(t, st.CreateExchangeSession(t.Context(), x))
			for i, tc := range []struct {
				keyBits  int
				recorded bool
			}{{256, false}, {192, false}, {128, true}} {
				y := newSession(fmt.Sprintf("kx_00000000000000000000001%d", i), a.ID)
				y.KeyBits = 128
				must(t, st.CreateExchangeSession(t.Context(), y))
				bits, recorded, err := st.SetExchangePeer(t.Context(), y.PublicKey, []byte("peer"), tc.keyBits, during)
				must(t, err)
				if bits != 128 || recorded != tc.recorded {
					t.Errorf("answer with %d bits to a 128-bit session: %d bits, recorded %v; want 128, %v", tc.keyBits, bits, recorded, tc.recorded)
				}
			}
			for i, want := range []bool{true, false} { // the second: answered already
				bits, recorded, err := st.SetExchangePeer(t.Context(), x.PublicKey, []byte(fmt.Sprint("peer ", i)), 0, during)
				must(t, err)
				if bits != 128 || recorded != want {
					t.Errorf("answer %d with any key bits: %d bits, recorded %v; want the session's 128, %v", i+1, bits, recorded, want)
				}
			}
			for _, tc := range []struct {
				publicKey []byte
				at        time.Time
			}{{[]byte("no such session"), during}, {x.PublicKey, x.ExpiresAt}} {
				bits, recorded, err := st.SetExchangePeer(t.Context(), tc.publicKey, []byte("peer"), 0, tc.at)
				must(t, err)
				if bits != 0 || recorded {
					t.Errorf("answer to %q at %v: %d bits, recorded %v; want none", tc.publicKey, tc.at, bits, recorded)
				}
			}
		}},
		{"SetPeerOneWinner", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			x := newSession("kx_000000000000000000000001", a.ID)
			must(t, st.CreateExchangeSession(t.Context(), x))
			const callers = 16
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				won    [][]byte
				others int
			)
			for i := range callers {
				wg.Go(func() {
					peer := []byte(fmt.Sprintf("peer %d", i))
					ok, err := setPeer(st, x.PublicKey, peer, during)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						t.Errorf("SetExchangePeer: %v", err)
					case ok:
						won = append(won, peer)
					default:
						others++
					}
				})
			}
			wg.Wait()
			if len(won) != 1 || others != callers-1 {
				t.Fatalf("%d concurrent answers: %d recorded, %d refused; want 1 and %d", callers, len(won), others, callers-1)
			}
			got, err := st.TakeExchangeSession(t.Context(), a.ID, "", won[0], during)
			must(t, err)
			x.PeerPublicKey = won[0]
			sameSession(t, got, x)
		}},
		{"TakeOneWinner", func(t *testing.T) {
			for _, byPeer := range []bool{false, true} {
				t.Run(map[bool]string{false: "ByID", true: "ByPeer"}[byPeer], func(t *testing.T) {
					t.Parallel()
					st := s.store(t)
					a := newCustomer(t, st, "cust_00000000000a")
					x := newSession("kx_000000000000000000000001", a.ID)
					must(t, st.CreateExchangeSession(t.Context(), x))
					peer := []byte("responder")
					ok, err := setPeer(st, x.PublicKey, peer, during)
					must(t, err)
					if !ok {
						t.Fatal("SetExchangePeer reported false")
					}
					id := x.ID
					if byPeer {
						id = ""
					}
					const callers = 16
					var (
						wg             sync.WaitGroup
						taken, missing atomic.Int64
					)
					for range callers {
						wg.Go(func() {
							got, err := st.TakeExchangeSession(t.Context(), a.ID, id, peer, during)
							switch quantumlock.ErrorCode(err) {
							case "":
								taken.Add(1)
								if got.ID != x.ID {
									t.Errorf("took session %s, want %s", got.ID, x.ID)
								}
							case quantumlock.ENOTFOUND:
								missing.Add(1)
							default:
								t.Errorf("TakeExchangeSession: %v", err)
							}
						})
					}
					wg.Wait()
					if taken.Load() != 1 || missing.Load() != callers-1 {
						t.Errorf("%d concurrent takes: %d got it, %d not found; want 1 and %d", callers, taken.Load(), missing.Load(), callers-1)
					}
				})
			}
		}},
	}
}
