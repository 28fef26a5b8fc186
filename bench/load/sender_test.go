package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// echoServer answers POST /v1/echo with the request body, and records how
// many connections it accepted. A body of "close" makes it close the
// connection after answering; "big" makes it answer with 2 MiB, chunked.
func echoServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/echo" || r.Header.Get("X-API-Key") != "k1" ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		switch string(body) {
		case "close":
			w.Header().Set("Connection", "close")
		case "big":
			w.WriteHeader(http.StatusCreated)
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 32 {
				w.Write(chunk)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestSenders(t *testing.T) {
	for _, kind := range []string{clientRaw, clientNetHTTP} {
		t.Run(kind, func(t *testing.T) {
			srv, conns := echoServer(t)
			client := newClient(1)
			defer client.CloseIdleConnections()
			tg := target{name: "echo", url: srv.URL + "/v1/echo", apiKey: "k1"}
			s, err := clients{kind, client}.newSender(context.Background(), tg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			var resp bytes.Buffer
			for i, body := range []string{`{"a":1}`, `{"b":2}`, "close", `{"c":3}`} {
				lat, status, err := s.send([]byte(body), &resp)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if status != http.StatusCreated || resp.String() != body || lat <= 0 {
					t.Fatalf("request %d: status %d, body %q, latency %v", i, status, resp.String(), lat)
				}
			}
			// Kept alive until the server said close; then one new
			// connection.
			if n := conns.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
			if _, _, err := s.send([]byte("big"), &resp); err == nil || !strings.Contains(err.Error(), "over 1 MiB") {
				t.Errorf("2 MiB response: %v", err)
			}
			// The next request still gets its answer.
			if _, status, err := s.send([]byte(`{"d":4}`), &resp); err != nil || status != http.StatusCreated || resp.String() != `{"d":4}` {
				t.Errorf("after the 2 MiB response: status %d, body %q, %v", status, resp.String(), err)
			}
		})
	}
}

func TestRawSenderErrors(t *testing.T) {
	srv, _ := echoServer(t)
	tg := target{name: "echo", url: srv.URL + "/v1/echo", apiKey: "k1"}

	// A request the server refuses is an answer, not a transport error.
	s, err := clients{kind: clientRaw}.newSender(context.Background(), target{name: "echo", url: srv.URL + "/elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	var resp bytes.Buffer
	if _, status, err := s.send([]byte("{}"), &resp); err != nil || status != http.StatusBadRequest {
		t.Errorf("refused request: status %d, %v", status, err)
	}
	s.close()

	// A cancelled run fails at once, before and during a connection.
	ctx, cancel := context.WithCancel(context.Background())
	s, err = clients{kind: clientRaw}.newSender(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.send([]byte("{}"), &resp); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, _, err := s.send([]byte("{}"), &resp); err == nil {
		t.Error("send after cancel: no error")
	}
	s.close()

	// A server that is gone is an error, and the next send dials again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close() // hang up without answering
		}
	}()
	s, err = clients{kind: clientRaw}.newSender(context.Background(), target{name: "x", url: "http://" + ln.Addr().String() + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.send([]byte("{}"), &resp); err == nil {
		t.Error("hung-up connection: no error")
	}
	ln.Close()
	if _, _, err := s.send([]byte("{}"), &resp); err == nil {
		t.Error("closed listener: no error")
	}
	s.close()

	if _, err := (clients{kind: clientRaw}).newSender(context.Background(), target{url: "https://127.0.0.1/"}); err == nil ||
		!strings.Contains(err.Error(), "plain HTTP") {
		t.Errorf("https target: %v", err)
	}
	if _, err := (clients{kind: "bogus"}).newSender(context.Background(), tg); err == nil {
		t.Error("unknown kind: no error")
	}
}
