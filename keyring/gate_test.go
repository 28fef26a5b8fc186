package keyring

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// One customer holding its share waits for it, while another customer
// still gets a slot of the same gate.
func TestGateShareByCustomer(t *testing.T) {
	t.Parallel()
	g := newGate(2, "RSA key generation", "RSA key generations")
	if g.perCustomer != 1 {
		t.Fatalf("share %d of 2, want 1", g.perCustomer)
	}
	relA, err := g.acquire(context.Background(), "cust_a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(ctx, "cust_a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second run for the same customer: %v, want to wait until the deadline", err)
	}
	relB, err := g.acquire(context.Background(), "cust_b")
	if err != nil {
		t.Fatalf("another customer: %v", err)
	}
	relA()
	relB()
	if n := len(g.mine); n != 0 {
		t.Fatalf("%d customers left in the gate", n)
	}
}

// A full gate keeps every customer waiting, and one that gives up leaves
// nothing behind.
func TestGateWholeBound(t *testing.T) {
	t.Parallel()
	g := newGate(1, "RSA key generation", "RSA key generations")
	rel, err := g.acquire(context.Background(), "cust_a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.acquire(ctx, "cust_b"); !errors.Is(err, context.Canceled) {
		t.Fatalf("with the gate full: %v, want context.Canceled", err)
	}
	if _, ok := g.mine["cust_b"]; ok || len(g.mine) != 1 {
		t.Fatalf("customers in the gate: %v", g.mine)
	}
	rel()
	if len(g.mine) != 0 {
		t.Fatalf("customers left in the gate: %v", g.mine)
	}
}

// Under many concurrent runs of a few customers neither bound is ever
// exceeded, and every customer leaves the gate.
func TestGateConcurrent(t *testing.T) {
	t.Parallel()
	const n = 4
	g := newGate(n, "RSA key generation", "RSA key generations")
	var all atomic.Int32
	var per [3]atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			c := i % len(per)
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*time.Millisecond+time.Millisecond)
			defer cancel()
			rel, err := g.acquire(ctx, fmt.Sprintf("cust_%d", c))
			if err != nil {
				return
			}
			if a, p := all.Add(1), per[c].Add(1); a > n || p > int32(g.perCustomer) {
				t.Errorf("%d runs at once, %d for one customer", a, p)
			}
			time.Sleep(time.Millisecond)
			all.Add(-1)
			per[c].Add(-1)
			rel()
		})
	}
	wg.Wait()
	if len(g.mine) != 0 {
		t.Fatalf("customers left in the gate: %v", g.mine)
	}
}

// One customer's calls in the gate are bounded: past the queue the next
// is refused at once, and a waiting call gives up after the wait, both as
// ERATELIMIT, leaving nothing behind.
func TestGateBoundsWaiting(t *testing.T) {
	t.Parallel()
	t.Run("Queue", func(t *testing.T) {
		t.Parallel()
		g := newGate(2, "RSA key generation", "RSA key generations") // one slot per customer, four calls in the gate
		rel, err := g.acquire(context.Background(), "cust_a")
		if err != nil {
			t.Fatal(err)
		}
		// Three more wait, until their context ends.
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { g.acquire(ctx, "cust_a") })
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			g.mu.Lock()
			n := g.mine["cust_a"].refs
			g.mu.Unlock()
			if n == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d calls in the gate, want 4", n)
			}
		}
		// A fifth is refused at once, whatever its context allows.
		_, err = g.acquire(context.Background(), "cust_a")
		if quantumlock.ErrorCode(err) != quantumlock.ERATELIMIT || !strings.Contains(err.Error(), "already running or waiting") {
			t.Fatalf("a fifth call: %v, want ERATELIMIT at once", err)
		}
		// Another customer is not refused for a's queue.
		relB, err := g.acquire(context.Background(), "cust_b")
		if err != nil {
			t.Fatalf("another customer: %v", err)
		}
		relB()
		cancel()
		wg.Wait()
		rel()
		if n := len(g.mine); n != 0 {
			t.Fatalf("%d customers left in the gate", n)
		}
	})
	t.Run("Wait", func(t *testing.T) {
		t.Parallel()
		g := newGate(2, "RSA key generation", "RSA key generations")
		g.wait = 20 * time.Millisecond
		rel, err := g.acquire(context.Background(), "cust_a")
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.acquire(context.Background(), "cust_a")
		if quantumlock.ErrorCode(err) != quantumlock.ERATELIMIT || !strings.Contains(err.Error(), "busy") {
			t.Fatalf("a call past the wait: %v, want ERATELIMIT", err)
		}
		rel()
		if n := len(g.mine); n != 0 {
			t.Fatalf("%d customers left in the gate", n)
		}
	})
}
