package account

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/sqlite"
)

func newService(t *testing.T) (*Service, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Service{Customers: db, Keys: db, Rand: entropy.System{}, Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}, db
}

func TestCreateAndAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := newService(t)
	c := &quantumlock.Customer{Name: "ACME", Email: "a@acme.example"}
	secret, err := s.CreateCustomer(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^cust_[0-9a-f]{12}$`).MatchString(c.ID) || c.Plan != quantumlock.PlanFree {
		t.Errorf("customer %+v", c)
	}
	if !regexp.MustCompile(`^ql_live_[a-z2-7]{32}$`).MatchString(secret) {
		t.Errorf("secret %q", secret)
	}
	got, err := s.Authenticate(ctx, secret)
	if err != nil || got.ID != c.ID {
		t.Fatalf("authenticate: %v %v", got, err)
	}

	keys, _ := db.APIKeys(ctx, c.ID)
	h := sha256.Sum256([]byte(secret))
	if len(keys) != 1 || string(keys[0].Hash) != string(h[:]) || keys[0].Hint != secret[:12] {
		t.Errorf("stored key %+v", keys)
	}

	for name, bad := range map[string]string{"Empty": "", "Unknown": "ql_live_" + "a234567abcdefghijklmnopqrstuvwxy", "Prefix": "xx" + secret[2:]} {
		t.Run("Err"+name, func(t *testing.T) {
			if _, err := s.Authenticate(ctx, bad); quantumlock.ErrorCode(err) != quantumlock.EUNAUTHORIZED {
				t.Errorf("err %v", err)
			}
		})
	}
	db.RevokeAPIKey(ctx, keys[0].ID, time.Now())
	if _, err := s.Authenticate(ctx, secret); quantumlock.ErrorCode(err) != quantumlock.EUNAUTHORIZED {
		t.Errorf("revoked key: %v", err)
	}
}

func TestCreateCustomerInvalid(t *testing.T) {
	t.Parallel()
	s, db := newService(t)
	for name, c := range map[string]*quantumlock.Customer{
		"NoName":      {Email: "a@b.example"},
		"BadEmail":    {Name: "x", Email: "nope"},
		"NamedAddr":   {Name: "x", Email: "X <x@b.example>"},
		"BadPlan":     {Name: "x", Email: "a@b.example", Plan: "gold"},
		"NegQuota":    {Name: "x", Email: "a@b.example", LicensesPerMonth: new(int64(-1))},
		"ZeroRPM":     {Name: "x", Email: "a@b.example", RequestsPerMinute: new(int64(0))},
		"NameNotUTF8": {Name: "\xff\xfe", Email: "a@b.example"},
		"NameEscape":  {Name: "evil\x1b[31m", Email: "a@b.example"},
		"NameNewline": {Name: "two\nlines", Email: "a@b.example"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.CreateCustomer(context.Background(), c); quantumlock.ErrorCode(err) != quantumlock.EINVALID {
				t.Errorf("err %v", err)
			}
		})
	}
	if cs, _ := db.Customers(context.Background()); len(cs) != 0 {
		t.Errorf("%d customers stored after invalid creates", len(cs))
	}
}

func TestUpdateCustomer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	c := &quantumlock.Customer{Name: "ACME", Email: "a@acme.example"}
	s.CreateCustomer(ctx, c)
	p := quantumlock.PlanBusiness
	got, err := s.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{Plan: &p, RequestsPerMinute: new(int64(7))})
	if err != nil || got.Plan != p || got.Limits().RequestsPerMinute != 7 || got.Limits().LicensesPerMonth != 100_000 {
		t.Fatalf("update: %+v %v", got, err)
	}
	bad := quantumlock.Plan("gold")
	if _, err := s.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{Plan: &bad}); quantumlock.ErrorCode(err) != quantumlock.EINVALID {
		t.Errorf("bad plan: %v", err)
	}
	if _, err := s.UpdateCustomer(ctx, "cust_000000000000", quantumlock.CustomerUpdate{Plan: &p}); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
		t.Errorf("missing: %v", err)
	}
	if _, _, err := s.CreateAPIKey(ctx, "cust_000000000000"); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
		t.Errorf("key for missing customer: %v", err)
	}
}

// A customer stored before today's rules on names (here, a name with a
// tab) can still have its plan and limits changed: an update checks only
// what it changes.
func TestUpdateCustomerStoredUnderOlderRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := newService(t)
	old := &quantumlock.Customer{ID: "cust_00000000old1", Name: "Acme\tInc", Email: "a@acme.example", Plan: quantumlock.PlanFree, CreatedAt: time.Now().UTC()}
	if err := db.CreateCustomer(ctx, old); err != nil {
		t.Fatal(err)
	}
	p := quantumlock.PlanBusiness
	if got, err := s.UpdateCustomer(ctx, old.ID, quantumlock.CustomerUpdate{Plan: &p}); err != nil || got.Plan != p {
		t.Fatalf("update: %+v, %v", got, err)
	}
}
