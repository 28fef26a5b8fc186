package sqlite

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// Three promises of docs/storage.md that no other test could fail for:
// a point reader under writes ends its transaction, the WAL index header
// is no version while a commit writes it or before it is initialised, and
// a queued insert's caller waits for the outcome past its context.

// TestPointReadEndsUnderWrites checks the documented rule that a
// point reader keeps its transaction only if nothing committed between the
// beginnings of its last two: with a commit before every read, no
// connection is left holding a transaction (which would hold checkpoints
// back until the next tick).
func TestPointReadEndsUnderWrites(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	ctx := context.Background()
	c := newCustomer(t, db, "cust_0000000000r1")
	l := createLicense(t, db, c.ID, 1)
	// Quiet: connections keep their transactions.
	for range 4 * db.points.n {
		if _, err := db.License(ctx, c.ID, l.Key); err != nil {
			t.Fatal(err)
		}
	}
	if openCount(t, db.points) == 0 {
		t.Fatal("no transaction kept on a quiet database")
	}
	// A commit before every read: each read must end its own transaction.
	for i := range 4 * db.points.n {
		createLicense(t, db, c.ID, 100+i)
		if _, err := db.License(ctx, c.ID, l.Key); err != nil {
			t.Fatal(err)
		}
	}
	if n := openCount(t, db.points); n != 0 {
		t.Fatalf("%d point readers kept a transaction though a commit came before every read", n)
	}
}

// TestWALVersionUnsettled checks version's two guards that no other
// test reaches: a header whose two copies differ (a commit is writing it)
// and a header not initialised (isInit, byte 12, not 1) are not versions.
func TestWALVersionUnsettled(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	newCustomer(t, db, "cust_0000000000r2")
	shm, err := os.ReadFile(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	if binary.NativeEndian.Uint32(shm) != walIndexVersion || shm[12] != 1 {
		t.Fatal("unexpected live header")
	}
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		ok   bool
	}{
		{"as is", func([]byte) {}, true},
		// The writer has stored the second copy, not yet the first: mxFrame
		// (bytes 16-19) differs between the copies.
		{"copies differ", func(b []byte) { b[walIndexHeaderSize+16]++ }, false},
		{"first copy differs", func(b []byte) { b[8]++ }, false},
		{"not initialised", func(b []byte) { b[12], b[walIndexHeaderSize+12] = 0, 0 }, false},
	} {
		b := append([]byte(nil), shm...)
		tc.edit(b)
		w, _ := walIndexCopy(t, b)
		if _, ok := w.version(); ok != tc.ok {
			t.Errorf("%s: version ok = %v, want %v", tc.name, ok, tc.ok)
		}
		w.close()
	}
}

// walIndexCopy writes b, the bytes of a WAL index, to a file of its own and
// opens it as one, so that tests can change or cut it while the real index
// stays whole for SQLite. It returns the index and the file's name.
func walIndexCopy(t *testing.T, b []byte) (*walIndex, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "copy-shm")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := openWALIndexFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return w, name
}

// TestQueuedCreateOutlivesContext checks the documented promise that
// a caller whose insert is queued waits for its outcome even if its context
// ends: its answer must agree with what is committed.
func TestQueuedCreateOutlivesContext(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	c := newCustomer(t, db, "cust_0000000000r3")
	// Hold the writer connection, so the batch writer takes the insert and
	// then waits to begin its transaction.
	tx, err := db.w.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := newLicense(c.ID, 7)
	done := make(chan error, 1)
	go func() {
		_, err := db.CreateLicense(ctx, l, quantumlock.Quota{Period: "2026-01"})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // the batch writer has taken it
	cancel()
	time.Sleep(50 * time.Millisecond)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	err = <-done
	// The batch writer has finished with the first insert once a later
	// one has its answer.
	createLicense(t, db, c.ID, 8)
	_, gerr := db.License(context.Background(), c.ID, l.Key)
	committed := gerr == nil
	t.Logf("CreateLicense: %v; License: %v", err, gerr)
	if (err == nil) != committed {
		t.Fatalf("CreateLicense returned %v, but the license committed = %v", err, committed)
	}
}
