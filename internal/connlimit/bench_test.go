package connlimit

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// nopConn is a connection whose reads always return one byte.
type nopConn struct{ net.Conn }

func (nopConn) Read(b []byte) (int, error) { return 1, nil }

// BenchmarkRequestCycle is what a Listener adds to each request on a
// kept-alive connection: the server's two state changes and the read that
// brings the next request, over 32 connections at once.
func BenchmarkRequestCycle(b *testing.B) {
	l := New(nil, 64)
	var next atomic.Int32
	conns := make([]*conn, 32)
	for i := range conns {
		conns[i] = &conn{Conn: nopConn{}, l: l}
	}
	buf := make([]byte, 4096)
	b.RunParallel(func(pb *testing.PB) {
		c := conns[int(next.Add(1)-1)%len(conns)]
		for pb.Next() {
			c.Read(buf)
			l.ConnState(c, http.StateActive)
			l.ConnState(c, http.StateIdle)
		}
	})
}
