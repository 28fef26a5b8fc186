package account

import (
	"context"
	"testing"

	"github.com/quantumlock/quantumlock"
)

// quantumlock.CustomerUpdate: a Reset flag wins over a value given for the
// same field, so the value is not what gets validated.
func TestUpdateResetWinsOverAnInvalidValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	five := int64(5)
	c := &quantumlock.Customer{Name: "ACME", Email: "a@acme.example", LicensesPerMonth: &five, RequestsPerMinute: &five}
	if _, err := s.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	neg, zero := int64(-1), int64(0)
	got, err := s.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{
		LicensesPerMonth: &neg, ResetLicensesPerMonth: true,
		RequestsPerMinute: &zero, ResetRequestsPerMinute: true,
	})
	if err != nil {
		t.Fatalf("reset with an invalid value beside it: %v; want the reset to win", err)
	}
	if got.LicensesPerMonth != nil || got.RequestsPerMinute != nil || got.Limits() != quantumlock.PlanFree.Limits() {
		t.Fatalf("after reset: %+v; want the plan's limits", got)
	}
}
