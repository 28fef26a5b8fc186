package license

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/sqlite"
)

func TestKeyFormat(t *testing.T) {
	t.Parallel()
	k := FormatKey([KeyBytes]byte{0x7a, 0x3f, 0x9b, 0x2c, 0x4e, 0x1d})
	if k != "QLOCK-7A3F-9B2C-4E1D" {
		t.Fatalf("FormatKey = %s", k)
	}
	for in, want := range map[string]bool{
		"QLOCK-7A3F-9B2C-4E1D":       true,
		" qlock-7a3f-9b2c-4e1d ":     true,
		"\tQLOCK-7A3F-9B2C-4E1D\r\n": true,
		// Only the whitespace of a pasted line is dropped, not a control
		// character that Unicode counts as space (NEL), nor a no-break
		// space.
		"QLOCK-7A3F-9B2C-4E1D\u0085": false,
		"\u00a0QLOCK-7A3F-9B2C-4E1D": false,
		"QLOCK-7A3F-9B2C-4E1":        false,
		"QLOCK-7A3F-9B2C-4E1G":       false,
		"QLOCK_7A3F-9B2C-4E1D":       false,
		"QLOCK-7A3F-9B2C44E1D":       false,
		"":                           false,
	} {
		if got, ok := NormalizeKey(in); ok != want || (ok && got != "QLOCK-7A3F-9B2C-4E1D") {
			t.Errorf("NormalizeKey(%q) = %q, %v", in, got, ok)
		}
	}
}

func FuzzNormalizeKey(f *testing.F) {
	f.Add("QLOCK-7A3F-9B2C-4E1D")
	f.Add("qlock-0000-0000-000g")
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := NormalizeKey(s)
		if !ok {
			return
		}
		if k2, ok2 := NormalizeKey(k); !ok2 || k2 != k {
			t.Fatalf("normal form %q not stable", k)
		}
		var b [KeyBytes]byte
		h := strings.ReplaceAll(k[6:], "-", "")
		for i := range b {
			var v byte
			for _, c := range h[2*i : 2*i+2] {
				v <<= 4
				if c <= '9' {
					v |= byte(c - '0')
				} else {
					v |= byte(c-'A') + 10
				}
			}
			b[i] = v
		}
		if FormatKey(b) != k {
			t.Fatalf("FormatKey(parse(%q)) = %q", k, FormatKey(b))
		}
	})
}

func sampleLicense() *quantumlock.License {
	f := 0.97
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &quantumlock.License{
		Key: "QLOCK-7A3F-9B2C-4E1D", CustomerID: "cust_0123456789ab", EndCustomerID: "alice",
		Features: []string{"a", "b"}, Metadata: json.RawMessage(`{"k":"v"}`),
		GeneratedAt: t0, ValidUntil: t0.Add(24 * time.Hour), Fidelity: &f,
		SecurityLevel: quantumlock.SecurityCryptographic, EntropySource: "cryptographic",
	}
}

func TestSignature(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{7}, 64)
	l := sampleLicense()
	l.Signature = Sign(secret, l)
	if len(l.Signature) != 128 || strings.ToLower(l.Signature) != l.Signature {
		t.Fatalf("signature %q", l.Signature)
	}
	if !VerifySignature(secret, l) {
		t.Fatal("fresh signature does not verify")
	}
	if VerifySignature(bytes.Repeat([]byte{8}, 64), l) {
		t.Error("verifies under another customer's secret")
	}

	// Every signed field matters.
	edits := map[string]func(l *quantumlock.License){
		"Key":             func(l *quantumlock.License) { l.Key = "QLOCK-7A3F-9B2C-4E1E" },
		"CustomerID":      func(l *quantumlock.License) { l.CustomerID = "cust_0123456789ac" },
		"EndCustomerID":   func(l *quantumlock.License) { l.EndCustomerID = "alicf" },
		"FeatureAdded":    func(l *quantumlock.License) { l.Features = append(l.Features, "c") },
		"FeaturesJoined":  func(l *quantumlock.License) { l.Features = []string{"ab"} },
		"FeatureBoundary": func(l *quantumlock.License) { l.Features = []string{"a", "b", ""} },
		"Metadata":        func(l *quantumlock.License) { l.Metadata = json.RawMessage(`{"k":"w"}`) },
		"GeneratedAt":     func(l *quantumlock.License) { l.GeneratedAt = l.GeneratedAt.Add(time.Second) },
		"ValidUntil":      func(l *quantumlock.License) { l.ValidUntil = l.ValidUntil.Add(time.Second) },
		"QuantumVerified": func(l *quantumlock.License) { l.QuantumVerified = true },
		"Fidelity":        func(l *quantumlock.License) { f := 0.98; l.Fidelity = &f },
		"FidelityNil":     func(l *quantumlock.License) { l.Fidelity = nil },
		"SecurityLevel":   func(l *quantumlock.License) { l.SecurityLevel = quantumlock.SecurityQuantum },
		"EntropySource":   func(l *quantumlock.License) { l.EntropySource = "qcos_api" },
		"SignatureBits":   func(l *quantumlock.License) { l.Signature = "0" + l.Signature[1:] },
		"SignatureShort":  func(l *quantumlock.License) { l.Signature = l.Signature[:126] },
		"SignatureNotHex": func(l *quantumlock.License) { l.Signature = "zz" + l.Signature[2:] },
	}
	// The pooled MACs the Service uses must agree with Sign and
	// VerifySignature, for every customer's key.
	var pooled macs
	secretOf := func(id string) []byte {
		if id == l.CustomerID {
			return secret
		}
		return []byte("another key for " + id)
	}
	if got := pooled.sign(l.CustomerID, secretOf, l); got != l.Signature {
		t.Fatalf("pooled signature %s, want %s", got, l.Signature)
	}
	if !pooled.verify(l.CustomerID, secretOf, l) {
		t.Fatal("pooled verify rejects a fresh signature")
	}
	if pooled.verify("cust_0123456789ac", secretOf, l) {
		t.Error("pooled verify accepts under another customer's key")
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			c := *l
			c.Features = append([]string(nil), l.Features...)
			edit(&c)
			if VerifySignature(secret, &c) {
				t.Errorf("edited %s still verifies", name)
			}
			if pooled.verify(l.CustomerID, secretOf, &c) {
				t.Errorf("edited %s still verifies with a pooled MAC", name)
			}
		})
	}
}

// TestPooledMACsConcurrent signs from many goroutines for a few customers
// at once: a pooled state must never carry one call's data into another.
func TestPooledMACsConcurrent(t *testing.T) {
	t.Parallel()
	var pooled macs
	secretOf := func(id string) []byte { return []byte("key of " + id) }
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				l := sampleLicense()
				l.CustomerID = []string{"cust_aaaaaaaaaaaa", "cust_bbbbbbbbbbbb", "cust_cccccccccccc"}[(g+i)%3]
				l.EndCustomerID = strings.Repeat("e", 1+i%50)
				want := Sign(secretOf(l.CustomerID), l)
				if got := pooled.sign(l.CustomerID, secretOf, l); got != want {
					t.Errorf("goroutine %d call %d: pooled signature differs from Sign", g, i)
					return
				}
				l.Signature = want
				if !pooled.verify(l.CustomerID, secretOf, l) {
					t.Errorf("goroutine %d call %d: pooled verify rejects", g, i)
					return
				}
			}
		})
	}
	wg.Wait()
}

// svc returns a Service on a fresh SQLite store with a settable clock.
func svc(t *testing.T) (*Service, *time.Time, *sync.Mutex) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 5, 31, 23, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	s := &Service{Store: db, Rand: entropy.System{},
		Secret: func(id string) []byte { return []byte("secret-of-" + id) },
		Now:    func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	for _, id := range []string{"cust_aaaaaaaaaaaa", "cust_bbbbbbbbbbbb"} {
		if err := db.CreateCustomer(context.Background(), &quantumlock.Customer{ID: id, Name: "n", Email: "a@b.example", Plan: quantumlock.PlanFree, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	return s, &now, &mu
}

func TestServiceGenerateValidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now, mu := svc(t)
	three := int64(3)
	c := &quantumlock.Customer{ID: "cust_aaaaaaaaaaaa", Plan: quantumlock.PlanFree, LicensesPerMonth: &three}

	l, u, err := s.Generate(ctx, c, Params{EndCustomerID: "alice", Metadata: json.RawMessage("{ \"a\" : 1 }")})
	if err != nil {
		t.Fatal(err)
	}
	if string(l.Metadata) != `{"a":1}` {
		t.Errorf("metadata stored as %s, want compact", l.Metadata)
	}
	if u.Limit != 3 || u.Used != 1 || u.Remaining() != 2 || !u.Reset.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("usage %+v", u)
	}
	r, err := s.Validate(ctx, c.ID, l.Key, "alice")
	if err != nil || !r.Valid() {
		t.Fatalf("validate: %+v, %v", r, err)
	}
	// The other customer cannot see it.
	if r, _ := s.Validate(ctx, "cust_bbbbbbbbbbbb", l.Key, "alice"); r.Code != CodeNotFound || r.License != nil {
		t.Errorf("other tenant: %+v", r)
	}
	if _, err := s.Get(ctx, "cust_bbbbbbbbbbbb", l.Key); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
		t.Errorf("other tenant get: %v", err)
	}
	if _, err := s.Revoke(ctx, "cust_bbbbbbbbbbbb", l.Key, ""); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
		t.Errorf("other tenant revoke: %v", err)
	}
	// A reason may run over lines; no other control character.
	for _, reason := range []string{"a\x00b", "a\x1b[2Jb", "a\u0085b"} {
		if _, err := s.Revoke(ctx, c.ID, l.Key, reason); quantumlock.ErrorCode(err) != quantumlock.EINVALID {
			t.Errorf("revoke with reason %q: %v", reason, err)
		}
	}
	if r, _ := s.Validate(ctx, c.ID, l.Key, "alice"); !r.Valid() {
		t.Fatal("a refused revocation revoked the license")
	}
	if rl, err := s.Revoke(ctx, c.ID, l.Key, "line one\r\nline two\tend"); err != nil || rl.RevocationReason != "line one\r\nline two\tend" {
		t.Fatalf("revoke with line breaks and a tab: %+v, %v", rl, err)
	}

	s.Generate(ctx, c, Params{EndCustomerID: "bob"})
	s.Generate(ctx, c, Params{EndCustomerID: "bob"})
	if _, u, err := s.Generate(ctx, c, Params{EndCustomerID: "bob"}); quantumlock.ErrorCode(err) != quantumlock.ERATELIMIT || u.Remaining() != 0 {
		t.Fatalf("4th of 3: %v, %+v", err, u)
	}
	// Bad params are refused before the quota is touched.
	if _, _, err := s.Generate(ctx, c, Params{}); quantumlock.ErrorCode(err) != quantumlock.EINVALID {
		t.Fatalf("empty params: %v", err)
	}

	mu.Lock()
	*now = now.Add(time.Hour) // June: a new month
	mu.Unlock()
	if _, u, err := s.Generate(ctx, c, Params{EndCustomerID: "carol"}); err != nil || u.Used != 1 {
		t.Fatalf("after roll-over: %v, %+v", err, u)
	}
	st, err := s.Stats(ctx, c)
	if err != nil || st.GeneratedMonth != 1 || st.TotalAllTime != 4 || *st.RemainingMonth != 2 || *st.MaxMonth != 3 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

func TestServiceUnavailableRandomness(t *testing.T) {
	t.Parallel()
	s, _, _ := svc(t)
	s.Rand = failingRand{}
	_, _, err := s.Generate(context.Background(), &quantumlock.Customer{ID: "cust_aaaaaaaaaaaa", Plan: quantumlock.PlanFree}, Params{EndCustomerID: "x"})
	if quantumlock.ErrorCode(err) != quantumlock.EUNAVAILABLE {
		t.Fatalf("err %v", err)
	}
	st, _ := s.Stats(context.Background(), &quantumlock.Customer{ID: "cust_aaaaaaaaaaaa", Plan: quantumlock.PlanFree})
	if st.GeneratedMonth != 0 {
		t.Error("a failed generate used quota")
	}
}

type failingRand struct{}

func (failingRand) Draw(context.Context, int, string) (*quantumlock.Entropy, error) {
	return nil, quantumlock.Errorf(quantumlock.EUNAVAILABLE, "No entropy.")
}

// collidingRand returns the same bytes for the first n draws.
type collidingRand struct {
	mu sync.Mutex
	n  int
}

func (c *collidingRand) Draw(ctx context.Context, n int, src string) (*quantumlock.Entropy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n > 0 {
		c.n--
		return &quantumlock.Entropy{Bytes: make([]byte, n), Source: "cryptographic"}, nil
	}
	return entropy.System{}.Draw(ctx, n, src)
}

func TestServiceRetriesOnCollision(t *testing.T) {
	t.Parallel()
	s, _, _ := svc(t)
	s.Rand = &collidingRand{n: 3}
	c := &quantumlock.Customer{ID: "cust_aaaaaaaaaaaa", Plan: quantumlock.PlanEnterprise}
	l1, _, err := s.Generate(context.Background(), c, Params{EndCustomerID: "x"})
	if err != nil || l1.Key != "QLOCK-0000-0000-0000" {
		t.Fatalf("first: %v %v", l1, err)
	}
	l2, u, err := s.Generate(context.Background(), c, Params{EndCustomerID: "x"})
	if err != nil || l2.Key == l1.Key || u.Used != 2 {
		t.Fatalf("after collisions: %v %+v %v", l2, u, err)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	mk := masterkey.Generate()
	secret := Secrets(mk)
	a, b := secret("cust_aaaaaaaaaaaa"), secret("cust_bbbbbbbbbbbb")
	if len(a) != SignatureSize || bytes.Equal(a, b) {
		t.Fatalf("secrets %x %x", a, b)
	}
	if !bytes.Equal(a, Secrets(mk)("cust_aaaaaaaaaaaa")) {
		t.Error("a fresh Secrets disagrees: licenses would not survive a restart")
	}
	if bytes.Equal(a, Secrets(masterkey.Generate())("cust_aaaaaaaaaaaa")) {
		t.Error("another master key gives the same secret")
	}
}

// The metadata limit counts the object as stored, compact: the same object
// pretty-printed is accepted, and one byte more is not, either way.
func TestMetadataLimitCountsCompactForm(t *testing.T) {
	// {"a":"mmm…"} is 8 bytes around the string.
	at := func(n int, pretty bool) Params {
		m := fmt.Sprintf(`{"a":"%s"}`, strings.Repeat("m", n-8))
		if pretty {
			m = fmt.Sprintf("{\n    \"a\" : \"%s\"\n}", strings.Repeat("m", n-8))
		}
		return Params{EndCustomerID: "x", Metadata: json.RawMessage(m)}
	}
	for _, pretty := range []bool{false, true} {
		p := at(MaxMetadata, pretty)
		if err := p.Validate(); err != nil {
			t.Errorf("%d bytes compact (pretty %v): %v", MaxMetadata, pretty, err)
		}
		p = at(MaxMetadata+1, pretty)
		if err := p.Validate(); quantumlock.ErrorCode(err) != quantumlock.EINVALID || !strings.Contains(err.Error(), "metadata") {
			t.Errorf("%d bytes compact (pretty %v): %v, want EINVALID naming metadata", MaxMetadata+1, pretty, err)
		}
	}
}

// List judges status at the instant its caller gives, so that the caller
// can label each license by the same instant; without one, at its clock.
func TestListJudgesAtTheGivenInstant(t *testing.T) {
	s, now, mu := svc(t)
	ctx := context.Background()
	c := &quantumlock.Customer{ID: "cust_aaaaaaaaaaaa", Plan: quantumlock.PlanFree}
	days := 1
	if _, _, err := s.Generate(ctx, c, Params{EndCustomerID: "x", ValidDays: &days}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	*now = now.Add(48 * time.Hour) // the service's clock: expired
	mu.Unlock()
	active := quantumlock.LicenseFilter{CustomerID: c.ID, Status: quantumlock.StatusActive, Limit: 10}
	if _, n, err := s.List(ctx, active); err != nil || n != 0 {
		t.Fatalf("active at the service's clock: %d, %v; want 0", n, err)
	}
	active.Now = now.Add(-47 * time.Hour) // the caller's instant: still valid
	if _, n, err := s.List(ctx, active); err != nil || n != 1 {
		t.Fatalf("active at the given instant: %d, %v; want 1", n, err)
	}
}

// Metadata is kept only when every JSON reader reads it the same way; end
// customer ids and features hold no control characters.
func TestParamsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		p      Params
		detail string // "" means valid
	}{
		{"Metadata", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"a":[1,{"b":2,"c":[{"a":1},{"a":2}]}],"b":{"a":1.5e300,"b":-1e-400},"c":null}`)}, ""},
		{"MetadataSameNameAtTwoDepths", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"a":{"a":{"a":1}}}`)}, ""},
		{"MetadataEmpty", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{}`)}, ""},
		{"MetadataNull", Params{EndCustomerID: "x", Metadata: json.RawMessage(`null`)}, ""},
		{"UnicodeID", Params{EndCustomerID: "Zoë Ünïcode 東京", Features: []string{"pro tier"}}, ""},
		{"ErrMetadataArray", Params{EndCustomerID: "x", Metadata: json.RawMessage(`[1]`)}, "metadata must be a JSON object"},
		{"ErrMetadataString", Params{EndCustomerID: "x", Metadata: json.RawMessage(`"a"`)}, "metadata must be a JSON object"},
		{"ErrMetadataDuplicate", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"a":1,"a":2}`)}, `"a" appears twice`},
		{"ErrMetadataNestedDuplicate", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"a":[{"k":1,"j":2,"k":3}]}`)}, `"k" appears twice`},
		{"ErrMetadataEscapedDuplicate", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"a":1,"\u0061":2}`)}, `"a" appears twice`},
		{"ErrMetadataTrailing", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"a":1} {"a":1,"a":2}`)}, "nothing after it"},
		{"ErrMetadataGarbage", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{}garbage`)}, "nothing after it"},
		{"ErrMetadataUnclosed", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"a":[1,2}`)}, "metadata"},
		{"ErrMetadataHugeNumber", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"x":1e999}`)}, "1e999 is out of range"},
		{"ErrMetadataHugeNegative", Params{EndCustomerID: "x", Metadata: json.RawMessage(`{"x":[-2e308]}`)}, "out of range"},
		{"ErrIDNul", Params{EndCustomerID: "a\x00b"}, "end_customer_id must not hold control"},
		{"ErrIDEscape", Params{EndCustomerID: "\x1b[31mred"}, "end_customer_id must not hold control"},
		{"ErrIDC1", Params{EndCustomerID: "a\u0085b"}, "end_customer_id must not hold control"},
		{"ErrFeatureNewline", Params{EndCustomerID: "x", Features: []string{"ok", "pro\n"}}, "features[1] must not hold control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			switch {
			case tc.detail == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.detail != "" && (quantumlock.ErrorCode(err) != quantumlock.EINVALID || !strings.Contains(err.Error(), tc.detail)):
				t.Errorf("Validate: %v, want EINVALID naming %q", err, tc.detail)
			}
		})
	}
}

// FuzzCheckMetadata: what is not JSON fails; any JSON either passes or
// fails with a client error, and what passes decodes with encoding/json,
// whose reading is the one clients of the service are most likely to
// share.
func FuzzCheckMetadata(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":[{"b":[]},{"b":{}}]}`, `{"n":1e999}`, `{"s":"\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := checkMetadata(json.RawMessage(s))
		if !json.Valid([]byte(s)) {
			if err == nil {
				t.Fatalf("checkMetadata accepted %q, which is not JSON", s)
			}
			return
		}
		if err != nil {
			if quantumlock.ErrorCode(err) != quantumlock.EINVALID {
				t.Fatalf("checkMetadata(%q) = %v, want EINVALID", s, err)
			}
			return
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("checkMetadata accepted %q, which encoding/json cannot read: %v", s, err)
		}
	})
}
