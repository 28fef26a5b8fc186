package connlimit

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// A kept-alive connection that sends the first bytes of its next request
// and then stalls is spared from reclaiming (its request has begun), and
// net/http starts ReadHeaderTimeout only once 4 bytes have arrived
// (Peek(4) runs under IdleTimeout). A client that sent "GET" and nothing
// more held its slot, unreclaimable, for the whole IdleTimeout; with
// HeaderTimeout it gets no longer than the header timeout, and the
// connection waiting behind it is served.
func TestStalledNextRequestLosesItsSlot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, 1)
	l.Grace = 10 * time.Millisecond
	const headerTimeout = 100 * time.Millisecond
	srv := &http.Server{Handler: ok, ConnState: l.ConnState,
		ReadHeaderTimeout: headerTimeout, IdleTimeout: 10 * time.Second}
	l.HeaderTimeout = headerTimeout
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	a := dial(t, addr)
	if !a.served(5 * time.Second) {
		t.Fatal("the first connection was not served")
	}
	a.send("GET") // three bytes of its next request, then nothing
	time.Sleep(5 * headerTimeout)
	c := dial(t, addr)
	c.send(get)
	if code, err := c.answer(2 * time.Second); err != nil || code != 200 {
		t.Fatalf("a new connection, with the only slot held by one that stalled %v into its headers (ReadHeaderTimeout %v): %d, %v",
			5*headerTimeout, headerTimeout, code, err)
	}
}

// net/http reports StateIdle after a closed connection's last response
// when that response was already out (srv.Close during a handler that
// flushed its whole answer). A closed connection must not join the idle
// list: it would stay there for good (its Close already ran) and the
// next reclaim would "close" it again, counting a reclaim that freed
// nothing.
func TestClosedConnectionNeverIdle(t *testing.T) {
	l := New(nil, 1)
	l.Grace = 0
	l.slots <- struct{}{}
	c := &conn{Conn: &blockingConn{in: make(chan []byte)}, l: l}
	c.Close()
	l.ConnState(c, http.StateIdle)
	if n := l.idle.Len(); n != 0 {
		t.Fatalf("%d connections on the idle list after the only one closed", n)
	}
	l.reclaim()
	if n := l.Reclaimed(); n != 0 {
		t.Fatalf("Reclaimed() = %d for a connection already closed", n)
	}
}

// Open reports the connections held, which the
// quantumlock_connections_open gauge exports: the bound when it is
// reached, none once every client has gone.
func TestOpenCounts(t *testing.T) {
	addr, l := start(t, 2, time.Hour, ok)
	a, b := dial(t, addr), dial(t, addr)
	if !a.served(5*time.Second) || !b.served(5*time.Second) {
		t.Fatal("not served")
	}
	if n := l.Open(); n != 2 {
		t.Fatalf("Open() = %d with two connections served, want 2", n)
	}
	c := dial(t, addr) // accepted, waiting for a slot: not counted
	c.send(get)
	time.Sleep(50 * time.Millisecond)
	if n := l.Open(); n != 2 {
		t.Fatalf("Open() = %d at the bound, want 2", n)
	}
	a.c.Close()
	b.c.Close()
	c.c.Close()
	for deadline := time.Now().Add(5 * time.Second); l.Open() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Open() = %d after every client left", l.Open())
		}
	}
}
