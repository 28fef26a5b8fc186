package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	sqlite3 "modernc.org/sqlite/lib"
)

// A store whose writes fail for a reason of the storage (here a full
// database, as a full disk would make it, then a read-only one) still
// answers Ping and reads, and WriteFailure says what failed last and when,
// for a minute after; a write refused for a business reason, or one that
// succeeds, changes nothing.
func TestWriteFailure(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTemp(t)
	c := newCustomer(t, db, "cust_000000000001")
	q := quantumlock.Quota{Period: "2026-03"}
	if _, err := db.CreateLicense(ctx, newLicense(c.ID, 0), q); err != nil {
		t.Fatal(err)
	}
	if kind, _ := db.WriteFailure(); kind != "" {
		t.Fatalf("before any failure: %q", kind)
	}

	// The writer is one connection, so its pragmas hold for every write.
	if _, err := db.w.ExecContext(ctx, `PRAGMA max_page_count = 1`); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	var failed error
	for i := 1; i < 10000 && failed == nil; i++ {
		_, failed = db.CreateLicense(ctx, newLicense(c.ID, i), q)
	}
	if failed == nil {
		t.Fatal("no write failed past max_page_count")
	}
	kind, at := db.WriteFailure()
	if kind != "disk_full" || at.Before(before.Add(-time.Second)) || at.After(time.Now()) {
		t.Fatalf("after %v: WriteFailure %q at %v", failed, kind, at)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping while writes fail: %v", err)
	}
	if _, err := db.License(ctx, c.ID, newLicense(c.ID, 0).Key); err != nil {
		t.Errorf("a read while writes fail: %v", err)
	}
	// A duplicate key is refused by the store, not by the storage, in a
	// transaction that commits nothing, and succeeds on a full disk.
	if _, err := db.CreateLicense(ctx, newLicense(c.ID, 0), q); quantumlock.ErrorCode(err) != quantumlock.ECONFLICT {
		t.Fatalf("duplicate: %v", err)
	}
	if k, a := db.WriteFailure(); k != kind || !a.Equal(at) {
		t.Errorf("after a refused duplicate: %q at %v", k, a)
	}

	if _, err := db.w.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateLicense(ctx, newLicense(c.ID, 30000), q); err != nil {
		t.Fatal(err)
	}
	if k, _ := db.WriteFailure(); k != kind {
		t.Errorf("a success within the minute hides the failure: %q", k)
	}
	// A minute on, it is no longer news.
	f := *db.writes.last.Load()
	f.at = f.at.Add(-writeFailedRecently)
	db.writes.last.Store(&f)
	if k, _ := db.WriteFailure(); k != "" {
		t.Errorf("a minute after the failure: %q", k)
	}

	if _, err := db.w.ExecContext(ctx, `PRAGMA query_only = ON`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateLicense(ctx, newLicense(c.ID, 30001), q); err == nil {
		t.Fatal("a write on a read-only connection succeeded")
	}
	if k, _ := db.WriteFailure(); k != "read_only" {
		t.Errorf("read-only: %q", k)
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA query_only = OFF`); err != nil {
		t.Fatal(err)
	}
}

// Only failures of the storage itself count, extended codes by their
// primary one: a refused, busy or canceled write says nothing about whether
// writes can succeed.
func TestWriteFailureKind(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{
		sqlite3.SQLITE_FULL: "disk_full", sqlite3.SQLITE_READONLY: "read_only", sqlite3.SQLITE_READONLY_DBMOVED: "read_only",
		sqlite3.SQLITE_IOERR: "io_error", sqlite3.SQLITE_IOERR_WRITE: "io_error", sqlite3.SQLITE_IOERR_FSYNC: "io_error",
		sqlite3.SQLITE_CORRUPT: "corrupt", sqlite3.SQLITE_NOTADB: "corrupt", sqlite3.SQLITE_CANTOPEN: "cannot_open",
		0: "", sqlite3.SQLITE_BUSY: "", sqlite3.SQLITE_LOCKED: "", sqlite3.SQLITE_CONSTRAINT_UNIQUE: "", sqlite3.SQLITE_INTERRUPT: "",
	} {
		if got := failureKind(code); got != want {
			t.Errorf("code %d: %q, want %q", code, got, want)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, err := range []error{nil, errors.New("x"), quantumlock.Errorf(quantumlock.ECONFLICT, "x"), ctx.Err()} {
		if k := writeFailureKind(err); k != "" {
			t.Errorf("%v: %q", err, k)
		}
	}
}

// Every kind of write records its failure, not only transactions: the
// statements that write on their own too (a nonce, a customer's update, a
// key's deletion, the exchange sessions' steps).
func TestWriteFailureEveryWrite(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for name, write := range map[string]func(ctx context.Context, db *DB, c *quantumlock.Customer) error{
		"ConsumeNonce": func(ctx context.Context, db *DB, c *quantumlock.Customer) error {
			_, err := db.ConsumeNonce(ctx, c.ID, []byte("nonce"), now.Add(time.Hour))
			return err
		},
		"ConsumeNonceUnswept": func(ctx context.Context, db *DB, c *quantumlock.Customer) error {
			db.nonceSweep.Store(time.Now().UnixNano()) // the insert, not the sweep
			_, err := db.ConsumeNonce(ctx, c.ID, []byte("nonce"), now.Add(time.Hour))
			return err
		},
		"DeleteExpiredExchangeSessions": func(ctx context.Context, db *DB, _ *quantumlock.Customer) error {
			return db.DeleteExpiredExchangeSessions(ctx, now)
		},
		"UpdateCustomer": func(ctx context.Context, db *DB, c *quantumlock.Customer) error {
			_, err := db.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{ResetRequestsPerMinute: true})
			return err
		},
		"DeleteKey": func(ctx context.Context, db *DB, c *quantumlock.Customer) error {
			return db.DeleteKey(ctx, c.ID, "key_000000000000000000000000")
		},
		"SetExchangePeer": func(ctx context.Context, db *DB, _ *quantumlock.Customer) error {
			_, _, err := db.SetExchangePeer(ctx, []byte("public"), []byte("peer"), 0, now)
			return err
		},
		"TakeExchangeSession": func(ctx context.Context, db *DB, c *quantumlock.Customer) error {
			_, err := db.TakeExchangeSession(ctx, c.ID, "kx_000000000000000000000001", nil, now)
			return err
		},
		"CreateLicense": func(ctx context.Context, db *DB, c *quantumlock.Customer) error {
			_, err := db.CreateLicense(ctx, newLicense(c.ID, 1), quantumlock.Quota{Period: "2026-03"})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db, _ := openTemp(t)
			c := newCustomer(t, db, "cust_000000000001")
			if _, err := db.w.ExecContext(ctx, `PRAGMA query_only = ON`); err != nil {
				t.Fatal(err)
			}
			if err := write(ctx, db, c); err == nil {
				t.Fatal("a write on a read-only connection succeeded")
			}
			if k, _ := db.WriteFailure(); k != "read_only" {
				t.Errorf("WriteFailure %q, want read_only", k)
			}
		})
	}
}
