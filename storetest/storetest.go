// Package storetest is the behaviour suite every quantumlock.Store must
// pass. It uses nothing but the interface, so the embedded SQLite store and
// any later one (PostgreSQL) are held to the same contract: round trips of
// every field, tenant isolation, exact quotas and single winners under
// concurrency.
package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// Run runs the suite as subtests of t. open must return a new store over an
// empty database each time it is called; Run calls it once per subtest,
// possibly from parallel subtests, and closes the store when the subtest
// ends.
func Run(t *testing.T, open func(t *testing.T) quantumlock.Store) {
	s := suite{open: open}
	for _, g := range []struct {
		name  string
		tests []test
	}{
		{"Customer", s.customerTests()},
		{"APIKey", s.apiKeyTests()},
		{"License", s.licenseTests()},
		{"Key", s.keyTests()},
		{"Nonce", s.nonceTests()},
		{"Exchange", s.exchangeTests()},
		{"Store", s.storeTests()},
	} {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.fn(t)
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T)
}

type suite struct {
	open func(t *testing.T) quantumlock.Store
}

// store opens a fresh store for t and closes it when t ends.
func (s suite) store(t *testing.T) quantumlock.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// t0 has microseconds, the precision every store must keep exactly.
var t0 = time.Date(2026, time.March, 14, 15, 9, 26, 535897000, time.UTC)

func ptr[T any](v T) *T { return &v }

// wantCode fails t unless err carries code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := quantumlock.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// must fails t on any error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// diff collects field mismatches so a failed round trip names every field
// that did not survive.
type diff []string

func (d *diff) add(field string, got, want any) {
	*d = append(*d, fmt.Sprintf("%s = %v, want %v", field, got, want))
}

func (d *diff) eq(field string, got, want any) {
	if !reflect.DeepEqual(got, want) {
		d.add(field, got, want)
	}
}

// time requires the same instant, returned in UTC.
func (d *diff) time(field string, got, want time.Time) {
	if !got.Equal(want) || got.Location() != time.UTC {
		d.add(field, got, want)
	}
}

func (d *diff) timePtr(field string, got, want *time.Time) {
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		d.add(field, got, want)
	default:
		d.time(field, *got, *want)
	}
}

// bytes treats nil and empty alike: no store need tell them apart.
func (d *diff) bytes(field string, got, want []byte) {
	if !bytes.Equal(got, want) {
		d.add(field, fmt.Sprintf("%x", got), fmt.Sprintf("%x", want))
	}
}

// strings treats nil and empty alike.
func (d *diff) strings(field string, got, want []string) {
	if len(got) != 0 || len(want) != 0 {
		d.eq(field, got, want)
	}
}

func (d diff) check(t *testing.T, what string) {
	t.Helper()
	for _, m := range d {
		t.Errorf("%s: %s", what, m)
	}
}

func sameCustomer(t *testing.T, got, want *quantumlock.Customer) {
	t.Helper()
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("Name", got.Name, want.Name)
	d.eq("Email", got.Email, want.Email)
	d.eq("Plan", got.Plan, want.Plan)
	d.eq("LicensesPerMonth", got.LicensesPerMonth, want.LicensesPerMonth)
	d.eq("RequestsPerMinute", got.RequestsPerMinute, want.RequestsPerMinute)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.check(t, "customer "+want.ID)
}

func sameAPIKey(t *testing.T, got, want *quantumlock.APIKey) {
	t.Helper()
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("CustomerID", got.CustomerID, want.CustomerID)
	d.bytes("Hash", got.Hash, want.Hash)
	d.eq("Hint", got.Hint, want.Hint)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.timePtr("RevokedAt", got.RevokedAt, want.RevokedAt)
	d.check(t, "api key "+want.ID)
}

func sameLicense(t *testing.T, got, want *quantumlock.License) {
	t.Helper()
	var d diff
	d.eq("Key", got.Key, want.Key)
	d.eq("CustomerID", got.CustomerID, want.CustomerID)
	d.eq("EndCustomerID", got.EndCustomerID, want.EndCustomerID)
	d.strings("Features", got.Features, want.Features)
	// Metadata is byte-exact, and "none" stays none.
	if (got.Metadata == nil) != (want.Metadata == nil) || !bytes.Equal(got.Metadata, want.Metadata) {
		d.add("Metadata", fmt.Sprintf("%q", got.Metadata), fmt.Sprintf("%q", want.Metadata))
	}
	d.time("GeneratedAt", got.GeneratedAt, want.GeneratedAt)
	d.time("ValidUntil", got.ValidUntil, want.ValidUntil)
	d.eq("Signature", got.Signature, want.Signature)
	d.eq("QuantumVerified", got.QuantumVerified, want.QuantumVerified)
	d.eq("Fidelity", got.Fidelity, want.Fidelity)
	d.eq("SecurityLevel", got.SecurityLevel, want.SecurityLevel)
	d.eq("EntropySource", got.EntropySource, want.EntropySource)
	d.timePtr("RevokedAt", got.RevokedAt, want.RevokedAt)
	d.eq("RevocationReason", got.RevocationReason, want.RevocationReason)
	d.check(t, "license "+want.Key)
}

func sameKey(t *testing.T, got, want *quantumlock.Key) {
	t.Helper()
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("CustomerID", got.CustomerID, want.CustomerID)
	d.eq("Algorithm", got.Algorithm, want.Algorithm)
	d.eq("Purpose", got.Purpose, want.Purpose)
	d.eq("Exportable", got.Exportable, want.Exportable)
	d.eq("Label", got.Label, want.Label)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	if len(got.Versions) != len(want.Versions) {
		d.add("len(Versions)", len(got.Versions), len(want.Versions))
	} else {
		for i, w := range want.Versions {
			g := got.Versions[i]
			f := fmt.Sprintf("Versions[%d].", i)
			d.eq(f+"Version", g.Version, w.Version)
			d.bytes(f+"Sealed", g.Sealed, w.Sealed)
			d.bytes(f+"PublicKey", g.PublicKey, w.PublicKey)
			d.time(f+"CreatedAt", g.CreatedAt, w.CreatedAt)
		}
	}
	d.check(t, "key "+want.ID)
}

func sameSession(t *testing.T, got, want *quantumlock.ExchangeSession) {
	t.Helper()
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("CustomerID", got.CustomerID, want.CustomerID)
	d.eq("Algorithm", got.Algorithm, want.Algorithm)
	d.eq("KeyBits", got.KeyBits, want.KeyBits)
	d.bytes("PublicKey", got.PublicKey, want.PublicKey)
	d.bytes("Sealed", got.Sealed, want.Sealed)
	d.bytes("PeerPublicKey", got.PeerPublicKey, want.PeerPublicKey)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.check(t, "session "+want.ID)
}

func (s suite) storeTests() []test {
	return []test{
		{"BindMasterKey", func(t *testing.T) {
			st := s.store(t)
			ctx := t.Context()
			if fp, err := st.BoundMasterKey(ctx); err != nil || fp != "" {
				t.Fatalf("BoundMasterKey before any bind: %q, %v", fp, err)
			}
			must(t, st.BindMasterKey(ctx, "fingerprint-one"))
			must(t, st.BindMasterKey(ctx, "fingerprint-one"))
			wantCode(t, st.BindMasterKey(ctx, "fingerprint-two"), quantumlock.EMASTERKEY)
			// The refused key did not replace the bound one.
			must(t, st.BindMasterKey(ctx, "fingerprint-one"))
			if fp, err := st.BoundMasterKey(ctx); err != nil || fp != "fingerprint-one" {
				t.Fatalf("BoundMasterKey after binding: %q, %v", fp, err)
			}
		}},
		{"Ping", func(t *testing.T) {
			must(t, s.store(t).Ping(t.Context()))
		}},
	}
}
