package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha3"
	"encoding/hex"
	"hash"
	"net/url"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/license"
)

// A license issued before generate refused control characters in an
// end_customer_id ("acme\tinc", from a tab-separated import) still
// validates, and the list's filter finds it.
func TestLicenseFromBeforeControlCharacterRule(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	cust, c := a.customer(t, quantumlock.PlanFree, nil, ptr(int64(1000)))
	now := a.Clock.Now().UTC().Truncate(time.Second)
	l := &quantumlock.License{
		Key: "QLOCK-1234-5678-9ABC", CustomerID: cust.ID, EndCustomerID: "acme\tinc",
		Features: []string{}, GeneratedAt: now, ValidUntil: now.Add(365 * 24 * time.Hour),
		SecurityLevel: quantumlock.SecurityCryptographic, EntropySource: "cryptographic",
	}
	m := hmac.New(func() hash.Hash { return sha3.New512() }, license.Secrets(a.Master)(cust.ID))
	m.Write(license.Canonical(l))
	l.Signature = hex.EncodeToString(m.Sum(nil))
	period, _ := quantumlock.MonthPeriod(now)
	if _, err := a.DB.CreateLicense(context.Background(), l, quantumlock.Quota{Period: period}); err != nil {
		t.Fatal(err)
	}
	if v := call(t, c, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": l.Key, "end_customer_id": "acme\tinc"}, 200); v["code"] != "VALID" {
		t.Errorf("validate: %v", v)
	}
	got := call(t, c, "GET", "/api/v1/licenses?end_customer_id="+url.QueryEscape("acme\tinc"), nil, 200)
	if got["total"] != 1.0 {
		t.Errorf("the filter by the license's id found %v", got["total"])
	}
}
