package sqlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// The point readers' behaviour as a store (every field read back, revoked
// keys, unknown ids) is in the storetest suite. These tests are about the
// pool: a read waits for a connection, gives up with its context, and
// Close waits for running reads and fails later ones.

func TestPointReadWaits(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	c := newCustomer(t, db, "cust_00000000000b")
	ctx := context.Background()
	l := createLicense(t, db, c.ID, 1)
	// Hold every connection, and keep the checkpointer's pause from
	// queueing for them (it would take held[0] before the read below).
	held := db.points.takeAll()
	back := 0 // held[:back] are back in the pool
	defer func() {
		for _, pc := range held[back:] {
			db.points.put(pc)
		}
		db.points.every.Unlock()
	}()
	// Let a checkpoint tick fall due while every connection is held, so
	// that the checkpointer's pause waits to take them all before the
	// reads below do: it must not take the one put back for the read
	// (then neither could go on).
	time.Sleep(checkpointEvery + 50*time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := db.License(short, c.ID, l.Key); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("License with every connection busy = %v, want the context's deadline", err)
	}
	// A read that waits gets the first connection put back.
	got := make(chan error, 1)
	go func() {
		_, err := db.License(ctx, c.ID, l.Key)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("License returned (%v) while every connection was busy", err)
	case <-time.After(20 * time.Millisecond):
	}
	db.points.put(held[0])
	back = 1
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting read did not get the connection put back: the checkpointer took it")
	}
}

func TestPointReadsDuringClose(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	c := newCustomer(t, db, "cust_00000000000c")
	ctx := context.Background()
	l := createLicense(t, db, c.ID, 1)
	hash := sha256.Sum256([]byte("no such key"))

	// Readers run while the store closes: each read either completes or
	// fails cleanly; none touches a closed connection (the race detector
	// and SQLite's own misuse checks would say so) or hangs.
	var (
		wg      sync.WaitGroup
		started = make(chan struct{}, 8)
		stop    = make(chan struct{})
	)
	for i := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				var err error
				if i%2 == 0 {
					_, err = db.License(ctx, c.ID, l.Key)
				} else {
					_, _, err = db.readAPIKeyByHash(ctx, hash[:])
					if quantumlock.ErrorCode(err) == quantumlock.ENOTFOUND {
						err = nil
					}
				}
				if n == 0 {
					started <- struct{}{}
				}
				if err != nil {
					if !errors.Is(err, errClosed) {
						t.Errorf("read during Close: %v", err)
					}
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if _, err := db.License(ctx, c.ID, l.Key); !errors.Is(err, errClosed) {
		t.Errorf("License after Close = %v, want errClosed", err)
	}
}

// openCount reports how many point readers hold an open transaction; no
// read may be running.
func openCount(t *testing.T, p *pointReaders) int {
	t.Helper()
	n := 0
	all := p.takeAll()
	for _, pc := range all {
		if pc.open {
			n++
		}
	}
	p.putAll(all)
	return n
}

// TestPointReadKeptTransaction checks the kept read transactions: a quiet
// database lets connections keep theirs, a commit through another handle
// is seen by the very next read all the same, and pause ends them all.
func TestPointReadKeptTransaction(t *testing.T) {
	t.Parallel()
	server, cli := openTwo(t)
	ctx := context.Background()
	c := newCustomer(t, server, "cust_00000000000d")
	var keys []string
	for i := range 8 {
		keys = append(keys, createLicense(t, server, c.ID, i+1).Key)
	}
	reads := func() {
		t.Helper()
		for range 4 * server.points.n {
			for _, k := range keys {
				l, err := server.License(ctx, c.ID, k)
				if err != nil {
					t.Fatal(err)
				}
				if l.RevokedAt != nil {
					return
				}
			}
		}
	}
	reads()
	if n := openCount(t, server.points); n == 0 {
		t.Fatal("no point reader kept its transaction on a quiet database")
	}

	// Revoke from the other handle: every following read of that license,
	// on whichever connection, sees it revoked.
	if _, err := cli.RevokeLicense(ctx, c.ID, keys[3], "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	for range 4 * server.points.n {
		l, err := server.License(ctx, c.ID, keys[3])
		if err != nil {
			t.Fatal(err)
		}
		if l.RevokedAt == nil {
			t.Fatal("a read after the revocation returned did not see it")
		}
	}

	reads()
	server.points.pause()
	if n := openCount(t, server.points); n != 0 {
		t.Errorf("%d point readers kept a transaction through pause", n)
	}
	reads()
	if n := openCount(t, server.points); n != 0 {
		t.Errorf("%d point readers kept a transaction while paused", n)
	}
	server.points.resume()
}

// TestPointReadsLetCheckpointsFinish checks that kept transactions do not
// hold checkpoints back for good: with readers and writers at once, and
// then with every connection idle in a kept transaction across a commit,
// a checkpoint that does not pause the readers itself still completes,
// because the checkpointer ends kept transactions on its ticks.
func TestPointReadsLetCheckpointsFinish(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	ctx := context.Background()
	c := newCustomer(t, db, "cust_00000000000e")
	l := createLicense(t, db, c.ID, 1)
	// completes waits until a PASSIVE checkpoint folds the whole WAL in.
	completes := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			frames, done, _ := db.checkpoint("PASSIVE")
			if frames > 0 && done == frames {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint stuck at %d of %d frames", done, frames)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := db.License(ctx, c.ID, l.Key); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 300 {
		createLicense(t, db, c.ID, i+2)
	}
	completes()
	close(stop)
	wg.Wait()

	// Idle connections in kept transactions, then a commit: only the
	// checkpointer's tick can end those transactions.
	for n := 0; openCount(t, db.points) == 0; n++ {
		if n == 1000 {
			t.Fatal("no point reader kept its transaction")
		}
		if _, err := db.License(ctx, c.ID, l.Key); err != nil {
			t.Fatal(err)
		}
	}
	createLicense(t, db, c.ID, 1000)
	completes()
}

func TestPingPointReaders(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	// With every point reader busy, Ping waits for one like a validation
	// would, and reports it when it cannot get one.
	busy := db.points.takeAll()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := db.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "point readers") {
		t.Errorf("Ping with every point reader busy: %v", err)
	}
	db.points.putAll(busy)
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping once they are back: %v", err)
	}
}
