package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client kinds, the values of -client.
const (
	// clientRaw writes each request on the worker's own TCP connection in
	// one system call and parses the answer with http.ReadResponse in the
	// same goroutine: what wrk does, in Go.
	clientRaw = "raw"
	// clientNetHTTP sends through one shared http.Client, whose transport
	// hands every request and response between the caller's goroutine and
	// two goroutines per connection.
	clientNetHTTP = "net/http"
)

// A sender sends requests to one target, one at a time, on one keep-alive
// connection. Each worker has its own.
type sender interface {
	// send posts body and reads the whole response into resp, returning
	// the latency from just before the request is written to the end of
	// the response body.
	send(body []byte, resp *bytes.Buffer) (time.Duration, int, error)
	// close releases the connection.
	close()
}

// clients is how the harness sends: the kind of sender (-client) and the
// shared http.Client the net/http kind uses.
type clients struct {
	kind string
	http *http.Client
}

// newSender returns a sender of cl's kind for t. The net/http kind shares
// cl.http; the raw kind dials its own connection when first used, and
// again after an error. Both give up when ctx is done.
func (cl clients) newSender(ctx context.Context, t target) (sender, error) {
	switch cl.kind {
	case clientNetHTTP:
		return &httpSender{ctx: ctx, client: cl.http, t: t}, nil
	case clientRaw:
		u, err := url.Parse(t.url)
		if err != nil {
			return nil, err
		}
		if u.Scheme != "http" {
			return nil, fmt.Errorf("%s: the raw client speaks plain HTTP/1.1 only", t.url)
		}
		head := "POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
			"\r\nContent-Type: application/json\r\n"
		if t.apiKey != "" {
			head += "X-API-Key: " + t.apiKey + "\r\n"
		}
		return &rawSender{ctx: ctx, addr: u.Host, head: []byte(head + "Content-Length: ")}, nil
	}
	return nil, fmt.Errorf("unknown client %q (want %q or %q)", cl.kind, clientRaw, clientNetHTTP)
}

// httpSender sends through a shared http.Client.
type httpSender struct {
	ctx    context.Context
	client *http.Client
	t      target
}

func (s *httpSender) send(body []byte, resp *bytes.Buffer) (time.Duration, int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.t.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.t.apiKey != "" {
		req.Header.Set("X-API-Key", s.t.apiKey)
	}
	resp.Reset()
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	err = readBody(resp, res.Body)
	res.Body.Close()
	return time.Since(start), res.StatusCode, err
}

// close leaves the connection to the shared client, which the phase
// closes when it ends.
func (s *httpSender) close() {}

// maxResponse bounds the body read of one response.
const maxResponse = 1 << 20

// readBody reads body into resp; a body over maxResponse is an error.
func readBody(resp *bytes.Buffer, body io.Reader) error {
	n, err := resp.ReadFrom(io.LimitReader(body, maxResponse+1))
	if err == nil && n > maxResponse {
		err = errors.New("response body over 1 MiB")
	}
	return err
}

// rawSender is one HTTP/1.1 connection driven from the worker's goroutine.
type rawSender struct {
	ctx  context.Context
	addr string
	head []byte // request line and headers up to "Content-Length: "

	conn net.Conn
	br   *bufio.Reader
	stop func() bool // unregisters the close on ctx's end
	buf  []byte
}

func (s *rawSender) send(body []byte, resp *bytes.Buffer) (time.Duration, int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, 0, err
	}
	if s.conn == nil {
		if err := s.dial(); err != nil {
			return 0, 0, err
		}
	}
	s.buf = append(s.buf[:0], s.head...)
	s.buf = strconv.AppendInt(s.buf, int64(len(body)), 10)
	s.buf = append(s.buf, "\r\n\r\n"...)
	s.buf = append(s.buf, body...)
	resp.Reset()
	start := time.Now()
	status, keep, err := s.roundTrip(resp)
	lat := time.Since(start)
	if err != nil || !keep {
		s.close()
	}
	return lat, status, err
}

// roundTrip writes s.buf and reads one response into resp, reporting
// whether the connection may carry another request.
func (s *rawSender) roundTrip(resp *bytes.Buffer) (status int, keep bool, err error) {
	if err := s.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return 0, false, err
	}
	if _, err := s.conn.Write(s.buf); err != nil {
		return 0, false, err
	}
	res, err := http.ReadResponse(s.br, nil)
	if err != nil {
		return 0, false, err
	}
	err = readBody(resp, res.Body)
	res.Body.Close()
	return res.StatusCode, err == nil && !res.Close, err
}

func (s *rawSender) dial() error {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(s.ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	s.conn = conn
	s.br = bufio.NewReaderSize(conn, 4096)
	// A cancelled run must not wait for a request's deadline.
	s.stop = context.AfterFunc(s.ctx, func() { conn.Close() })
	return nil
}

func (s *rawSender) close() {
	if s.conn == nil {
		return
	}
	s.stop()
	s.conn.Close()
	s.conn, s.br = nil, nil
}
