package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// newCustomer stores and returns a customer on the free plan without
// overrides.
func newCustomer(t *testing.T, st quantumlock.Store, id string) *quantumlock.Customer {
	t.Helper()
	c := unstoredCustomer(id)
	must(t, st.CreateCustomer(t.Context(), c))
	return c
}

// unstoredCustomer returns the customer newCustomer would store.
func unstoredCustomer(id string) *quantumlock.Customer {
	return &quantumlock.Customer{ID: id, Name: "Vendor " + id, Email: id + "@example.com", Plan: quantumlock.PlanFree, CreatedAt: t0}
}

func (s suite) customerTests() []test {
	return []test{
		{"RoundTrip", func(t *testing.T) {
			st := s.store(t)
			for _, c := range []*quantumlock.Customer{
				{ID: "cust_000000000001", Name: "Plan limits", Email: "a@example.com", Plan: quantumlock.PlanStartup, CreatedAt: t0},
				{ID: "cust_000000000002", Name: "Overrides, unlimited", Email: "b@example.com", Plan: quantumlock.PlanBusiness,
					LicensesPerMonth: ptr[int64](0), RequestsPerMinute: ptr[int64](5000), CreatedAt: t0.Add(time.Microsecond)},
			} {
				must(t, st.CreateCustomer(t.Context(), c))
				got, err := st.Customer(t.Context(), c.ID)
				must(t, err)
				sameCustomer(t, got, c)
			}
		}},
		{"ErrConflict", func(t *testing.T) {
			st := s.store(t)
			c := newCustomer(t, st, "cust_000000000001")
			dup := *c
			dup.Name = "Someone else"
			wantCode(t, st.CreateCustomer(t.Context(), &dup), quantumlock.ECONFLICT)
			got, err := st.Customer(t.Context(), c.ID)
			must(t, err)
			sameCustomer(t, got, c)
		}},
		{"ErrNotFound", func(t *testing.T) {
			st := s.store(t)
			_, err := st.Customer(t.Context(), "cust_000000000404")
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
		{"ListOldestFirst", func(t *testing.T) {
			st := s.store(t)
			cs, err := st.Customers(t.Context())
			must(t, err)
			if len(cs) != 0 {
				t.Fatalf("empty store: Customers returned %d", len(cs))
			}
			// Inserted out of order: the listing follows CreatedAt.
			c2 := &quantumlock.Customer{ID: "cust_000000000002", Name: "Two", Email: "2@example.com", Plan: quantumlock.PlanFree, CreatedAt: t0.Add(2 * time.Hour)}
			c0 := &quantumlock.Customer{ID: "cust_000000000000", Name: "Zero", Email: "0@example.com", Plan: quantumlock.PlanFree, CreatedAt: t0}
			c1 := &quantumlock.Customer{ID: "cust_000000000001", Name: "One", Email: "1@example.com", Plan: quantumlock.PlanEnterprise, CreatedAt: t0.Add(time.Hour)}
			for _, c := range []*quantumlock.Customer{c2, c0, c1} {
				must(t, st.CreateCustomer(t.Context(), c))
			}
			cs, err = st.Customers(t.Context())
			must(t, err)
			want := []*quantumlock.Customer{c0, c1, c2}
			if len(cs) != len(want) {
				t.Fatalf("Customers returned %d, want %d", len(cs), len(want))
			}
			for i := range want {
				sameCustomer(t, cs[i], want[i])
			}
		}},
		{"Update", func(t *testing.T) {
			st := s.store(t)
			c := newCustomer(t, st, "cust_000000000001")
			ctx := t.Context()

			got, err := st.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{Plan: ptr(quantumlock.PlanBusiness)})
			must(t, err)
			c.Plan = quantumlock.PlanBusiness
			sameCustomer(t, got, c)

			got, err = st.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{LicensesPerMonth: ptr[int64](0), RequestsPerMinute: ptr[int64](7)})
			must(t, err)
			c.LicensesPerMonth, c.RequestsPerMinute = ptr[int64](0), ptr[int64](7)
			sameCustomer(t, got, c)

			// Nothing to change leaves everything as it was.
			got, err = st.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{})
			must(t, err)
			sameCustomer(t, got, c)

			// A reset removes one override and keeps the other.
			got, err = st.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{ResetLicensesPerMonth: true, LicensesPerMonth: ptr[int64](5)})
			must(t, err)
			c.LicensesPerMonth = nil
			sameCustomer(t, got, c)
			got, err = st.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{ResetRequestsPerMinute: true})
			must(t, err)
			c.RequestsPerMinute = nil
			sameCustomer(t, got, c)

			got, err = st.Customer(ctx, c.ID)
			must(t, err)
			sameCustomer(t, got, c)
		}},
		{"UpdateErrNotFound", func(t *testing.T) {
			st := s.store(t)
			_, err := st.UpdateCustomer(t.Context(), "cust_000000000404", quantumlock.CustomerUpdate{Plan: ptr(quantumlock.PlanStartup)})
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
	}
}

func newAPIKey(id, customerID string, created time.Time) *quantumlock.APIKey {
	h := sha256.Sum256([]byte("ql_live_secret_" + id))
	return &quantumlock.APIKey{ID: id, CustomerID: customerID, Hash: h[:], Hint: "ql_live_" + id[3:7], CreatedAt: created}
}

func (s suite) apiKeyTests() []test {
	return []test{
		{"RoundTrip", func(t *testing.T) {
			st := s.store(t)
			c := newCustomer(t, st, "cust_000000000001")
			k := newAPIKey("ak_000000000001", c.ID, t0)
			must(t, st.CreateAPIKey(t.Context(), k))
			got, owner, err := st.APIKeyByHash(t.Context(), k.Hash)
			must(t, err)
			sameAPIKey(t, got, k)
			sameCustomer(t, owner, c)
		}},
		{"ByHashReadsCurrentCustomer", func(t *testing.T) {
			st := s.store(t)
			c := newCustomer(t, st, "cust_000000000001")
			k := newAPIKey("ak_000000000001", c.ID, t0)
			must(t, st.CreateAPIKey(t.Context(), k))
			p := quantumlock.PlanEnterprise
			rpm := int64(7)
			_, err := st.UpdateCustomer(t.Context(), c.ID, quantumlock.CustomerUpdate{Plan: &p, RequestsPerMinute: &rpm})
			must(t, err)
			_, owner, err := st.APIKeyByHash(t.Context(), k.Hash)
			must(t, err)
			if owner.Plan != p || owner.RequestsPerMinute == nil || *owner.RequestsPerMinute != 7 {
				t.Fatalf("owner after update: %+v", owner)
			}
		}},
		{"ErrConflict", func(t *testing.T) {
			st := s.store(t)
			c := newCustomer(t, st, "cust_000000000001")
			k := newAPIKey("ak_000000000001", c.ID, t0)
			must(t, st.CreateAPIKey(t.Context(), k))
			t.Run("SameID", func(t *testing.T) {
				dup := newAPIKey("ak_000000000002", c.ID, t0)
				dup.ID = k.ID
				wantCode(t, st.CreateAPIKey(t.Context(), dup), quantumlock.ECONFLICT)
			})
			t.Run("SameHash", func(t *testing.T) {
				dup := newAPIKey("ak_000000000003", c.ID, t0)
				dup.Hash = k.Hash
				wantCode(t, st.CreateAPIKey(t.Context(), dup), quantumlock.ECONFLICT)
			})
		}},
		{"CustomerWithKey", func(t *testing.T) {
			st := s.store(t)
			c := unstoredCustomer("cust_000000000001")
			k := newAPIKey("ak_000000000001", c.ID, t0)
			must(t, st.CreateCustomerWithKey(t.Context(), c, k))
			got, owner, err := st.APIKeyByHash(t.Context(), k.Hash)
			must(t, err)
			sameAPIKey(t, got, k)
			sameCustomer(t, owner, c)
		}},
		{"CustomerWithKeyBothOrNeither", func(t *testing.T) {
			st := s.store(t)
			old := newCustomer(t, st, "cust_000000000001")
			taken := newAPIKey("ak_000000000001", old.ID, t0)
			must(t, st.CreateAPIKey(t.Context(), taken))
			// The key's hash is taken: the new customer is not stored
			// either.
			c := unstoredCustomer("cust_000000000002")
			k := newAPIKey("ak_000000000002", c.ID, t0)
			k.Hash = taken.Hash
			wantCode(t, st.CreateCustomerWithKey(t.Context(), c, k), quantumlock.ECONFLICT)
			_, err := st.Customer(t.Context(), c.ID)
			wantCode(t, err, quantumlock.ENOTFOUND)
			// The customer's id is taken: the key is not stored.
			k2 := newAPIKey("ak_000000000003", old.ID, t0)
			wantCode(t, st.CreateCustomerWithKey(t.Context(), old, k2), quantumlock.ECONFLICT)
			_, _, err = st.APIKeyByHash(t.Context(), k2.Hash)
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
		{"ErrCustomerNotFound", func(t *testing.T) {
			st := s.store(t)
			k := newAPIKey("ak_000000000001", "cust_000000000404", t0)
			wantCode(t, st.CreateAPIKey(t.Context(), k), quantumlock.ENOTFOUND)
			_, _, err := st.APIKeyByHash(t.Context(), k.Hash)
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
		{"ErrNotFound", func(t *testing.T) {
			st := s.store(t)
			c := newCustomer(t, st, "cust_000000000001")
			must(t, st.CreateAPIKey(t.Context(), newAPIKey("ak_000000000001", c.ID, t0)))
			_, _, err := st.APIKeyByHash(t.Context(), newAPIKey("ak_000000000404", c.ID, t0).Hash)
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
		{"ListPerCustomerOldestFirst", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			a2 := newAPIKey("ak_0000000000a2", a.ID, t0.Add(2*time.Minute))
			b1 := newAPIKey("ak_0000000000b1", b.ID, t0.Add(time.Minute))
			a1 := newAPIKey("ak_0000000000a1", a.ID, t0.Add(time.Minute))
			for _, k := range []*quantumlock.APIKey{a2, b1, a1} {
				must(t, st.CreateAPIKey(t.Context(), k))
			}
			for _, tc := range []struct {
				customer string
				want     []*quantumlock.APIKey
			}{
				{a.ID, []*quantumlock.APIKey{a1, a2}},
				{b.ID, []*quantumlock.APIKey{b1}},
				{"cust_000000000404", nil},
			} {
				ks, err := st.APIKeys(t.Context(), tc.customer)
				must(t, err)
				if len(ks) != len(tc.want) {
					t.Fatalf("APIKeys(%s) returned %d, want %d", tc.customer, len(ks), len(tc.want))
				}
				for i := range tc.want {
					sameAPIKey(t, ks[i], tc.want[i])
				}
			}
		}},
		{"RevokeIdempotent", func(t *testing.T) {
			st := s.store(t)
			c := newCustomer(t, st, "cust_000000000001")
			k := newAPIKey("ak_000000000001", c.ID, t0)
			must(t, st.CreateAPIKey(t.Context(), k))
			first := t0.Add(time.Hour)
			got, err := st.RevokeAPIKey(t.Context(), k.ID, first)
			must(t, err)
			k.RevokedAt = &first
			sameAPIKey(t, got, k)
			// A second revocation keeps the first time.
			got, err = st.RevokeAPIKey(t.Context(), k.ID, first.Add(time.Hour))
			must(t, err)
			sameAPIKey(t, got, k)
			// Lookups still find a revoked key: the caller decides.
			got, _, err = st.APIKeyByHash(t.Context(), k.Hash)
			must(t, err)
			sameAPIKey(t, got, k)
		}},
		{"RevokeErrNotFound", func(t *testing.T) {
			st := s.store(t)
			_, err := st.RevokeAPIKey(t.Context(), "ak_000000000404", t0)
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
	}
}
