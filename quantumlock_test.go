package quantumlock

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMonthPeriod(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t      time.Time
		period string
		next   time.Time
	}{
		{time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC), "2026-01", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "2026-12", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		// 00:30 on 1 March in UTC+1 is still February in UTC.
		{time.Date(2026, 3, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "2026-02", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		p, next := MonthPeriod(tc.t)
		if p != tc.period || !next.Equal(tc.next) {
			t.Errorf("MonthPeriod(%v) = %s, %v", tc.t, p, next)
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	want := map[Plan]Limits{
		PlanFree: {100, 10}, PlanStartup: {10_000, 100}, PlanBusiness: {100_000, 1_000}, PlanEnterprise: {0, 10_000},
	}
	for p, l := range want {
		if got := p.Limits(); got != l {
			t.Errorf("%s: %+v", p, got)
		}
	}
	zero, five := int64(0), int64(5)
	c := &Customer{Plan: PlanFree, LicensesPerMonth: &zero, RequestsPerMinute: &five}
	if got := c.Limits(); got != (Limits{0, 5}) {
		t.Errorf("overrides: %+v", got)
	}
}

func TestLicenseStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &License{ValidUntil: now}
	if l.Status(now.Add(-time.Nanosecond)) != StatusActive || l.Status(now) != StatusExpired {
		t.Error("expiry boundary")
	}
	l.RevokedAt = &now
	if l.Status(now.Add(-time.Hour)) != StatusRevoked {
		t.Error("revocation must win over expiry")
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := fmt.Errorf("wrapped: %w", Errorf(ENOTFOUND, "License %s not found.", "X"))
	if ErrorCode(e) != ENOTFOUND || ErrorMessage(e) != "License X not found." {
		t.Errorf("%s %s", ErrorCode(e), ErrorMessage(e))
	}
	plain := errors.New("disk on fire at /var/lib/secret")
	if ErrorCode(plain) != EINTERNAL || ErrorMessage(plain) != "Internal error." {
		t.Error("a plain error must be internal and say nothing")
	}
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Error("nil")
	}
}

// A customer's name must hold something that shows: names of spaces and
// invisible characters alone are blank, while anything else, a character
// newer than Go's Unicode tables or a private-use one included, is a name.
func TestCustomerNameBlank(t *testing.T) {
	t.Parallel()
	for _, name := range []string{" ", "\u3000", "\u200b", "\u3164 \u3164", "\ufe0f", "\u2800", "\u034f\u17b5", "\U000e0100", "\u2065", "\ufff0\ufff8", "\U000e0000", "\U000e0fff"} {
		c := Customer{Name: name, Email: "a@example.com", Plan: PlanFree}
		if err := c.Validate(); ErrorCode(err) != EINVALID || ErrorMessage(err) != "name must not be blank." {
			t.Errorf("name %+q: %v", name, err)
		}
	}
	for _, name := range []string{"ACME", "\U0001fae9", "\U0001e5d0", "\U0002ebf0", "\uf8ff", "\u0301", "a\u200bb"} {
		c := Customer{Name: name, Email: "a@example.com", Plan: PlanFree}
		if err := c.Validate(); err != nil {
			t.Errorf("name %+q refused: %v", name, err)
		}
	}
}
