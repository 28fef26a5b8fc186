package license

import (
	"context"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/internal/entropytest"
)

// SPEC §5: security_level is QUANTUM_SECURED only when quantum_verified,
// otherwise CRYPTOGRAPHIC.
func TestSecurityLevelFollowsQuantumVerified(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := svc(t)
	c := &quantumlock.Customer{ID: "cust_aaaaaaaaaaaa", Plan: quantumlock.PlanEnterprise}
	l, _, err := s.Generate(ctx, c, Params{EndCustomerID: "x"})
	if err != nil || l.QuantumVerified || l.SecurityLevel != quantumlock.SecurityCryptographic {
		t.Fatalf("system source: %+v, %v; want CRYPTOGRAPHIC", l, err)
	}
	s.Rand = entropytest.Quantum{}
	l, _, err = s.Generate(ctx, c, Params{EndCustomerID: "x"})
	if err != nil || !l.QuantumVerified || l.SecurityLevel != quantumlock.SecurityQuantum {
		t.Fatalf("quantum source: %+v, %v; want QUANTUM_SECURED", l, err)
	}
	if r, err := s.Validate(ctx, c.ID, l.Key, "x"); err != nil || !r.Valid() {
		t.Fatalf("validate quantum license: %+v, %v", r, err)
	}
}

// end_customer_id is an exact match: another spelling of it is another end
// customer.
func TestEndCustomerMatchIsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := svc(t)
	c := &quantumlock.Customer{ID: "cust_aaaaaaaaaaaa", Plan: quantumlock.PlanEnterprise}
	l, _, err := s.Generate(ctx, c, Params{EndCustomerID: "Alice@Example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com ", "Alice@Example.co"} {
		if r, err := s.Validate(ctx, c.ID, l.Key, other); err != nil || r.Code != CodeCustomerMismatch {
			t.Errorf("validate for %q: %+v, %v; want CUSTOMER_MISMATCH", other, r.Code, err)
		}
	}
}

// editedStore answers License with the stored row after edit: a row edited
// in the database.
type editedStore struct {
	quantumlock.LicenseStore
	edit func(*quantumlock.License)
}

func (e editedStore) License(ctx context.Context, customerID, key string) (*quantumlock.License, error) {
	l, err := e.LicenseStore.License(ctx, customerID, key)
	if err == nil {
		e.edit(l)
	}
	return l, err
}

// A signature column edited to the wrong length (longer, shorter, with the
// right signature as its prefix) is SIGNATURE_INVALID, never a panic or a
// pass: without the length check, a longer one would panic in hex.Decode.
func TestSignatureOfWrongLengthIsInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := svc(t)
	c := &quantumlock.Customer{ID: "cust_aaaaaaaaaaaa", Plan: quantumlock.PlanEnterprise}
	l, _, err := s.Generate(ctx, c, Params{EndCustomerID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	base := s.Store
	for name, sig := range map[string]string{
		"longer":      l.Signature + "00",
		"much longer": l.Signature + strings.Repeat("ab", 64),
		"shorter":     l.Signature[:126],
		"empty":       "",
	} {
		s.Store = editedStore{base, func(x *quantumlock.License) { x.Signature = sig }}
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("%s signature: panic %v", name, v)
				}
			}()
			r, err := s.Validate(ctx, c.ID, l.Key, "x")
			if err != nil || r.Code != CodeSignatureInvalid {
				t.Errorf("%s signature: %s, %v; want SIGNATURE_INVALID", name, r.Code, err)
			}
		}()
	}
}
