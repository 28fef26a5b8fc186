package sqlite

import (
	"context"
	"crypto/sha256"
	"errors"
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
	l := newLicense(c.ID, 1)
	if _, err := db.CreateLicense(ctx, l, quantumlock.Quota{Period: "2026-01"}); err != nil {
		t.Fatal(err)
	}
	// Hold every connection.
	var held []*pointConn
	for range db.points.n {
		pc, err := db.points.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, pc)
	}
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
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	for _, pc := range held[1:] {
		db.points.put(pc)
	}
}

func TestPointReadsDuringClose(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	c := newCustomer(t, db, "cust_00000000000c")
	ctx := context.Background()
	l := newLicense(c.ID, 1)
	if _, err := db.CreateLicense(ctx, l, quantumlock.Quota{Period: "2026-01"}); err != nil {
		t.Fatal(err)
	}
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
