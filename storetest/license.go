package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// Periods and quotas used below. The store only enforces the quota it is
// given; which month and limit apply is the caller's business.
const (
	march = "2026-03"
	april = "2026-04"
)

var unlimited = quantumlock.Quota{Period: march}

// licenseKey returns a well-formed license key unique to n.
func licenseKey(n int) string {
	return fmt.Sprintf("QLOCK-%04X-%04X-%04X", n>>32&0xffff, n>>16&0xffff, n&0xffff)
}

// newLicense returns an active license of the customer with no optional
// fields set.
func newLicense(customerID string, n int) *quantumlock.License {
	return &quantumlock.License{
		Key:           licenseKey(n),
		CustomerID:    customerID,
		EndCustomerID: "end-customer",
		Features:      []string{},
		GeneratedAt:   t0,
		ValidUntil:    t0.Add(365 * 24 * time.Hour),
		Signature:     fmt.Sprintf("%0128x", n),
		SecurityLevel: quantumlock.SecurityCryptographic,
		EntropySource: quantumlock.SourceCryptographic,
	}
}

// createLicense stores l without a quota and fails t on error.
func createLicense(t *testing.T, st quantumlock.Store, l *quantumlock.License) {
	t.Helper()
	if _, err := st.CreateLicense(t.Context(), l, unlimited); err != nil {
		t.Fatalf("CreateLicense(%s): %v", l.Key, err)
	}
}

func (s suite) licenseTests() []test {
	return []test{
		{"RoundTrip", s.testLicenseRoundTrip},
		{"ErrConflict", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			l := newLicense(a.ID, 1)
			createLicense(t, st, l)
			// Keys are unique across customers, and a refused insert is not
			// counted against the quota.
			for _, c := range []string{a.ID, b.ID} {
				dup := newLicense(c, 1)
				dup.EndCustomerID = "other"
				_, err := st.CreateLicense(t.Context(), dup, quantumlock.Quota{Period: march, Limit: 10})
				wantCode(t, err, quantumlock.ECONFLICT)
			}
			got, err := st.License(t.Context(), a.ID, l.Key)
			must(t, err)
			sameLicense(t, got, l)
			for _, tc := range []struct {
				customer string
				issued   int64
			}{{a.ID, 1}, {b.ID, 0}} {
				stats, err := st.LicenseStats(t.Context(), tc.customer, march, t0)
				must(t, err)
				if stats.IssuedInPeriod != tc.issued {
					t.Errorf("%s: IssuedInPeriod = %d after a conflict, want %d", tc.customer, stats.IssuedInPeriod, tc.issued)
				}
			}
		}},
		{"ErrNotFound", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			createLicense(t, st, newLicense(a.ID, 1))
			_, err := st.License(t.Context(), a.ID, licenseKey(2))
			wantCode(t, err, quantumlock.ENOTFOUND)
			_, err = st.RevokeLicense(t.Context(), a.ID, licenseKey(2), "reason", t0)
			wantCode(t, err, quantumlock.ENOTFOUND)
		}},
		{"OtherCustomerIsNotFound", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			l := newLicense(a.ID, 1)
			createLicense(t, st, l)
			_, err := st.License(t.Context(), b.ID, l.Key)
			wantCode(t, err, quantumlock.ENOTFOUND)
			_, err = st.RevokeLicense(t.Context(), b.ID, l.Key, "not yours", t0)
			wantCode(t, err, quantumlock.ENOTFOUND)
			page, total, err := st.Licenses(t.Context(), quantumlock.LicenseFilter{CustomerID: b.ID, Now: t0, Limit: 100})
			must(t, err)
			if total != 0 || len(page) != 0 {
				t.Errorf("Licenses(b) = %d licenses, total %d; want none", len(page), total)
			}
			// b's revocation attempt left a's license alone.
			got, err := st.License(t.Context(), a.ID, l.Key)
			must(t, err)
			sameLicense(t, got, l)
		}},
		{"CountsUsage", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			for i, tc := range []struct {
				customer string
				q        quantumlock.Quota
				want     int64
			}{
				{a.ID, quantumlock.Quota{Period: march, Limit: 3}, 1},
				{a.ID, quantumlock.Quota{Period: march}, 2},
				{b.ID, quantumlock.Quota{Period: march, Limit: 3}, 1}, // per customer
				{a.ID, quantumlock.Quota{Period: march, Limit: 3}, 3},
				{a.ID, quantumlock.Quota{Period: april, Limit: 3}, 1}, // per period
			} {
				used, err := st.CreateLicense(t.Context(), newLicense(tc.customer, i), tc.q)
				must(t, err)
				if used != tc.want {
					t.Errorf("license %d: used = %d, want %d", i, used, tc.want)
				}
			}
		}},
		{"QuotaReachedWritesNothing", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			q := quantumlock.Quota{Period: march, Limit: 2}
			for i := range 2 {
				_, err := st.CreateLicense(t.Context(), newLicense(a.ID, i), q)
				must(t, err)
			}
			refused := newLicense(a.ID, 99)
			_, err := st.CreateLicense(t.Context(), refused, q)
			wantCode(t, err, quantumlock.ERATELIMIT)
			_, err = st.License(t.Context(), a.ID, refused.Key)
			wantCode(t, err, quantumlock.ENOTFOUND)
			// A limit lowered below the count refuses too.
			_, err = st.CreateLicense(t.Context(), refused, quantumlock.Quota{Period: march, Limit: 1})
			wantCode(t, err, quantumlock.ERATELIMIT)
			stats, err := st.LicenseStats(t.Context(), a.ID, march, t0)
			must(t, err)
			if want := (quantumlock.LicenseStats{IssuedInPeriod: 2, Total: 2, Active: 2}); stats != want {
				t.Errorf("LicenseStats = %+v, want %+v", stats, want)
			}
			for _, tc := range []struct {
				customer, period string
				want             int64
			}{{a.ID, march, 2}, {a.ID, april, 0}, {"cust_nobody", march, 0}} {
				if n, err := st.LicenseUsage(t.Context(), tc.customer, tc.period); err != nil || n != tc.want {
					t.Errorf("LicenseUsage(%s, %s) = %d, %v; want %d", tc.customer, tc.period, n, err, tc.want)
				}
			}
			// The next month starts afresh.
			used, err := st.CreateLicense(t.Context(), refused, quantumlock.Quota{Period: april, Limit: 2})
			must(t, err)
			if used != 1 {
				t.Errorf("first license of April: used = %d, want 1", used)
			}
		}},
		{"QuotaExactUnderConcurrency", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			const limit, before, callers = 50, 40, 200
			q := quantumlock.Quota{Period: march, Limit: limit}
			for i := range before {
				_, err := st.CreateLicense(t.Context(), newLicense(a.ID, i), q)
				must(t, err)
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				used    []int64
				refused int
			)
			for i := range callers {
				wg.Go(func() {
					n, err := st.CreateLicense(t.Context(), newLicense(a.ID, before+i), q)
					mu.Lock()
					defer mu.Unlock()
					switch quantumlock.ErrorCode(err) {
					case "":
						used = append(used, n)
					case quantumlock.ERATELIMIT:
						refused++
					default:
						t.Errorf("CreateLicense: %v", err)
					}
				})
			}
			wg.Wait()
			slices.Sort(used)
			want := []int64{41, 42, 43, 44, 45, 46, 47, 48, 49, 50}
			if !slices.Equal(used, want) || refused != callers-len(want) {
				t.Errorf("%d callers with %d left: successes saw counts %v and %d were refused; want %v and %d",
					callers, limit-before, used, refused, want, callers-len(want))
			}
			stats, err := st.LicenseStats(t.Context(), a.ID, march, t0)
			must(t, err)
			if want := (quantumlock.LicenseStats{IssuedInPeriod: limit, Total: limit, Active: limit}); stats != want {
				t.Errorf("LicenseStats = %+v, want %+v", stats, want)
			}
			_, total, err := st.Licenses(t.Context(), quantumlock.LicenseFilter{CustomerID: a.ID, Now: t0, Limit: 1})
			must(t, err)
			if total != limit {
				t.Errorf("Licenses total = %d, want %d", total, limit)
			}
		}},
		{"UnlimitedCountsUnderConcurrency", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			const callers = 50
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					if _, err := st.CreateLicense(t.Context(), newLicense(a.ID, i), unlimited); err != nil {
						t.Errorf("CreateLicense: %v", err)
					}
				})
			}
			wg.Wait()
			used, err := st.CreateLicense(t.Context(), newLicense(a.ID, callers), unlimited)
			must(t, err)
			if used != callers+1 {
				t.Errorf("used = %d, want %d", used, callers+1)
			}
		}},
		{"ConcurrentFailuresAreIsolated", func(t *testing.T) {
			// Duplicate keys, spent quotas and missing customers racing with
			// good inserts: each call gets its own answer and the good ones
			// land, whatever the store does to group writes.
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			limitB := quantumlock.Quota{Period: "2026-03", Limit: 5}
			var wg sync.WaitGroup
			var dupOK, bOK, bLimited atomic.Int64
			for i := range 40 {
				wg.Go(func() {
					_, err := st.CreateLicense(t.Context(), newLicense(a.ID, 1000), unlimited)
					switch quantumlock.ErrorCode(err) {
					case "":
						dupOK.Add(1)
					case quantumlock.ECONFLICT:
					default:
						t.Errorf("duplicate key: %v", err)
					}
				})
				wg.Go(func() {
					_, err := st.CreateLicense(t.Context(), newLicense(b.ID, 2000+i), limitB)
					switch quantumlock.ErrorCode(err) {
					case "":
						bOK.Add(1)
					case quantumlock.ERATELIMIT:
						bLimited.Add(1)
					default:
						t.Errorf("quota: %v", err)
					}
				})
				wg.Go(func() {
					_, err := st.CreateLicense(t.Context(), newLicense("cust_000000000404", 3000+i), unlimited)
					if quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
						t.Errorf("missing customer: %v", err)
					}
				})
				wg.Go(func() {
					if _, err := st.CreateLicense(t.Context(), newLicense(a.ID, 4000+i), unlimited); err != nil {
						t.Errorf("good insert: %v", err)
					}
				})
			}
			wg.Wait()
			if dupOK.Load() != 1 || bOK.Load() != 5 || bLimited.Load() != 35 {
				t.Fatalf("duplicate winners %d, quota %d ok / %d limited; want 1, 5/35", dupOK.Load(), bOK.Load(), bLimited.Load())
			}
			sa, err := st.LicenseStats(t.Context(), a.ID, unlimited.Period, t0)
			must(t, err)
			sb, err := st.LicenseStats(t.Context(), b.ID, limitB.Period, t0)
			must(t, err)
			if sa.Total != 41 || sa.IssuedInPeriod != 41 || sb.Total != 5 || sb.IssuedInPeriod != 5 {
				t.Fatalf("stats a %+v, b %+v", sa, sb)
			}
		}},
		{"List", s.testLicenseList},
		{"RevokeIdempotent", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			l := newLicense(a.ID, 1)
			createLicense(t, st, l)
			first := t0.Add(time.Hour)
			got, err := st.RevokeLicense(t.Context(), a.ID, l.Key, "Chargeback.", first)
			must(t, err)
			l.RevokedAt, l.RevocationReason = &first, "Chargeback."
			sameLicense(t, got, l)
			got, err = st.RevokeLicense(t.Context(), a.ID, l.Key, "Changed my mind.", first.Add(time.Hour))
			must(t, err)
			sameLicense(t, got, l)
			got, err = st.License(t.Context(), a.ID, l.Key)
			must(t, err)
			sameLicense(t, got, l)
		}},
		{"Stats", func(t *testing.T) {
			st := s.store(t)
			a := newCustomer(t, st, "cust_00000000000a")
			b := newCustomer(t, st, "cust_00000000000b")
			now := t0.Add(24 * time.Hour)
			expired := newLicense(a.ID, 1)
			expired.ValidUntil = now // expired exactly at now
			revoked := newLicense(a.ID, 2)
			for _, l := range []*quantumlock.License{expired, revoked, newLicense(a.ID, 3)} {
				_, err := st.CreateLicense(t.Context(), l, quantumlock.Quota{Period: march, Limit: 100})
				must(t, err)
			}
			_, err := st.CreateLicense(t.Context(), newLicense(a.ID, 4), quantumlock.Quota{Period: april})
			must(t, err)
			_, err = st.RevokeLicense(t.Context(), a.ID, revoked.Key, "", now)
			must(t, err)
			_, err = st.CreateLicense(t.Context(), newLicense(b.ID, 5), quantumlock.Quota{Period: march})
			must(t, err)

			for _, tc := range []struct {
				name, customer, period string
				want                   quantumlock.LicenseStats
			}{
				{"March", a.ID, march, quantumlock.LicenseStats{IssuedInPeriod: 3, Total: 4, Active: 2}},
				{"April", a.ID, april, quantumlock.LicenseStats{IssuedInPeriod: 1, Total: 4, Active: 2}},
				{"EmptyPeriod", a.ID, "2026-05", quantumlock.LicenseStats{IssuedInPeriod: 0, Total: 4, Active: 2}},
				{"OtherCustomer", b.ID, march, quantumlock.LicenseStats{IssuedInPeriod: 1, Total: 1, Active: 1}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, err := st.LicenseStats(t.Context(), tc.customer, tc.period, now)
					must(t, err)
					if got != tc.want {
						t.Errorf("LicenseStats = %+v, want %+v", got, tc.want)
					}
				})
			}
		}},
	}
}

func (s suite) testLicenseRoundTrip(t *testing.T) {
	st := s.store(t)
	a := newCustomer(t, st, "cust_00000000000a")
	full := newLicense(a.ID, 1)
	full.EndCustomerID = "acme-corp/42 ü"
	full.Features = []string{"pro", "export", "sso"}
	// Whitespace, key order and escapes must survive byte for byte.
	full.Metadata = json.RawMessage(`{ "seats":10,"a":"\u00e9\n" ,"nested": {"z": [1, 2.50]} }`)
	full.GeneratedAt = t0
	full.ValidUntil = t0.Add(3650*24*time.Hour + time.Microsecond)
	full.QuantumVerified = true
	full.Fidelity = ptr(0.9987654321)
	full.SecurityLevel = quantumlock.SecurityQuantum
	full.EntropySource = quantumlock.SourceQCOSAPI

	minimal := newLicense(a.ID, 2)
	minimal.Features = nil
	minimal.Metadata = nil
	minimal.Fidelity = nil

	zero := newLicense(a.ID, 3)
	zero.Fidelity = ptr(0.0) // zero is a value, not "unknown"
	zero.Metadata = json.RawMessage(`{}`)

	for _, l := range []*quantumlock.License{full, minimal, zero} {
		createLicense(t, st, l)
		got, err := st.License(t.Context(), a.ID, l.Key)
		must(t, err)
		sameLicense(t, got, l)
	}
	page, total, err := st.Licenses(t.Context(), quantumlock.LicenseFilter{CustomerID: a.ID, Now: t0, Limit: 10})
	must(t, err)
	if total != 3 || len(page) != 3 {
		t.Fatalf("Licenses returned %d, total %d; want 3, 3", len(page), total)
	}
	for i, want := range []*quantumlock.License{zero, minimal, full} {
		sameLicense(t, page[i], want)
	}
}

// testLicenseList checks every filter, paging and the order against a fixed
// set of licenses whose statuses at now are known.
func (s suite) testLicenseList(t *testing.T) {
	st := s.store(t)
	a := newCustomer(t, st, "cust_00000000000a")
	b := newCustomer(t, st, "cust_00000000000b")
	now := t0.Add(100 * 24 * time.Hour)

	type fixture struct {
		end     string
		until   time.Time
		revoked bool
	}
	// Index = creation order. Same GeneratedAt for all, so only the
	// store's insertion order can make the listing newest first.
	fixtures := []fixture{
		0: {"ec-a", now.Add(time.Hour), false},            // active
		1: {"ec-b", now.Add(-time.Hour), false},           // expired
		2: {"ec-a", now.Add(time.Hour), true},             // revoked
		3: {"ec-b", now.Add(time.Hour), false},            // active
		4: {"ec-a", now, false},                           // expired exactly at now
		5: {"ec-b", now.Add(-time.Hour), true},            // revoked and expired: revoked
		6: {"ec-a", now.Add(time.Microsecond), false},     // active by a microsecond
		7: {"ec-b", now.Add(24 * time.Hour * 365), false}, // active
	}
	ls := make([]*quantumlock.License, len(fixtures))
	for i, f := range fixtures {
		l := newLicense(a.ID, i)
		l.EndCustomerID, l.ValidUntil = f.end, f.until
		createLicense(t, st, l)
		ls[i] = l
		// b's licenses interleave with a's and share end customer ids.
		other := newLicense(b.ID, 100+i)
		other.EndCustomerID = f.end
		createLicense(t, st, other)
	}
	for i, f := range fixtures {
		if f.revoked {
			at := now.Add(-time.Duration(i) * time.Minute)
			got, err := st.RevokeLicense(t.Context(), a.ID, ls[i].Key, fmt.Sprintf("reason %d", i), at)
			must(t, err)
			ls[i] = got
		}
	}

	for _, tc := range []struct {
		name   string
		filter quantumlock.LicenseFilter
		want   []int // indexes into ls, in order
		total  int64
	}{
		{"All", quantumlock.LicenseFilter{}, []int{7, 6, 5, 4, 3, 2, 1, 0}, 8},
		{"EndCustomer", quantumlock.LicenseFilter{EndCustomerID: "ec-a"}, []int{6, 4, 2, 0}, 4},
		{"EndCustomerUnknown", quantumlock.LicenseFilter{EndCustomerID: "nobody"}, []int{}, 0},
		{"Active", quantumlock.LicenseFilter{Status: quantumlock.StatusActive}, []int{7, 6, 3, 0}, 4},
		{"Expired", quantumlock.LicenseFilter{Status: quantumlock.StatusExpired}, []int{4, 1}, 2},
		{"Revoked", quantumlock.LicenseFilter{Status: quantumlock.StatusRevoked}, []int{5, 2}, 2},
		{"EndCustomerActive", quantumlock.LicenseFilter{EndCustomerID: "ec-a", Status: quantumlock.StatusActive}, []int{6, 0}, 2},
		{"EndCustomerExpired", quantumlock.LicenseFilter{EndCustomerID: "ec-b", Status: quantumlock.StatusExpired}, []int{1}, 1},
		{"EndCustomerRevoked", quantumlock.LicenseFilter{EndCustomerID: "ec-a", Status: quantumlock.StatusRevoked}, []int{2}, 1},
		{"FirstPage", quantumlock.LicenseFilter{Limit: 3}, []int{7, 6, 5}, 8},
		{"MiddlePage", quantumlock.LicenseFilter{Skip: 3, Limit: 3}, []int{4, 3, 2}, 8},
		{"LastPage", quantumlock.LicenseFilter{Skip: 6, Limit: 3}, []int{1, 0}, 8},
		{"PastTheEnd", quantumlock.LicenseFilter{Skip: 8, Limit: 3}, []int{}, 8},
		{"ActivePage", quantumlock.LicenseFilter{Status: quantumlock.StatusActive, Skip: 1, Limit: 2}, []int{6, 3}, 4},
		{"ExpiredLater", quantumlock.LicenseFilter{Status: quantumlock.StatusExpired, Now: now.Add(2 * time.Hour)}, []int{6, 4, 3, 1, 0}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.filter
			f.CustomerID = a.ID
			if f.Now.IsZero() {
				f.Now = now
			}
			if f.Limit == 0 {
				f.Limit = 100
			}
			page, total, err := st.Licenses(t.Context(), f)
			must(t, err)
			var got, want []string
			for _, l := range page {
				got = append(got, l.Key)
			}
			for _, i := range tc.want {
				want = append(want, ls[i].Key)
			}
			if !slices.Equal(got, want) || total != tc.total {
				t.Fatalf("Licenses(%+v) = %v, total %d; want %v, total %d", f, got, total, want, tc.total)
			}
			for i, l := range page {
				sameLicense(t, l, ls[tc.want[i]])
			}
		})
	}
}
