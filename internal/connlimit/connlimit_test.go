package connlimit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// start serves h on a Listener of max connections with the given grace.
// Each of also runs after the Listener's ConnState hook.
func start(t *testing.T, max int, grace time.Duration, h http.Handler, also ...func(net.Conn, http.ConnState)) (string, *Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, max)
	l.Grace = grace
	hook := func(c net.Conn, s http.ConnState) {
		l.ConnState(c, s)
		for _, f := range also {
			f(c, s)
		}
	}
	srv := &http.Server{Handler: h, ConnState: hook, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), l
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// client is one raw keep-alive connection.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// send writes raw bytes of a request.
func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

const get = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"

// answer reads one response within wait, returning its status, or an
// error: a timeout when none came, EOF when the server closed.
func (c *client) answer(wait time.Duration) (int, error) {
	c.c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// served sends a request and reports whether it was answered 200 within wait.
func (c *client) served(wait time.Duration) bool {
	c.t.Helper()
	c.send(get)
	code, err := c.answer(wait)
	if err == nil && code != 200 {
		c.t.Fatalf("status %d", code)
	}
	return err == nil
}

// waitIdle waits until n connections are on l's idle list.
func waitIdle(t *testing.T, l *Listener, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		got := l.idle.Len()
		l.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections idle, want %d", got, n)
		}
	}
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A connection past the bound is served once the longest-idle one has
// been idle for the grace; that one is closed, the others are not.
func TestReclaimsLongestIdle(t *testing.T) {
	addr, l := start(t, 2, 50*time.Millisecond, ok)
	a, b := dial(t, addr), dial(t, addr)
	if !a.served(5 * time.Second) {
		t.Fatal("the first connection was not served")
	}
	waitIdle(t, l, 1) // a is idle before b
	if !b.served(5 * time.Second) {
		t.Fatal("the second connection was not served")
	}
	c := dial(t, addr)
	if !c.served(5 * time.Second) {
		t.Fatal("a third connection was not served once the others were idle")
	}
	if _, err := a.answer(5 * time.Second); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the longest-idle connection: %v, want it closed", err)
	}
	if !b.served(5 * time.Second) {
		t.Fatal("the other idle connection was closed too")
	}
	if n := l.Reclaimed(); n != 1 {
		t.Fatalf("Reclaimed() = %d, want 1", n)
	}
}

// Before its grace an idle connection keeps its slot: the next one waits
// until a connection closes, as with no reclaiming at all.
func TestWaitsOutTheGrace(t *testing.T) {
	addr, l := start(t, 2, time.Hour, ok)
	a, b := dial(t, addr), dial(t, addr)
	if !a.served(5*time.Second) || !b.served(5*time.Second) {
		t.Fatal("the first two connections were not served")
	}
	c := dial(t, addr)
	c.send(get)
	if _, err := c.answer(300 * time.Millisecond); !timedOut(err) {
		t.Fatalf("a third connection within the others' grace: %v, want no answer", err)
	}
	a.c.Close()
	if code, err := c.answer(5 * time.Second); err != nil || code != 200 {
		t.Fatalf("the waiting connection once another closed: %d, %v", code, err)
	}
	if n := l.Reclaimed(); n != 0 {
		t.Fatalf("Reclaimed() = %d, want 0", n)
	}
}

// Connections in a request are never closed to make room: neither one
// whose handler runs nor one that has sent part of its next request's
// headers, which the server still counts as idle.
func TestSparesRequestsUnderway(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "ok")
	})
	addr, l := start(t, 2, time.Millisecond, h)
	a, b := dial(t, addr), dial(t, addr)
	if !a.served(5 * time.Second) {
		t.Fatal("the first connection was not served")
	}
	a.send("GET /x HTTP/1.1\r\nHo")                 // a: part of its second request
	b.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n") // b: in its handler
	time.Sleep(50 * time.Millisecond)               // both well past the grace
	c := dial(t, addr)
	c.send(get)
	if _, err := c.answer(300 * time.Millisecond); !timedOut(err) {
		t.Fatalf("a third connection while the others had requests underway: %v, want no answer", err)
	}
	a.send("st: x\r\n\r\n")
	if code, err := a.answer(5 * time.Second); err != nil || code != 200 {
		t.Fatalf("the request whose headers were underway: %d, %v", code, err)
	}
	// a is idle now, and past its grace it makes room for c.
	if code, err := c.answer(5 * time.Second); err != nil || code != 200 {
		t.Fatalf("the waiting connection once one went idle: %d, %v", code, err)
	}
	close(release)
	if code, err := b.answer(5 * time.Second); err != nil || code != 200 {
		t.Fatalf("the request in its handler: %d, %v", code, err)
	}
	if n := l.Reclaimed(); n != 1 {
		t.Fatalf("Reclaimed() = %d, want 1", n)
	}
}

// Close ends an Accept that waits for a slot, and closes the connection
// it held for it.
func TestCloseEndsAcceptWaitingForSlot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, 1)
	dial(t, ln.Addr().String()) // takes the one slot
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held := dial(t, ln.Addr().String())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // Accept takes held and waits for a slot
	select {
	case err := <-errc:
		t.Fatalf("Accept returned with no slot free: %v", err)
	default:
	}
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
	held.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := held.c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the connection Accept held: read %d, %v; want it closed", n, err)
	}
}

// A request pipelined behind the previous one is read from the server's
// buffer, with no read on the connection between idle and active: its
// connection is still not closed while its handler runs.
func TestSparesPipelinedRequest(t *testing.T) {
	running, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(running)
			<-release
		}
		io.WriteString(w, "ok")
	})
	addr, _ := start(t, 1, time.Millisecond, h)
	a := dial(t, addr)
	a.send(get + "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	if code, err := a.answer(5 * time.Second); err != nil || code != 200 {
		t.Fatalf("the first request: %d, %v", code, err)
	}
	<-running
	time.Sleep(20 * time.Millisecond) // well past the grace
	c := dial(t, addr)
	c.send(get)
	if _, err := c.answer(300 * time.Millisecond); !timedOut(err) {
		t.Fatalf("a second connection while the pipelined request ran: %v, want no answer", err)
	}
	close(release)
	if code, err := a.answer(5 * time.Second); err != nil || code != 200 {
		t.Fatalf("the pipelined request: %d, %v", code, err)
	}
	if code, err := c.answer(5 * time.Second); err != nil || code != 200 {
		t.Fatalf("the waiting connection once the other went idle: %d, %v", code, err)
	}
}

// blockingConn is a connection whose Read waits for bytes handed to it.
type blockingConn struct {
	net.Conn
	in chan []byte
}

func (b *blockingConn) Read(p []byte) (int, error) { return copy(p, <-b.in), nil }
func (b *blockingConn) Close() error               { return nil }

// Bytes that arrive on a connection already chosen to be closed are
// dropped, so no request is served on it: the server is told the
// connection is closed.
func TestDoomedConnectionDropsBytes(t *testing.T) {
	l := New(nil, 1)
	l.Grace = 0
	l.slots <- struct{}{}
	bc := &blockingConn{in: make(chan []byte)}
	c := &conn{Conn: bc, l: l}
	l.ConnState(c, http.StateIdle)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() { // the server, waiting for the next request
		n, err := c.Read(make([]byte, 16))
		done <- result{n, err}
	}()
	if _, ok := l.reclaim(); !ok {
		t.Fatal("the idle connection was not reclaimed")
	}
	bc.in <- []byte("GET / HTTP/1.1\r\n") // arrives as it is closed
	if r := <-done; r.n != 0 || !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("Read on a reclaimed connection = %d, %v; want 0, net.ErrClosed", r.n, r.err)
	}
}

// Many clients through few slots: every request is answered, the bound
// holds, and every slot comes back once the clients leave.
func TestManyClients(t *testing.T) {
	const slots = 3
	// Each connection holds its slot from Accept until it is marked
	// closed, so those not yet marked closed are never more than the bound.
	var mu sync.Mutex
	var seen []*conn
	peak := 0
	track := func(nc net.Conn, s http.ConnState) {
		if s != http.StateNew {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, nc.(*conn))
		open := 0
		for _, c := range seen {
			if !c.closed.Load() {
				open++
			}
		}
		peak = max(peak, open)
	}
	addr, l := start(t, slots, time.Millisecond, ok, track)
	var wg sync.WaitGroup
	errs := make(chan error, 20*20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A dial that finishes after CloseIdleConnections leaves a
			// connection in the pool; the idle timeout closes it.
			tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 200 * time.Millisecond}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for j := 0; j < 20; j++ {
				resp, err := hc.Get(fmt.Sprintf("http://%s/x", addr))
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if j%5 == 0 {
					time.Sleep(3 * time.Millisecond) // idle past the grace now and then
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots still held after every client left", l.Open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > slots {
		t.Fatalf("%d connections served at once, bound %d", peak, slots)
	}
	if l.Reclaimed() == 0 {
		t.Fatal("no idle connection was reclaimed")
	}
}

// Over TLS the server reports the *tls.Conn around the Listener's
// connection, and idle ones are still closed to make room.
func TestReclaimsUnderTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(ok)
	l := New(srv.Listener, 1)
	l.Grace = 10 * time.Millisecond
	srv.Listener = l
	srv.Config.ConnState = l.ConnState
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for i := range 2 { // two clients, each keeping its connection
		tr := srv.Client().Transport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := hc.Get(srv.URL + "/x")
		if err != nil {
			t.Fatalf("client %d: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := l.Reclaimed(); n != 1 {
		t.Fatalf("Reclaimed() = %d, want 1", n)
	}
}
