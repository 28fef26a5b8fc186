// Package connlimit bounds the connections an HTTP server holds open at
// once, and when the bound is reached makes room by closing a connection
// that sits idle between requests.
//
// golang.org/x/net/netutil.LimitListener bounds them too, but a keep-alive
// connection that has finished its request keeps its slot until the
// server's idle timeout, so as many clients as there are slots, each
// keeping one quiet connection open, leave every new client waiting,
// health probes included. A server with a fixed number of connections is
// expected to give such idle connections up first.
//
// A Listener learns which connections are idle from the server's ConnState
// hook, and from its own connections' reads: a connection stops being idle
// as soon as a byte of its next request is read from it, before the server
// has read a whole request and reported it active, so a request whose
// first bytes arrive after its connection went idle is not cut. Bytes the
// server already holds are not seen: those of a request pipelined behind
// the previous one in the same packets, or the one byte the server reads
// ahead while a handler runs. When every slot is taken and a connection is
// waiting, Accept closes the connection that has been idle longest, once
// it has been idle for at least the Listener's Grace. The grace spares a
// client between two requests of its own: closing a connection the moment
// its answer went out would race the client's next request, which it may
// already be sending. A client whose request still meets a closed
// connection sees it closed, as at the server's idle timeout; the request
// reached no handler, so sending it again on a new connection is safe,
// and clients do so by themselves for idempotent methods.
//
// Connections served with TLS are followed through *tls.Conn; HTTP/2
// connections do not report their states, and are never closed to make
// room.
package connlimit

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultGrace is how long a connection must have been idle before a
// Listener at its bound closes it to make room.
const DefaultGrace = time.Second

// Listener is a net.Listener that holds at most a fixed number of
// connections open. Set its ConnState method as the http.Server's
// ConnState hook; without it no connection counts as idle and a Listener
// at its bound waits for one to close, as netutil.LimitListener does.
type Listener struct {
	net.Listener

	// Grace is how long a connection must have been idle before it may
	// be closed to make room. Set it before the first Accept.
	Grace time.Duration

	// HeaderTimeout, when set, bounds how long a connection taken off the
	// idle list by the first bytes of its next request may take to bring
	// the rest of them. net/http starts its ReadHeaderTimeout only once
	// four bytes are in, and until then waits under its IdleTimeout; a
	// client that sent one to three bytes and stopped would hold its slot
	// that long, unreclaimable since it is no longer idle. Set it, before
	// the first Accept, to the server's ReadHeaderTimeout; net/http puts
	// its own deadline in place once the four bytes are in.
	HeaderTimeout time.Duration

	slots     chan struct{} // one token per open connection
	idleReady chan struct{} // a connection became idle; buffer of one
	done      chan struct{}
	closeOnce sync.Once
	reclaimed atomic.Uint64

	mu   sync.Mutex
	idle list.List // of *conn, longest idle first
}

// New returns a Listener that accepts from ln and holds at most max
// connections open, with DefaultGrace. max must be at least 1.
func New(ln net.Listener, max int) *Listener {
	return &Listener{
		Listener:  ln,
		Grace:     DefaultGrace,
		slots:     make(chan struct{}, max),
		idleReady: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
}

// Accept takes the next connection and then waits for a slot for it,
// closing the longest-idle connection past its grace when there is none.
// Reclaiming only for a connection that is there keeps idle connections
// open while no one else wants their slots; the price is that one
// connection past the bound is accepted and waits (the rest wait in the
// kernel's backlog, as with netutil.LimitListener), and that it makes room
// even if its client has already gone.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := l.acquire(); err != nil {
		c.Close()
		return nil, err
	}
	return &conn{Conn: c, l: l}, nil
}

// acquire takes a slot. While none is free it closes the connection idle
// longest once that one is past its grace, and otherwise sleeps until a
// slot frees, the longest-idle connection reaches its grace, or a
// connection becomes idle.
func (l *Listener) acquire() error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-l.done:
			return net.ErrClosed
		default:
		}
		var wake <-chan time.Time
		if wait, ok := l.reclaim(); ok && wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			wake = timer.C
		}
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-l.done:
			return net.ErrClosed
		case <-wake:
		case <-l.idleReady:
		}
	}
}

// reclaim closes the longest-idle connection if it has been idle for the
// grace. Otherwise it reports how long until it will have been, or false
// when no connection is idle.
func (l *Listener) reclaim() (time.Duration, bool) {
	l.mu.Lock()
	front := l.idle.Front()
	if front == nil {
		l.mu.Unlock()
		return 0, false
	}
	c := front.Value.(*conn)
	if wait := l.Grace - time.Since(c.idleSince); wait > 0 {
		l.mu.Unlock()
		return wait, true
	}
	c.doomed.Store(true) // before forget clears idle: see conn.Read
	l.forget(c)
	l.mu.Unlock()
	l.reclaimed.Add(1)
	c.Close()
	return 0, true
}

// Close stops Accept, including one waiting for a slot, and closes the
// underlying listener. Open connections stay open.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// ConnState is the http.Server ConnState hook that tells the Listener
// which of its connections are idle.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if state != http.StateIdle {
		l.forget(c)
		return
	}
	if c.elem != nil || c.closed.Load() {
		return
	}
	c.idleSince = time.Now()
	c.elem = l.idle.PushBack(c)
	c.idle.Store(true)
	select {
	case l.idleReady <- struct{}{}:
	default:
	}
}

// forget takes c off the idle list; l.mu is held.
func (l *Listener) forget(c *conn) {
	if c.elem != nil {
		l.idle.Remove(c.elem)
		c.elem = nil
		c.idle.Store(false)
	}
}

// Open reports how many connections the Listener holds open, not counting
// the one Accept may hold while it waits for a slot.
func (l *Listener) Open() int { return len(l.slots) }

// Reclaimed reports how many idle connections the Listener has closed to
// make room.
func (l *Listener) Reclaimed() uint64 { return l.reclaimed.Load() }

// conn is an accepted connection: it gives its slot back once closed and
// stops counting as idle when a byte arrives.
type conn struct {
	net.Conn
	l      *Listener
	idle   atomic.Bool // on the idle list; read without l.mu on every Read
	doomed atomic.Bool // taken off the idle list to be closed
	closed atomic.Bool

	// Guarded by l.mu.
	elem      *list.Element
	idleSince time.Time
}

// Read marks the connection busy as soon as its next request's first
// bytes arrive. Bytes that arrive once the connection has been chosen to
// be closed are dropped, so the server never serves a request on it: its
// client sees the connection closed with the request unanswered and
// unprocessed, which it may safely send again. (reclaim sets doomed before
// it clears idle, so a Read that finds idle cleared finds doomed set.)
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		if c.idle.Load() {
			c.l.mu.Lock()
			woke := !c.doomed.Load() && c.elem != nil
			if woke {
				c.l.forget(c)
			}
			c.l.mu.Unlock()
			if woke && c.l.HeaderTimeout > 0 {
				c.Conn.SetReadDeadline(time.Now().Add(c.l.HeaderTimeout))
			}
		}
		if c.doomed.Load() {
			return 0, net.ErrClosed
		}
	}
	return n, err
}

// CloseWrite shuts down the writing side where the connection can, as the
// server does after refusing a request body it did not read.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection and, the first time, frees its slot.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.mu.Lock()
		c.l.forget(c)
		c.l.mu.Unlock()
		<-c.l.slots
	}
	return err
}
