package keyring

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/sqlite"
)

// Customers every test store holds.
const (
	custA = "cust_aaaaaaaaaaaa"
	custB = "cust_bbbbbbbbbbbb"
	custC = "cust_cccccccccccc"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStore opens a SQLite store at path holding the three test customers.
func openStore(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, id := range []string{custA, custB, custC} {
		if _, err := db.Customer(ctx, id); err == nil {
			continue
		}
		c := &quantumlock.Customer{ID: id, Name: id, Email: id + "@example.com", Plan: quantumlock.PlanFree, CreatedAt: time.Now().UTC()}
		if err := db.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

type fixture struct {
	svc   *Service
	db    *sqlite.DB
	path  string
	mk    *masterkey.Key
	clock *testClock
}

type option func(*Config)

func withRandomness(r quantumlock.Randomness) option { return func(c *Config) { c.Randomness = r } }
func withRSAConcurrency(n int) option                { return func(c *Config) { c.RSAConcurrency = n } }
func withMaxKeys(n int) option                       { return func(c *Config) { c.MaxKeys = n } }

// newFixture returns a Service on a fresh SQLite store.
func newFixture(t testing.TB, opts ...option) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	f := &fixture{db: openStore(t, path), path: path, mk: masterkey.Generate(), clock: newTestClock()}
	f.svc = f.service(t, f.db, f.mk, opts...)
	return f
}

// exec runs q on f's database file through a connection of its own, as
// someone who can write to the database but has no master key would.
func (f *fixture) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	raw, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// service returns a new Service over db with master key mk.
func (f *fixture) service(t testing.TB, db *sqlite.DB, mk *masterkey.Key, opts ...option) *Service {
	t.Helper()
	c := Config{Keys: db, Nonces: db, Exchanges: db, Randomness: entropy.System{}, MasterKey: mk, Clock: f.clock.Now}
	for _, o := range opts {
		o(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantCode fails unless err carries code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := quantumlock.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	full := Config{Keys: f.db, Nonces: f.db, Exchanges: f.db, Randomness: entropy.System{}, MasterKey: f.mk}
	for name, mutate := range map[string]func(*Config){
		"NoKeys":       func(c *Config) { c.Keys = nil },
		"NoNonces":     func(c *Config) { c.Nonces = nil },
		"NoExchanges":  func(c *Config) { c.Exchanges = nil },
		"NoRandomness": func(c *Config) { c.Randomness = nil },
		"NoMasterKey":  func(c *Config) { c.MasterKey = nil },
	} {
		c := full
		mutate(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(full); err != nil {
		t.Fatal(err)
	}
}
