package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/internal/apitest"
)

var licenseKeyRE = regexp.MustCompile(`^QLOCK-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$`)

func TestLicenseGenerate(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanFree, nil, ptr(int64(1000)))

	t.Run("OK", func(t *testing.T) {
		r := c.Do(t, "POST", "/api/v1/licenses/generate", map[string]any{
			"end_customer_id": "customer@company.com", "features": []string{"premium", "api_access"},
			"valid_days": 30, "metadata": map[string]any{"company": "ACME Corp"},
		})
		wantStatus(t, r, http.StatusCreated, "")
		l := r.JSON(t)
		if !licenseKeyRE.MatchString(l["license_key"].(string)) {
			t.Errorf("license_key %v", l["license_key"])
		}
		if sig := l["quantum_signature"].(string); len(sig) != 128 {
			t.Errorf("signature length %d", len(sig))
		}
		gen, _ := time.Parse(time.RFC3339, l["generated_at"].(string))
		until, _ := time.Parse(time.RFC3339, l["valid_until"].(string))
		if !gen.Equal(a.Clock.Now()) || until.Sub(gen) != 30*24*time.Hour {
			t.Errorf("generated_at %v valid_until %v", gen, until)
		}
		if l["quantum_verified"] != false || l["security_level"] != "CRYPTOGRAPHIC" {
			t.Errorf("OS entropy reported as %v / %v", l["quantum_verified"], l["security_level"])
		}
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Quota-Limit", "X-Quota-Remaining", "X-Quota-Reset"} {
			if r.Header.Get(h) == "" {
				t.Errorf("missing header %s", h)
			}
		}
		if r.Header.Get("X-Quota-Limit") != "100" {
			t.Errorf("X-Quota-Limit %s", r.Header.Get("X-Quota-Limit"))
		}
		wantReset := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Unix()
		if r.Header.Get("X-Quota-Reset") != fmt.Sprint(wantReset) {
			t.Errorf("X-Quota-Reset %s, want %d", r.Header.Get("X-Quota-Reset"), wantReset)
		}
	})

	t.Run("Defaults", func(t *testing.T) {
		l := generate(t, c, map[string]any{"end_customer_id": "x"})
		gen, _ := time.Parse(time.RFC3339, l["generated_at"].(string))
		until, _ := time.Parse(time.RFC3339, l["valid_until"].(string))
		if until.Sub(gen) != 365*24*time.Hour {
			t.Errorf("default validity %v", until.Sub(gen))
		}
		if f, ok := l["features"].([]any); !ok || len(f) != 0 {
			t.Errorf("features %v, want []", l["features"])
		}
	})

	bad := []struct {
		name, body, code, detail string
		status                   int
	}{
		{"ErrMissingEndCustomer", `{}`, "INVALID_REQUEST", "end_customer_id", 400},
		{"ErrEmptyBody", ``, "INVALID_REQUEST", "end_customer_id", 400},
		{"ErrLongEndCustomer", `{"end_customer_id":"` + strings.Repeat("x", 257) + `"}`, "INVALID_REQUEST", "end_customer_id", 400},
		{"ErrTooManyFeatures", `{"end_customer_id":"x","features":[` + strings.Repeat(`"f",`, 64) + `"f"]}`, "INVALID_REQUEST", "features", 400},
		{"ErrEmptyFeature", `{"end_customer_id":"x","features":["a",""]}`, "INVALID_REQUEST", "features[1]", 400},
		{"ErrLongFeature", `{"end_customer_id":"x","features":["` + strings.Repeat("f", 65) + `"]}`, "INVALID_REQUEST", "features[0]", 400},
		{"ErrValidDaysZero", `{"end_customer_id":"x","valid_days":0}`, "INVALID_REQUEST", "valid_days", 400},
		{"ErrValidDaysHigh", `{"end_customer_id":"x","valid_days":3651}`, "INVALID_REQUEST", "valid_days", 400},
		{"ErrValidDaysType", `{"end_customer_id":"x","valid_days":"30"}`, "INVALID_REQUEST", "valid_days", 400},
		{"ErrValidDaysFraction", `{"end_customer_id":"x","valid_days":1.5}`, "INVALID_REQUEST", "valid_days", 400},
		{"ErrFeaturesType", `{"end_customer_id":"x","features":"premium"}`, "INVALID_REQUEST", "features must be an array, not string", 400},
		{"ErrFeaturesObject", `{"end_customer_id":"x","features":{"a":1}}`, "INVALID_REQUEST", "features must be an array, not object", 400},
		// A wrong element is named, as a wrong length is.
		{"ErrFeatureNumber", `{"end_customer_id":"x","features":["ok",1]}`, "INVALID_REQUEST", "features[1] must be a string, not number", 400},
		{"ErrFeatureArray", `{"end_customer_id":"x","features":["ok",["a"]]}`, "INVALID_REQUEST", "features[1] must be a string, not array", 400},
		{"ErrFeatureBool", `{"end_customer_id":"x","features":[true]}`, "INVALID_REQUEST", "features[0] must be a string, not bool", 400},
		{"ErrFeatureNull", `{"end_customer_id":"x","features":["ok", null]}`, "INVALID_REQUEST", "features[1] must be a string, not null", 400},
		// With two wrong types, the first field's is named, as encoding/json
		// names the first.
		{"ErrTwoTypesFirstNamed", `{"end_customer_id":5,"features":[1]}`, "INVALID_REQUEST", "end_customer_id must be a string", 400},
		{"ErrMetadataArray", `{"end_customer_id":"x","metadata":[1]}`, "INVALID_REQUEST", "metadata", 400},
		{"ErrMetadataLarge", `{"end_customer_id":"x","metadata":{"a":"` + strings.Repeat("m", 16<<10) + `"}}`, "INVALID_REQUEST", "metadata", 400},
		{"ErrUnknownField", `{"end_customer_id":"x","colour":"red"}`, "INVALID_REQUEST", "colour", 400},
		{"ErrFieldOtherCase", `{"end_customer_id":"x","VALID_DAYS":2}`, "INVALID_REQUEST", "VALID_DAYS", 400},
		{"ErrFieldTwice", `{"end_customer_id":"a","end_customer_id":"b"}`, "INVALID_REQUEST", "end_customer_id", 400},
		{"ErrNotUTF8", "{\"end_customer_id\":\"m\",\"metadata\":{\"k\":\"\xff\"}}", "INVALID_REQUEST", "UTF-8", 400},
		{"ErrTrailingData", `{"end_customer_id":"x"} {}`, "INVALID_REQUEST", "nothing after", 400},
		{"ErrMalformed", `{"end_customer_id":`, "INVALID_REQUEST", "JSON", 400},
		{"ErrNotObject", `["x"]`, "INVALID_REQUEST", "object", 400},
		{"ErrTooLarge", `{"end_customer_id":"` + strings.Repeat("x", 1<<20) + `"}`, "PAYLOAD_TOO_LARGE", "bytes", 413},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Do(t, "POST", "/api/v1/licenses/generate", tc.body)
			wantStatus(t, r, tc.status, tc.code)
			if d := r.JSON(t)["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Errorf("detail %q does not name %q", d, tc.detail)
			}
		})
	}

	t.Run("ErrMediaType", func(t *testing.T) {
		r := c.Do(t, "POST", "/api/v1/licenses/generate", `end_customer_id=x`, "Content-Type", "application/x-www-form-urlencoded")
		wantStatus(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	})
	t.Run("ErrNoAPIKey", func(t *testing.T) {
		r := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`, "X-API-Key", "")
		wantStatus(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
	})
	t.Run("ErrUnknownAPIKey", func(t *testing.T) {
		r := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`, "X-API-Key", "ql_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
		wantStatus(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
	})
	t.Run("BadRequestsWriteNothing", func(t *testing.T) {
		r := c.Do(t, "GET", "/api/v1/licenses", nil)
		var list struct{ Total int }
		r.Decode(t, &list)
		if list.Total != 2 {
			t.Errorf("%d licenses stored, want the 2 good ones", list.Total)
		}
	})
	t.Run("FeaturesNull", func(t *testing.T) {
		// A null list is no features, as leaving it out is (made after
		// BadRequestsWriteNothing has counted the licenses).
		r := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x","features":null}`)
		wantStatus(t, r, 201, "")
		if f, ok := r.JSON(t)["features"].([]any); !ok || len(f) != 0 {
			t.Errorf("features %v, want []", r.JSON(t)["features"])
		}
	})
}

func TestLicenseValidate(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, other := a.customer(t, quantumlock.PlanEnterprise, nil, nil)

	validate := func(t *testing.T, c *apitest.Client, key, end string) map[string]any {
		t.Helper()
		r := c.Do(t, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": key, "end_customer_id": end})
		wantStatus(t, r, http.StatusOK, "")
		return r.JSON(t)
	}
	wantCode := func(t *testing.T, v map[string]any, code string) {
		t.Helper()
		if v["code"] != code || v["valid"] != (code == "VALID") {
			t.Fatalf("code %v valid %v, want %s", v["code"], v["valid"], code)
		}
		if code != "VALID" && (v["features"] != nil || v["expires_at"] != nil || v["message"] == nil) {
			t.Fatalf("invalid result must have null features and expires_at and a message: %v", v)
		}
	}

	l := generate(t, c, map[string]any{"end_customer_id": "alice", "features": []string{"pro"}, "valid_days": 10})
	key := l["license_key"].(string)

	t.Run("Valid", func(t *testing.T) {
		v := validate(t, c, key, "alice")
		wantCode(t, v, "VALID")
		if v["expires_at"] != l["valid_until"] || v["message"] != nil || v["end_customer_id"] != "alice" ||
			v["quantum_verified"] != l["quantum_verified"] {
			t.Errorf("valid result %v", v)
		}
		// The features a vendor's software gates on.
		if f, ok := v["features"].([]any); !ok || len(f) != 1 || f[0] != "pro" {
			t.Errorf("features %v, want [pro]", v["features"])
		}
	})
	t.Run("ValidLowercaseKey", func(t *testing.T) {
		wantCode(t, validate(t, c, strings.ToLower(key), "alice"), "VALID")
	})
	t.Run("NotFound", func(t *testing.T) {
		wantCode(t, validate(t, c, "QLOCK-0000-0000-0000", "alice"), "NOT_FOUND")
	})
	t.Run("NotFoundMalformedKey", func(t *testing.T) {
		wantCode(t, validate(t, c, "not-a-key", "alice"), "NOT_FOUND")
	})
	t.Run("NotFoundOtherTenant", func(t *testing.T) {
		wantCode(t, validate(t, other, key, "alice"), "NOT_FOUND")
	})
	t.Run("CustomerMismatch", func(t *testing.T) {
		wantCode(t, validate(t, c, key, "bob"), "CUSTOMER_MISMATCH")
	})
	t.Run("ErrMissingFields", func(t *testing.T) {
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/validate", `{"license_key":"`+key+`"}`), 400, "INVALID_REQUEST")
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/validate", `{"end_customer_id":"alice"}`), 400, "INVALID_REQUEST")
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/validate", `{"license_key":1,"end_customer_id":"alice"}`), 400, "INVALID_REQUEST")
	})
	t.Run("ErrEndCustomerIDLength", func(t *testing.T) {
		// An id longer than any license's is refused alike by generate
		// and validate, naming it.
		id := strings.Repeat("x", 257)
		wantError(t, c.Do(t, "POST", "/api/v1/licenses/generate", map[string]any{"end_customer_id": id}), 400, "INVALID_REQUEST", "end_customer_id")
		wantError(t, c.Do(t, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": key, "end_customer_id": id}), 400, "INVALID_REQUEST", "end_customer_id")
	})
	t.Run("EndCustomerIDWithControlCharacters", func(t *testing.T) {
		// Generate refuses control characters in new licenses; validate
		// answers for the licenses issued before that rule.
		for _, id := range []string{"a\x00", "a\x1b[31m", "a\u0085"} {
			wantError(t, c.Do(t, "POST", "/api/v1/licenses/generate", map[string]any{"end_customer_id": id}), 400, "INVALID_REQUEST", "end_customer_id")
			wantCode(t, validate(t, c, key, id), "CUSTOMER_MISMATCH")
		}
	})
	t.Run("KeyLengthInCharacters", func(t *testing.T) {
		// At most 64 characters, as the detail says, not 64 bytes.
		wantCode(t, validate(t, c, strings.Repeat("é", 64), "alice"), "NOT_FOUND")
		wantError(t, c.Do(t, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": strings.Repeat("é", 65), "end_customer_id": "alice"}),
			400, "INVALID_REQUEST", "64 characters")
	})
	t.Run("Expired", func(t *testing.T) {
		l := generate(t, c, map[string]any{"end_customer_id": "carol", "valid_days": 1})
		a.Clock.Add(24*time.Hour - time.Second)
		wantCode(t, validate(t, c, l["license_key"].(string), "carol"), "VALID")
		a.Clock.Add(time.Second)
		v := validate(t, c, l["license_key"].(string), "carol")
		wantCode(t, v, "EXPIRED")
		if v["message"] != "License has expired." {
			t.Errorf("message %v", v["message"])
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		l := generate(t, c, map[string]any{"end_customer_id": "dave"})
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/"+l["license_key"].(string)+"/revoke", `{"reason":"refund"}`), 200, "")
		wantCode(t, validate(t, c, l["license_key"].(string), "dave"), "REVOKED")
	})
	t.Run("SignatureInvalid", func(t *testing.T) {
		l := generate(t, c, map[string]any{"end_customer_id": "erin", "features": []string{"basic"}})
		k := l["license_key"].(string)
		wantCode(t, validate(t, c, k, "erin"), "VALID")
		// Someone with write access to the database grants a feature.
		raw, err := sql.Open("sqlite", a.DBPath)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(`UPDATE licenses SET features = '["basic","enterprise"]' WHERE key = ?`, k); err != nil {
			t.Fatal(err)
		}
		wantCode(t, validate(t, c, k, "erin"), "SIGNATURE_INVALID")
		if _, err := raw.Exec(`UPDATE licenses SET features = '["basic"]', valid_until = valid_until + 86400000000 WHERE key = ?`, k); err != nil {
			t.Fatal(err)
		}
		wantCode(t, validate(t, c, k, "erin"), "SIGNATURE_INVALID")

		// Edits that Canonical alone cannot see: a sub-second shift of
		// the expiry (the signature covers whole seconds), features
		// turned from an empty list into null.
		l3 := generate(t, c, map[string]any{"end_customer_id": "erin"})
		k3 := l3["license_key"].(string)
		for _, edit := range []string{
			`UPDATE licenses SET valid_until = valid_until + 999999 WHERE key = ?`,
			`UPDATE licenses SET valid_until = valid_until - 999999, features = 'null' WHERE key = ?`,
		} {
			if _, err := raw.Exec(edit, k3); err != nil {
				t.Fatal(err)
			}
			wantCode(t, validate(t, c, k3, "erin"), "SIGNATURE_INVALID")
		}
		if _, err := raw.Exec(`UPDATE licenses SET features = '[]' WHERE key = ?`, k3); err != nil {
			t.Fatal(err)
		}
		wantCode(t, validate(t, c, k3, "erin"), "VALID")

		// Features edited into something that is no list of strings: the
		// license stops validating, and the record and the list still
		// answer (features as an empty list), with no error logged.
		for _, bad := range []string{`{"basic":true}`, `["basic",1]`, `not json`} {
			if _, err := raw.Exec(`UPDATE licenses SET features = ? WHERE key = ?`, bad, k3); err != nil {
				t.Fatal(err)
			}
			wantCode(t, validate(t, c, k3, "erin"), "SIGNATURE_INVALID")
			if rec := call(t, c, "GET", "/api/v1/licenses/"+k3, nil, http.StatusOK); len(rec["features"].([]any)) != 0 {
				t.Errorf("features %s answered as %v", bad, rec["features"])
			}
			call(t, c, "GET", "/api/v1/licenses?end_customer_id=erin", nil, http.StatusOK)
		}
		if logs := a.Logs.String(); strings.Contains(logs, k3) || strings.Contains(logs, `"level":"ERROR"`) {
			t.Errorf("an edited features column was logged: %s", logs)
		}
		if _, err := raw.Exec(`UPDATE licenses SET features = '[]' WHERE key = ?`, k3); err != nil {
			t.Fatal(err)
		}

		// A valid row moved to another key's place answers for that key
		// with its own, valid signature: the key it was issued under
		// tells.
		l2 := generate(t, c, map[string]any{"end_customer_id": "erin", "features": []string{"basic"}})
		k2 := l2["license_key"].(string)
		if _, err := raw.Exec(`DELETE FROM licenses WHERE key = ?`, k); err != nil {
			t.Fatal(err)
		}
		id, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimPrefix(k, "QLOCK-"), "-", ""), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`UPDATE licenses SET id = ? WHERE key = ?`, id, k2); err != nil {
			t.Fatal(err)
		}
		wantCode(t, validate(t, c, k2, "erin"), "NOT_FOUND")
		wantCode(t, validate(t, c, k, "erin"), "SIGNATURE_INVALID")

		// A row edited to claim quantum provenance is not believed: an
		// invalid signature reports quantum_verified false.
		l4 := generate(t, c, map[string]any{"end_customer_id": "erin"})
		k4 := l4["license_key"].(string)
		if _, err := raw.Exec(`UPDATE licenses SET quantum_verified = 1, security_level = 'QUANTUM_SECURED' WHERE key = ?`, k4); err != nil {
			t.Fatal(err)
		}
		v := validate(t, c, k4, "erin")
		wantCode(t, v, "SIGNATURE_INVALID")
		if v["quantum_verified"] != false {
			t.Errorf("an edited row's quantum_verified: %v", v["quantum_verified"])
		}
		// Nor by the record: it says its signature does not match, and
		// vouches for no quantum entropy. The row moved to k's place
		// answers for k with its own key and is marked too; an intact
		// record is marked valid, revoked or not.
		for _, path := range []string{"/api/v1/licenses/" + k4, "/api/v1/licenses/" + k4 + "/revoke", "/api/v1/licenses/" + k} {
			method, body := "GET", any(nil)
			if strings.HasSuffix(path, "/revoke") {
				method, body = "POST", map[string]any{}
			}
			rec := call(t, c, method, path, body, http.StatusOK)
			if rec["signature_valid"] != false || rec["quantum_verified"] != false || rec["security_level"] != "CRYPTOGRAPHIC" || rec["qcos_fidelity"] != nil {
				t.Errorf("%s %s of an edited row: %v", method, path, rec)
			}
		}
		l5 := generate(t, c, map[string]any{"end_customer_id": "erin"})
		k5 := l5["license_key"].(string)
		for _, method := range []string{"GET", "POST"} {
			path, body := "/api/v1/licenses/"+k5, any(nil)
			if method == "POST" {
				path, body = path+"/revoke", map[string]any{}
			}
			if rec := call(t, c, method, path, body, http.StatusOK); rec["signature_valid"] != true {
				t.Errorf("%s %s of an intact license: signature_valid %v", method, path, rec["signature_valid"])
			}
		}
	})
	// SPEC §5's order: with several defects, the first in it is answered.
	t.Run("Order", func(t *testing.T) {
		raw, err := sql.Open("sqlite", a.DBPath)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		// Revoked and expired: REVOKED.
		l := generate(t, c, map[string]any{"end_customer_id": "frank", "valid_days": 1})
		k := l["license_key"].(string)
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/"+k+"/revoke", nil), 200, "")
		a.Clock.Add(48 * time.Hour)
		wantCode(t, validate(t, c, k, "frank"), "REVOKED")
		// Revoked, expired and another end customer's: CUSTOMER_MISMATCH.
		wantCode(t, validate(t, c, k, "grace"), "CUSTOMER_MISMATCH")
		// All that and edited: SIGNATURE_INVALID.
		if _, err := raw.Exec(`UPDATE licenses SET features = '["x"]' WHERE key = ?`, k); err != nil {
			t.Fatal(err)
		}
		wantCode(t, validate(t, c, k, "grace"), "SIGNATURE_INVALID")
		// And another tenant's: NOT_FOUND.
		wantCode(t, validate(t, other, k, "grace"), "NOT_FOUND")
	})
}

func TestLicenseListGetRevoke(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	_, other := a.customer(t, quantumlock.PlanEnterprise, nil, nil)

	var keys []string
	for i := range 7 {
		end := "alice"
		if i%2 == 1 {
			end = "bob"
		}
		keys = append(keys, generate(t, c, map[string]any{"end_customer_id": end, "valid_days": 1 + i})["license_key"].(string))
		a.Clock.Add(time.Second)
	}
	generate(t, other, map[string]any{"end_customer_id": "alice"})

	list := func(t *testing.T, c *apitest.Client, query string) (total int, got []string) {
		t.Helper()
		r := c.Do(t, "GET", "/api/v1/licenses"+query, nil)
		wantStatus(t, r, 200, "")
		var body struct {
			Total    int
			Licenses []struct {
				LicenseKey string `json:"license_key"`
			}
		}
		r.Decode(t, &body)
		for _, l := range body.Licenses {
			got = append(got, l.LicenseKey)
		}
		return body.Total, got
	}
	rev := func(i int) []string { // keys newest first
		var out []string
		for j := len(keys) - 1; j >= 0; j-- {
			out = append(out, keys[j])
		}
		return out[i:]
	}

	t.Run("NewestFirst", func(t *testing.T) {
		total, got := list(t, c, "")
		if total != 7 || strings.Join(got, ",") != strings.Join(rev(0), ",") {
			t.Errorf("total %d, keys %v", total, got)
		}
	})
	t.Run("SkipLimit", func(t *testing.T) {
		total, got := list(t, c, "?skip=2&limit=3")
		if total != 7 || strings.Join(got, ",") != strings.Join(rev(2)[:3], ",") {
			t.Errorf("total %d, keys %v", total, got)
		}
	})
	t.Run("EndCustomerFilter", func(t *testing.T) {
		if total, _ := list(t, c, "?end_customer_id=bob"); total != 3 {
			t.Errorf("bob has %d", total)
		}
	})
	t.Run("StatusFilter", func(t *testing.T) {
		c.Do(t, "POST", "/api/v1/licenses/"+keys[6]+"/revoke", nil)
		a.Clock.Add(2*24*time.Hour + time.Hour) // keys[0] (1 day) and keys[1] (2 days) expire
		for q, want := range map[string]int{"active": 4, "expired": 2, "revoked": 1} {
			if total, _ := list(t, c, "?status="+q); total != want {
				t.Errorf("status=%s: %d, want %d", q, total, want)
			}
		}
	})
	for _, q := range []string{"?skip=-1", "?limit=0", "?limit=1001", "?limit=ten", "?skip=1.5", "?status=lost",
		"?end_customer_id=" + strings.Repeat("x", 257)} {
		t.Run("Err"+q, func(t *testing.T) {
			wantStatus(t, c.Do(t, "GET", "/api/v1/licenses"+q, nil), 400, "INVALID_REQUEST")
		})
	}
	t.Run("PastIntRange", func(t *testing.T) {
		// An integer is an integer, however large: the range is named,
		// and a skip past every license is an empty page.
		for q, detail := range map[string]string{
			"?limit=99999999999999999999":  "between 1 and 1000",
			"?limit=-99999999999999999999": "between 1 and 1000",
			"?skip=-99999999999999999999":  "skip",
		} {
			if d := wantError(t, c.Do(t, "GET", "/api/v1/licenses"+q, nil), 400, "INVALID_REQUEST", detail); strings.Contains(d, "integer") {
				t.Errorf("%s: %q", q, d)
			}
		}
		if total, page := list(t, c, "?skip=99999999999999999999"); total != len(keys) || len(page) != 0 {
			t.Errorf("skip past int's range: total %d, %d licenses", total, len(page))
		}
	})
	// A query Go's URL.Query would read in part, or by its first value,
	// is refused whole, naming what is wrong with it.
	for q, detail := range map[string]string{
		"?limit=1;skip=2":                    "malformed",
		"?limit=1%zz":                        "malformed",
		"?skip=1&skip=abc":                   "skip",
		"?status=active&status=revoked":      "status",
		"?page=2":                            "page",
		"?limit=1&end_customer_id=a&Limit=2": "Limit",
		// Present but empty is not "absent".
		"?limit=":                 "limit",
		"?skip=":                  "skip",
		"?status=":                "status",
		"?end_customer_id=":       "end_customer_id",
		"?end_customer_id=%00%ff": "UTF-8",
	} {
		t.Run("ErrQuery"+q, func(t *testing.T) {
			wantError(t, c.Do(t, "GET", "/api/v1/licenses"+q, nil), 400, "INVALID_REQUEST", detail)
		})
	}
	t.Run("TenantIsolation", func(t *testing.T) {
		if total, _ := list(t, other, ""); total != 1 {
			t.Errorf("other customer sees %d licenses", total)
		}
		wantStatus(t, other.Do(t, "GET", "/api/v1/licenses/"+keys[3], nil), 404, "NOT_FOUND")
		wantStatus(t, other.Do(t, "POST", "/api/v1/licenses/"+keys[3]+"/revoke", `{"reason":"x"}`), 404, "NOT_FOUND")
		r := c.Do(t, "GET", "/api/v1/licenses/"+keys[3], nil)
		if r.JSON(t)["status"] == "revoked" {
			t.Error("another customer revoked the license")
		}
	})
	t.Run("GetOne", func(t *testing.T) {
		r := c.Do(t, "GET", "/api/v1/licenses/"+keys[2], nil)
		wantStatus(t, r, 200, "")
		l := r.JSON(t)
		if l["license_key"] != keys[2] || l["end_customer_id"] != "alice" || l["revoked_at"] != nil || l["entropy_source"] != "cryptographic" {
			t.Errorf("record %v", l)
		}
		wantStatus(t, c.Do(t, "GET", "/api/v1/licenses/QLOCK-0000-0000-0000", nil), 404, "NOT_FOUND")
		wantStatus(t, c.Do(t, "GET", "/api/v1/licenses/whatever", nil), 404, "NOT_FOUND")
	})
	t.Run("RevokeIdempotent", func(t *testing.T) {
		r1 := c.Do(t, "POST", "/api/v1/licenses/"+keys[4]+"/revoke", `{"reason":"chargeback"}`)
		wantStatus(t, r1, 200, "")
		a.Clock.Add(time.Minute)
		r2 := c.Do(t, "POST", "/api/v1/licenses/"+keys[4]+"/revoke", `{"reason":"again"}`)
		wantStatus(t, r2, 200, "")
		l1, l2 := r1.JSON(t), r2.JSON(t)
		if l1["status"] != "revoked" || l1["revoked_at"] != l2["revoked_at"] || l2["revocation_reason"] != "chargeback" {
			t.Errorf("first %v, second %v", l1, l2)
		}
		// keys[6] was revoked without a reason: null, not "".
		if l := c.Do(t, "GET", "/api/v1/licenses/"+keys[6], nil).JSON(t); l["status"] != "revoked" || l["revocation_reason"] != nil {
			t.Errorf("revoked without a reason: %v", l)
		}
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/"+keys[4]+"/revoke", `{"reason":1}`), 400, "INVALID_REQUEST")
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/"+keys[4]+"/revoke", `{"reason":"`+strings.Repeat("r", 1025)+`"}`), 400, "INVALID_REQUEST")
	})
}

func TestQuota(t *testing.T) {
	t.Parallel()

	t.Run("ExactAndMonthRollover", func(t *testing.T) {
		t.Parallel()
		a := newTestAPI(t)
		_, c := a.customer(t, quantumlock.PlanFree, ptr(int64(3)), ptr(int64(1000)))
		for i := range 3 {
			r := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`)
			wantStatus(t, r, 201, "")
			if got := r.Header.Get("X-Quota-Remaining"); got != fmt.Sprint(2-i) {
				t.Errorf("X-Quota-Remaining %s after %d", got, i+1)
			}
			// A generate that issues nothing says where the quota stands
			// too: a bad field, or a body that is no JSON.
			for _, body := range []string{`{"end_customer_id":""}`, `{`} {
				r := c.Do(t, "POST", "/api/v1/licenses/generate", body)
				wantStatus(t, r, 400, "INVALID_REQUEST")
				if got := r.Header.Get("X-Quota-Remaining"); got != fmt.Sprint(2-i) || r.Header.Get("X-Quota-Limit") != "3" || r.Header.Get("X-Quota-Reset") == "" {
					t.Errorf("a 400 after %d issued: X-Quota-Remaining %q, X-Quota-Limit %q", i+1, got, r.Header.Get("X-Quota-Limit"))
				}
			}
		}
		r := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`)
		wantStatus(t, r, 429, "RATE_LIMIT_EXCEEDED")
		if d := r.JSON(t)["detail"].(string); !strings.Contains(d, "Monthly limit") || r.Header.Get("X-Quota-Remaining") != "0" {
			t.Errorf("detail %q remaining %q", d, r.Header.Get("X-Quota-Remaining"))
		}
		reset, err := strconv.ParseInt(r.Header.Get("X-Quota-Reset"), 10, 64)
		if ra := r.Header.Get("Retry-After"); err != nil || ra != fmt.Sprint(reset-a.Clock.Now().Unix()) {
			t.Errorf("Retry-After %q with X-Quota-Reset %d (%v) at %v", ra, reset, err, a.Clock.Now())
		}
		// Last second of March, then April.
		a.Clock.Set(time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC))
		r = c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`)
		wantStatus(t, r, 429, "RATE_LIMIT_EXCEEDED")
		if ra := r.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q in the month's last second", ra)
		}
		a.Clock.Set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`), 201, "")
		st := c.Do(t, "GET", "/api/v1/customers/stats", nil).JSON(t)
		if st["licenses_generated_month"] != 1.0 || st["licenses_remaining_month"] != 2.0 || st["total_licenses_all_time"] != 4.0 {
			t.Errorf("stats after rollover %v", st)
		}
	})

	// The refusals the authentication wrapper makes of a generate say
	// where the month's quota stands too: a query string, and the
	// per-minute limit's 429.
	t.Run("WrapperRefusals", func(t *testing.T) {
		t.Parallel()
		a := newTestAPI(t)
		_, c := a.customer(t, quantumlock.PlanFree, ptr(int64(3)), ptr(int64(3)))
		wantQuota := func(r *apitest.Response, remaining string) {
			t.Helper()
			if r.Header.Get("X-Quota-Limit") != "3" || r.Header.Get("X-Quota-Remaining") != remaining || r.Header.Get("X-Quota-Reset") == "" {
				t.Errorf("%d: X-Quota-Limit %q, X-Quota-Remaining %q (want %s), X-Quota-Reset %q", r.Status,
					r.Header.Get("X-Quota-Limit"), r.Header.Get("X-Quota-Remaining"), remaining, r.Header.Get("X-Quota-Reset"))
			}
		}
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`), 201, "")
		r := c.Do(t, "POST", "/api/v1/licenses/generate?valid_days=5", `{"end_customer_id":"x"}`)
		wantStatus(t, r, 400, "INVALID_REQUEST")
		wantQuota(r, "2")
		wantStatus(t, c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`), 201, "")
		r = c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"x"}`)
		wantStatus(t, r, 429, "RATE_LIMIT_EXCEEDED")
		if d := r.JSON(t)["detail"].(string); !strings.Contains(d, "per minute") {
			t.Errorf("detail %q: not the per-minute limit", d)
		}
		wantQuota(r, "1")
		// Other routes' refusals carry no quota.
		r = c.Do(t, "GET", "/api/v1/customers/me", nil)
		wantStatus(t, r, 429, "RATE_LIMIT_EXCEEDED")
		if r.Header.Get("X-Quota-Limit") != "" {
			t.Errorf("X-Quota-Limit %q on another route's 429", r.Header.Get("X-Quota-Limit"))
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		a := newTestAPI(t)
		const limit, used, calls = 60, 20, 200
		_, c := a.customer(t, quantumlock.PlanStartup, ptr(int64(limit)), ptr(int64(100000)))
		for range used {
			generate(t, c, `{"end_customer_id":"seed"}`)
		}
		var created, limited atomic.Int64
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() {
				r := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"burst"}`)
				switch r.Status {
				case 201:
					created.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d: %s", r.Status, r.Body)
				}
			})
		}
		wg.Wait()
		if created.Load() != limit-used || limited.Load() != calls-(limit-used) {
			t.Fatalf("%d created, %d limited; want exactly %d and %d", created.Load(), limited.Load(), limit-used, calls-(limit-used))
		}
		st := c.Do(t, "GET", "/api/v1/customers/stats", nil).JSON(t)
		if st["licenses_generated_month"] != float64(limit) || st["licenses_remaining_month"] != 0.0 || st["total_licenses_all_time"] != float64(limit) {
			t.Errorf("stats %v", st)
		}
		var list struct{ Total int }
		c.Do(t, "GET", "/api/v1/licenses?limit=1", nil).Decode(t, &list)
		if list.Total != limit {
			t.Errorf("%d licenses stored, want %d", list.Total, limit)
		}
	})
}

// README: metadata "is stored and answered byte for byte"; JSON's
// encoder would otherwise answer <, > and & as \u003c, \u003e, \u0026.
func TestMetadataAnsweredByteForByte(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	const meta = `{"company":"Tom & Jerry <Ltd>","note":"a>b"}`
	key := generate(t, c, `{"end_customer_id":"x","metadata":`+meta+`}`)["license_key"].(string)
	for _, p := range [][2]string{{"GET", "/api/v1/licenses/" + key}, {"POST", "/api/v1/licenses/" + key + "/revoke"}} {
		r := c.Do(t, p[0], p[1], nil)
		wantStatus(t, r, 200, "")
		if !bytes.Contains(r.Body, []byte(`"metadata":`+meta)) {
			t.Errorf("%s %s: metadata not answered as stored %s; body: %s", p[0], p[1], meta, r.Body)
		}
	}
}

// SPEC §5's bounds are inclusive and counted in characters, not bytes:
// generate at every upper bound with two-byte characters, validate with
// the same end_customer_id, the list's default and largest limit, and a
// revocation reason of 1024 characters.
func TestLicenseBoundsInclusiveInCharacters(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	fs := make([]string, 64)
	for i := range fs {
		fs[i] = strings.Repeat("é", 64)
	}
	l := generate(t, c, map[string]any{"end_customer_id": strings.Repeat("é", 256), "features": fs, "valid_days": 3650})
	key := l["license_key"].(string)
	v := call(t, c, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": key, "end_customer_id": strings.Repeat("é", 256)}, http.StatusOK)
	if v["code"] != "VALID" {
		t.Errorf("validate: %v", v)
	}
	if b := call(t, c, "GET", "/api/v1/licenses", nil, http.StatusOK); b["limit"] != 100.0 {
		t.Errorf("default limit %v", b["limit"])
	}
	call(t, c, "GET", "/api/v1/licenses?limit=1000", nil, http.StatusOK)
	call(t, c, "POST", "/api/v1/licenses/"+key+"/revoke", map[string]any{"reason": strings.Repeat("é", 1024)}, http.StatusOK)
}

// Revocation wins over expiry in every status shown.
func TestRevokedAndExpiredIsRevoked(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	key := generate(t, c, map[string]any{"end_customer_id": "x", "valid_days": 1})["license_key"].(string)
	call(t, c, "POST", "/api/v1/licenses/"+key+"/revoke", nil, http.StatusOK)
	a.Clock.Add(48 * time.Hour)
	if s := call(t, c, "GET", "/api/v1/licenses/"+key, nil, http.StatusOK)["status"]; s != "revoked" {
		t.Errorf("record status %v", s)
	}
	ls := call(t, c, "GET", "/api/v1/licenses?status=revoked", nil, http.StatusOK)["licenses"].([]any)
	if len(ls) != 1 || ls[0].(map[string]any)["status"] != "revoked" {
		t.Errorf("listed %v", ls)
	}
}

// A page of a status filter is its newest licenses.
func TestStatusPageNewestFirst(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	var keys []string
	for range 4 {
		keys = append(keys, generate(t, c, map[string]any{"end_customer_id": "x"})["license_key"].(string))
	}
	ls := call(t, c, "GET", "/api/v1/licenses?status=active&limit=2", nil, http.StatusOK)["licenses"].([]any)
	if len(ls) != 2 || ls[0].(map[string]any)["license_key"] != keys[3] || ls[1].(map[string]any)["license_key"] != keys[2] {
		t.Errorf("page %v, want %s, %s", ls, keys[3], keys[2])
	}
}

// A quota lowered below the month's count shows nothing negative, in
// stats or in X-Quota-Remaining.
func TestLoweredQuotaNeverNegative(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	cust, c := a.customer(t, quantumlock.PlanFree, ptr(int64(3)), ptr(int64(1000)))
	for range 3 {
		generate(t, c, `{"end_customer_id":"x"}`)
	}
	if _, err := a.Accounts.UpdateCustomer(context.Background(), cust.ID, quantumlock.CustomerUpdate{LicensesPerMonth: ptr(int64(1))}); err != nil {
		t.Fatal(err)
	}
	if st := call(t, c, "GET", "/api/v1/customers/stats", nil, http.StatusOK); st["licenses_remaining_month"] != 0.0 {
		t.Errorf("stats remaining %v", st["licenses_remaining_month"])
	}
	r := c.Do(t, "POST", "/api/v1/licenses/generate", `{}`)
	wantStatus(t, r, http.StatusBadRequest, "INVALID_REQUEST")
	if r.Header.Get("X-Quota-Limit") != "1" || r.Header.Get("X-Quota-Remaining") != "0" {
		t.Errorf("X-Quota-Limit %q X-Quota-Remaining %q", r.Header.Get("X-Quota-Limit"), r.Header.Get("X-Quota-Remaining"))
	}
}

// active_licenses is neither expired nor revoked at the request's moment:
// stats, validate and the active list agree a millisecond before a
// license's valid_until and at it.
func TestStatsActiveAtExpiry(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanStartup, nil, nil)
	l := generate(t, c, `{"end_customer_id":"x","valid_days":1}`)
	generate(t, c, `{"end_customer_id":"x","valid_days":2}`)
	until, _ := time.Parse(time.RFC3339, l["valid_until"].(string))
	a.Clock.Set(until.Add(-time.Millisecond))
	if st := call(t, c, "GET", "/api/v1/customers/stats", nil, 200); st["active_licenses"] != 2.0 {
		t.Errorf("just before expiry: %v", st["active_licenses"])
	}
	a.Clock.Set(until)
	st := call(t, c, "GET", "/api/v1/customers/stats", nil, 200)
	v := call(t, c, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": l["license_key"], "end_customer_id": "x"}, 200)
	if st["active_licenses"] != 1.0 || v["code"] != "EXPIRED" {
		t.Errorf("at expiry: active %v, validate %v", st["active_licenses"], v["code"])
	}
	ls := call(t, c, "GET", "/api/v1/licenses?status=active", nil, 200)
	if ls["total"] != 1.0 {
		t.Errorf("active listed %v", ls["total"])
	}
}

// The quota headers of a generate that issued nothing (a 400) give the
// start of the next UTC month as X-Quota-Reset, as a 201's do.
func TestQuotaResetOnRefusal(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.Clock.Set(time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC))
	_, c := a.customer(t, quantumlock.PlanFree, ptr(int64(2)), ptr(int64(1000)))
	next := strconv.FormatInt(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Unix(), 10)
	for _, body := range []string{`{"end_customer_id":""}`, `{`} {
		r := c.Do(t, "POST", "/api/v1/licenses/generate", body)
		wantStatus(t, r, 400, "INVALID_REQUEST")
		if r.Header.Get("X-Quota-Reset") != next || r.Header.Get("X-Quota-Remaining") != "2" {
			t.Errorf("400: X-Quota-Reset %q (want %s), X-Quota-Remaining %q", r.Header.Get("X-Quota-Reset"), next, r.Header.Get("X-Quota-Remaining"))
		}
	}
}
