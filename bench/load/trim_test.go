package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/license"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/sqlite"
)

// openTrimStore opens a store on a new file and creates enterprise
// customers with no monthly quota, one per id. The caller closes db.
func openTrimStore(t *testing.T, ids ...string) (path string, db *sqlite.DB, customers []*quantumlock.Customer) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "q.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	unlimited := int64(0)
	for _, id := range ids {
		c := &quantumlock.Customer{ID: id, Name: "T", Email: "t@example.com", Plan: quantumlock.PlanEnterprise,
			LicensesPerMonth: &unlimited, CreatedAt: time.Now()}
		if err := db.CreateCustomer(ctx, c); err != nil {
			db.Close()
			t.Fatal(err)
		}
		customers = append(customers, c)
	}
	return path, db, customers
}

func TestTrimGenerated(t *testing.T) {
	ctx := context.Background()
	path, db, customers := openTrimStore(t, "cust_00000000000a", "cust_00000000000b")
	mk := masterkey.Generate()
	svc := &license.Service{Store: db, Rand: entropy.System{}, Now: quantumlock.SystemClock, Secret: license.Secrets(mk)}
	issue := func(c *quantumlock.Customer, endCustomer string, n int) []string {
		var keys []string
		for range n {
			l, _, err := svc.Generate(ctx, c, license.Params{EndCustomerID: endCustomer})
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, l.Key)
		}
		return keys
	}
	seeded := issue(customers[0], endCustomer(1), 5)
	generated := issue(customers[0], generatedEndCustomer, 7)
	other := issue(customers[1], generatedEndCustomer, 3) // another customer's: kept

	res, err := trimGenerated(ctx, path, customers[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 7 {
		t.Errorf("deleted %d licenses, want 7", res.Deleted)
	}
	// The open store sees the deletions at once.
	for _, k := range generated {
		if _, err := db.License(ctx, customers[0].ID, k); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
			t.Errorf("generated license %s: %v, want not found", k, err)
		}
	}
	for _, k := range seeded {
		if _, err := db.License(ctx, customers[0].ID, k); err != nil {
			t.Errorf("seeded license %s: %v", k, err)
		}
	}
	for _, k := range other {
		if _, err := db.License(ctx, customers[1].ID, k); err != nil {
			t.Errorf("another customer's license %s: %v", k, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing left to remove.
	if res, err := trimGenerated(ctx, path, customers[0].ID); err != nil || res.Deleted != 0 {
		t.Errorf("second trim: %+v, %v", res, err)
	}
}
