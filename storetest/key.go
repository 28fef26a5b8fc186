package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// newKey returns a key of the customer with n versions; asymmetric keys
// carry a public part, symmetric ones none.
func newKey(id, customerID string, created time.Time, n int, asymmetric bool) *quantumlock.Key {
	k := &quantumlock.Key{ID: id, CustomerID: customerID, Algorithm: "AES-256-GCM", Purpose: quantumlock.PurposeEncryption, Label: "label " + id, CreatedAt: created}
	if asymmetric {
		k.Algorithm, k.Purpose, k.Exportable = "Ed25519", quantumlock.PurposeSigning, true
	}
	for v := 1; v <= n; v++ {
		k.Versions = append(k.Versions, newKeyVersion(id, v, asymmetric, created.Add(time.Duration(v-1)*time.Hour)))
	}
	return k
}

func newKeyVersion(id string, v int, asymmetric bool, created time.Time) quantumlock.KeyVersion {
	kv := quantumlock.KeyVersion{Version: v, Sealed: []byte(fmt.Sprintf("sealed\x00%s/%d\xff", id, v)), CreatedAt: created}
	if asymmetric {
		kv.PublicKey = []byte(fmt.Sprintf("public\x00%s/%d", id, v))
	}
	return kv
}

func (s suite) keyTests() []test {
	return []test{
		{"RoundTrip", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			for _, k := range []*quantumlock.Key{
				newKey("key_000000000000000000000001", a.ID, t0, 1, false),
				newKey("key_000000000000000000000002", a.ID, t0, 3, true),
			} {
				must(t, st.CreateKey(t.Context(), k, 0))
				got, err := st.Key(t.Context(), a.ID, k.ID)
				must(t, err)
				sameKey(t, got, k)
			}
		}},
		{"ErrConflict", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			k := newKey("key_000000000000000000000001", a.ID, t0, 1, false)
			must(t, st.CreateKey(t.Context(), k, 0))
			dup := newKey(k.ID, a.ID, t0.Add(time.Hour), 2, true)
			wantCode(t, st.CreateKey(t.Context(), dup, 0), quantumlock.ECONFLICT)
			got, err := st.Key(t.Context(), a.ID, k.ID)
			must(t, err)
			sameKey(t, got, k)
		}},
		{"ErrNotFound", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			_, err := st.Key(t.Context(), a.ID, "key_000000000000000000000404")
			wantCode(t, err, quantumlock.ENOTFOUND)
			err = st.AddKeyVersion(t.Context(), a.ID, "key_000000000000000000000404", newKeyVersion("x", 2, false, t0))
			wantCode(t, err, quantumlock.ENOTFOUND)
			wantCode(t, st.DeleteKey(t.Context(), a.ID, "key_000000000000000000000404"), quantumlock.ENOTFOUND)
		}},
		{"OtherCustomerIsNotFound", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			k := newKey("key_000000000000000000000001", a.ID, t0, 1, true)
			must(t, st.CreateKey(t.Context(), k, 0))
			_, err := st.Key(t.Context(), b.ID, k.ID)
			wantCode(t, err, quantumlock.ENOTFOUND)
			wantCode(t, st.AddKeyVersion(t.Context(), b.ID, k.ID, newKeyVersion(k.ID, 2, true, t0)), quantumlock.ENOTFOUND)
			wantCode(t, st.DeleteKey(t.Context(), b.ID, k.ID), quantumlock.ENOTFOUND)
			ks, total, err := st.Keys(t.Context(), b.ID, 0, 100)
			must(t, err)
			if len(ks) != 0 || total != 0 {
				t.Errorf("Keys(b) returned %d of a's keys (total %d)", len(ks), total)
			}
			// Nothing b tried changed a's key.
			got, err := st.Key(t.Context(), a.ID, k.ID)
			must(t, err)
			sameKey(t, got, k)
		}},
		{"ListPerCustomerOldestFirst", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			a2 := newKey("key_0000000000000000000000a2", a.ID, t0.Add(2*time.Hour), 2, true)
			b1 := newKey("key_0000000000000000000000b1", b.ID, t0, 1, false)
			a1 := newKey("key_0000000000000000000000a1", a.ID, t0.Add(time.Hour), 3, false)
			// Two created at the same instant: in the order of creation.
			a3 := newKey("key_0000000000000000000000a3", a.ID, t0.Add(3*time.Hour), 1, true)
			a4 := newKey("key_0000000000000000000000a0", a.ID, t0.Add(3*time.Hour), 4, false)
			for _, k := range []*quantumlock.Key{a2, b1, a1, a3, a4} {
				must(t, st.CreateKey(t.Context(), k, 0))
			}
			for _, tc := range []struct {
				customer    string
				skip, limit int
				want        []*quantumlock.Key
				total       int64
			}{
				{a.ID, 0, 100, []*quantumlock.Key{a1, a2, a3, a4}, 4},
				{a.ID, 1, 2, []*quantumlock.Key{a2, a3}, 4},
				{a.ID, 3, 2, []*quantumlock.Key{a4}, 4},
				{a.ID, 4, 2, nil, 4},
				{b.ID, 0, 100, []*quantumlock.Key{b1}, 1},
				{"cust_000000000404", 0, 100, nil, 0},
			} {
				ks, total, err := st.Keys(t.Context(), tc.customer, tc.skip, tc.limit)
				must(t, err)
				if len(ks) != len(tc.want) || total != tc.total {
					t.Fatalf("Keys(%s, %d, %d) returned %d of %d, want %d of %d", tc.customer, tc.skip, tc.limit, len(ks), total, len(tc.want), tc.total)
				}
				// A list's entries carry their latest version only.
				for i, k := range tc.want {
					latest := *k
					latest.Versions = k.Versions[len(k.Versions)-1:]
					sameKey(t, ks[i], &latest)
				}
			}
		}},
		{"LimitPerCustomer", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			const max, callers = 5, 16
			var wg sync.WaitGroup
			var made, refused atomic.Int64
			for i := range callers {
				wg.Go(func() {
					k := newKey(fmt.Sprintf("key_%024x", i), a.ID, t0, 1, false)
					switch err := st.CreateKey(t.Context(), k, max); quantumlock.ErrorCode(err) {
					case "":
						made.Add(1)
					case quantumlock.EFORBIDDEN:
						refused.Add(1)
					default:
						t.Errorf("CreateKey: %v", err)
					}
				})
			}
			wg.Wait()
			if made.Load() != max || refused.Load() != callers-max {
				t.Fatalf("%d concurrent creations under a limit of %d: %d made, %d refused", callers, max, made.Load(), refused.Load())
			}
			// The limit is per customer, and a deletion makes room.
			must(t, st.CreateKey(t.Context(), newKey("key_0000000000000000000000b1", b.ID, t0, 1, false), max))
			ks, _, err := st.Keys(t.Context(), a.ID, 0, 100)
			must(t, err)
			must(t, st.DeleteKey(t.Context(), a.ID, ks[0].ID))
			must(t, st.CreateKey(t.Context(), newKey("key_0000000000000000000000a9", a.ID, t0, 1, false), max))
			wantCode(t, st.CreateKey(t.Context(), newKey("key_0000000000000000000000aa", a.ID, t0, 1, false), max), quantumlock.EFORBIDDEN)
		}},
		{"AddVersion", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			k := newKey("key_000000000000000000000001", a.ID, t0, 1, true)
			must(t, st.CreateKey(t.Context(), k, 0))
			v2 := newKeyVersion(k.ID, 2, true, t0.Add(time.Hour))
			must(t, st.AddKeyVersion(t.Context(), a.ID, k.ID, v2))
			k.Versions = append(k.Versions, v2)
			for _, tc := range []struct {
				name    string
				version int
			}{{"Again", 2}, {"Gap", 4}, {"Old", 1}, {"Zero", 0}} {
				t.Run(tc.name, func(t *testing.T) {
					err := st.AddKeyVersion(t.Context(), a.ID, k.ID, newKeyVersion(k.ID, tc.version, true, t0))
					wantCode(t, err, quantumlock.ECONFLICT)
				})
			}
			got, err := st.Key(t.Context(), a.ID, k.ID)
			must(t, err)
			sameKey(t, got, k)
		}},
		{"AddVersionOneWinner", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			k := newKey("key_000000000000000000000001", a.ID, t0, 1, false)
			must(t, st.CreateKey(t.Context(), k, 0))
			const callers = 16
			var (
				wg       sync.WaitGroup
				won      atomic.Int64
				winner   atomic.Int64
				conflict atomic.Int64
			)
			for i := range callers {
				wg.Go(func() {
					v := newKeyVersion(k.ID, 2, false, t0.Add(time.Duration(i)*time.Second))
					switch err := st.AddKeyVersion(t.Context(), a.ID, k.ID, v); quantumlock.ErrorCode(err) {
					case "":
						won.Add(1)
						winner.Store(int64(i))
					case quantumlock.ECONFLICT:
						conflict.Add(1)
					default:
						t.Errorf("AddKeyVersion: %v", err)
					}
				})
			}
			wg.Wait()
			if won.Load() != 1 || conflict.Load() != callers-1 {
				t.Fatalf("%d concurrent rotations: %d won, %d conflicted; want 1 and %d", callers, won.Load(), conflict.Load(), callers-1)
			}
			k.Versions = append(k.Versions, newKeyVersion(k.ID, 2, false, t0.Add(time.Duration(winner.Load())*time.Second)))
			got, err := st.Key(t.Context(), a.ID, k.ID)
			must(t, err)
			sameKey(t, got, k)
		}},
		{"Delete", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			gone := newKey("key_000000000000000000000001", a.ID, t0, 2, true)
			kept := newKey("key_000000000000000000000002", a.ID, t0, 1, false)
			must(t, st.CreateKey(t.Context(), gone, 0))
			must(t, st.CreateKey(t.Context(), kept, 0))
			must(t, st.DeleteKey(t.Context(), a.ID, gone.ID))
			_, err := st.Key(t.Context(), a.ID, gone.ID)
			wantCode(t, err, quantumlock.ENOTFOUND)
			wantCode(t, st.DeleteKey(t.Context(), a.ID, gone.ID), quantumlock.ENOTFOUND)
			wantCode(t, st.AddKeyVersion(t.Context(), a.ID, gone.ID, newKeyVersion(gone.ID, 3, true, t0)), quantumlock.ENOTFOUND)
			ks, total, err := st.Keys(t.Context(), a.ID, 0, 100)
			must(t, err)
			if len(ks) != 1 || total != 1 {
				t.Fatalf("Keys after delete returned %d of %d, want 1", len(ks), total)
			}
			sameKey(t, ks[0], kept)
			// The id is free again, and the new key has none of the old
			// key's versions.
			again := newKey(gone.ID, a.ID, t0.Add(time.Hour), 1, false)
			must(t, st.CreateKey(t.Context(), again, 0))
			got, err := st.Key(t.Context(), a.ID, gone.ID)
			must(t, err)
			sameKey(t, got, again)
		}},
	}
}

func (s suite) nonceTests() []test {
	// Expiry is in the future by the wall clock: a store may forget a nonce
	// once its expiry has passed, and the interface passes it no clock.
	expires := func() time.Time { return time.Now().Add(time.Hour).Truncate(time.Microsecond) }
	return []test{
		{"ConsumeOnce", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			nonce := []byte("0123456789abcdef0123456789abcdef")
			other := []byte("0123456789abcdef0123456789abcdeF")
			for i, tc := range []struct {
				customer string
				nonce    []byte
				want     bool
			}{
				{a.ID, nonce, true},
				{a.ID, nonce, false},     // replay
				{a.ID, other, true},      // another nonce
				{b.ID, nonce, true},      // nonces are per customer
				{b.ID, nonce, false},     // replay at b
				{a.ID, nonce, false},     // still a replay at a
				{a.ID, other, false},     // replay of the other
				{a.ID, nonce[:31], true}, // a prefix is a different nonce
			} {
				got, err := st.ConsumeNonce(t.Context(), tc.customer, tc.nonce, expires())
				must(t, err)
				if got != tc.want {
					t.Errorf("call %d: ConsumeNonce(%s, %x) = %v, want %v", i, tc.customer, tc.nonce, got, tc.want)
				}
			}
		}},
		{"ConsumeOneWinner", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			const callers = 32
			var (
				wg       sync.WaitGroup
				fresh    atomic.Int64
				replayed atomic.Int64
			)
			for range callers {
				wg.Go(func() {
					ok, err := st.ConsumeNonce(t.Context(), a.ID, []byte("the same nonce for everyone"), expires())
					switch {
					case err != nil:
						t.Errorf("ConsumeNonce: %v", err)
					case ok:
						fresh.Add(1)
					default:
						replayed.Add(1)
					}
				})
			}
			wg.Wait()
			if fresh.Load() != 1 || replayed.Load() != callers-1 {
				t.Errorf("%d concurrent calls: %d reported new, %d replay; want 1 and %d", callers, fresh.Load(), replayed.Load(), callers-1)
			}
		}},
	}
}
