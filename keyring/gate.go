package keyring

import (
	"context"
	"sync"
)

// gate bounds work that is dear in CPU, such as RSA key generation: at most
// cap(all) runs at once, and at most perCustomer of them for one customer,
// so a customer sending many such requests waits for its own slots while
// others still get theirs (SPEC §8: bound how many run at once; tenants
// share the machine).
type gate struct {
	all         chan struct{}
	perCustomer int

	mu   sync.Mutex
	mine map[string]*customerSlots // customers with a run waiting or going
}

// customerSlots is one customer's share of a gate; refs counts the
// acquires holding or waiting for a slot of it, and it is dropped at zero.
type customerSlots struct {
	ch   chan struct{}
	refs int
}

// newGate returns a gate for n runs at once, at most half of them (and at
// least one) for one customer.
func newGate(n int) *gate {
	n = max(n, 1)
	return &gate{all: make(chan struct{}, n), perCustomer: max(n/2, 1), mine: map[string]*customerSlots{}}
}

// acquire waits for a slot of customerID's share and then for one of the
// whole gate, or until ctx ends. It returns the release to call when the
// work is done.
func (g *gate) acquire(ctx context.Context, customerID string) (release func(), err error) {
	g.mu.Lock()
	c := g.mine[customerID]
	if c == nil {
		c = &customerSlots{ch: make(chan struct{}, g.perCustomer)}
		g.mine[customerID] = c
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
	select {
	case c.ch <- struct{}{}:
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
	select {
	case g.all <- struct{}{}:
	case <-ctx.Done():
		<-c.ch
		drop()
		return nil, ctx.Err()
	}
	return func() {
		<-g.all
		<-c.ch
		drop()
	}, nil
}
