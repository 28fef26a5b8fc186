package keyring

import (
	"context"
	"sync"
	"time"

	"github.com/quantumlock/quantumlock"
)

// gate bounds work that is dear in CPU, such as RSA key generation: at most
// cap(all) runs at once, and at most perCustomer of them for one customer,
// so a customer sending many such requests waits for its own slots while
// others still get theirs (SPEC §8: bound how many run at once; tenants
// share the machine).
//
// Waiting is bounded too, in two ways, so that a customer sending more
// than the gate serves does not pile up requests without end: at most
// queue of one customer's calls hold or wait for a slot (the rest are
// refused at once), and a call waits at most wait. Both refusals are
// ERATELIMIT: the work is there to be asked for again later.
type gate struct {
	all         chan struct{}
	perCustomer int
	queue       int
	wait        time.Duration
	one, many   string // the work, for refusals: "RSA key generation", "RSA key generations"

	mu   sync.Mutex
	mine map[string]*customerSlots // customers with a run waiting or going
}

// customerSlots is one customer's share of a gate; refs counts the
// acquires holding or waiting for a slot of it, and it is dropped at zero.
type customerSlots struct {
	ch   chan struct{}
	refs int
}

// olderVersion comes before a try of version i of a key's n, newest (n-1)
// first, by a verify or decrypt that names no version. Past the latest,
// such a call may try up to MaxKeyVersions versions, each over the whole
// message or ciphertext (docs/crypto.md: 0.2 s for 100 versions of
// Ed25519+ML-DSA-65 and 512 KiB, 0.1-0.2 s to decrypt 512 KiB under 100):
// so it first waits, once, for a slot of trialGate, bounded like RSA
// generation, overall and per customer, and *release is set to give the
// slot back. Each older try also stops when ctx has ended, so that work
// for a client gone frees its slot. A call settled by the latest version
// never waits.
func (s *Service) olderVersion(ctx context.Context, customerID string, i, n int, release *func()) error {
	if i == n-1 {
		return nil
	}
	if *release == nil {
		r, err := s.trialGate.acquire(ctx, customerID)
		if err != nil {
			return err
		}
		*release = r
	}
	return ctx.Err()
}

// gateWait bounds how long a call waits for a slot. With RSA-4096 taking
// up to a few seconds, it is several generations' worth; with the wait
// and the generation, an answer still comes well within the server's
// write timeout.
const gateWait = 20 * time.Second

// newGate returns a gate for n runs at once, at most half of them (and at
// least one) for one customer, with at most four times that many of one
// customer's calls in it, each waiting at most gateWait. one and many name
// the work in refusals.
func newGate(n int, one, many string) *gate {
	n = max(n, 1)
	per := max(n/2, 1)
	return &gate{all: make(chan struct{}, n), perCustomer: per, queue: 4 * per, wait: gateWait,
		one: one, many: many, mine: map[string]*customerSlots{}}
}

// acquire waits for a slot of customerID's share and then for one of the
// whole gate, or until ctx ends (its error) or g.wait has passed
// (ERATELIMIT); with g.queue of the customer's calls already in the gate,
// it is ERATELIMIT at once. It returns the release to call when the work
// is done.
func (g *gate) acquire(ctx context.Context, customerID string) (release func(), err error) {
	g.mu.Lock()
	c := g.mine[customerID]
	if c == nil {
		c = &customerSlots{ch: make(chan struct{}, g.perCustomer)}
		g.mine[customerID] = c
	}
	if c.refs >= g.queue {
		g.mu.Unlock()
		return nil, quantumlock.Errorf(quantumlock.ERATELIMIT, "%d of your %s are already running or waiting; ask again when one is done.", g.queue, g.many)
	}
	c.refs++
	g.mu.Unlock()
	drop := func() {
		g.mu.Lock()
		if c.refs--; c.refs == 0 {
			delete(g.mine, customerID)
		}
		g.mu.Unlock()
	}
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	busy := func() error {
		return quantumlock.Errorf(quantumlock.ERATELIMIT, "%s is busy: no slot came free in %v; ask again later.", g.one, g.wait)
	}
	select {
	case c.ch <- struct{}{}:
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	case <-timer.C:
		drop()
		return nil, busy()
	}
	select {
	case g.all <- struct{}{}:
	case <-ctx.Done():
		<-c.ch
		drop()
		return nil, ctx.Err()
	case <-timer.C:
		<-c.ch
		drop()
		return nil, busy()
	}
	return func() {
		<-g.all
		<-c.ch
		drop()
	}, nil
}
