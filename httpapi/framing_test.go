package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// dialRaw opens a connection to the test server for requests written byte
// by byte, as no client library would send them.
func dialRaw(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// errorOf reads an answer's SPEC §4 error body.
func errorOf(t *testing.T, resp *http.Response) (code, detail string) {
	t.Helper()
	var e struct{ Code, Detail string }
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("%d: no error body: %v", resp.StatusCode, err)
	}
	return e.Code, e.Detail
}

// A body its Content-Length shows to be over the limit is refused on its
// headers: a client that asks "Expect: 100-continue" (curl does, past 1 MiB)
// gets the 413 instead of an invitation to send megabytes that are then
// cut off mid-upload, where the client sees a reset rather than the 413.
// So is one declared as anything but JSON and too long to be blank.
func TestBodyRefusedOnItsHeaders(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	for _, tc := range []struct {
		contentType string
		length      int
		status      int
	}{
		{"application/json", 10_000_000, http.StatusRequestEntityTooLarge},
		{"application/json", 1<<20 + 1, http.StatusRequestEntityTooLarge},
		{"text/plain", 2_000_000, http.StatusUnsupportedMediaType},
		{"text/plain", 600, http.StatusUnsupportedMediaType},
	} {
		conn, br := dialRaw(t, a.URL)
		fmt.Fprintf(conn, "POST /api/v1/licenses/validate HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"+
			"Content-Type: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", c.APIKey, tc.contentType, tc.length)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s, %d bytes: no answer to the headers: %v", tc.contentType, tc.length, err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s, %d bytes, Expect: 100-continue: first answer %d, want %d", tc.contentType, tc.length, resp.StatusCode, tc.status)
			continue
		}
		errorOf(t, resp)
	}
}

// A chunked body whose framing is broken is refused for that, not as a
// body the connection cut off: the connection neither closed nor timed
// out, and the access log does not say it did.
func TestMalformedChunkedBody(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	for i, chunks := range []string{
		"zz\r\n{\"bits\":8}\r\n0\r\n\r\n",        // a size that is not hex
		"2\r\n{\"bits\":8}\r\n0\r\n\r\n",         // data longer than its size
		"ffffffffffffffffff\r\n{\"bits\":8}\r\n", // a size past 64 bits
	} {
		id := fmt.Sprint("badchunk-", i)
		conn, br := dialRaw(t, a.URL)
		fmt.Fprintf(conn, "POST /api/v1/quantum/entropy HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nX-Request-ID: %s\r\n"+
			"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%s", c.APIKey, id, chunks)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		code, detail := errorOf(t, resp)
		if resp.StatusCode != 400 || code != quantumlock.EINVALID || !strings.Contains(detail, "chunked") {
			t.Errorf("%q: %d %s %q, want 400 naming the chunked framing", chunks, resp.StatusCode, code, detail)
		}
		time.Sleep(50 * time.Millisecond) // the access log is written behind the answer
		if line := a.logLine(t, id); line["cut_off"] != nil {
			t.Errorf("%q: access log marks the body cut off: %v", chunks, line)
		}
	}
}

// A request with a chunked body is answered with Connection: close, and
// the connection is closed: the server cannot tell whether it also carried
// a Content-Length (net/http drops that header), and RFC 9112 §6.1 says a
// server that answers such a request must close the connection after it,
// so that a proxy framing by Content-Length cannot slip a second request
// past it in the body.
func TestChunkedRequestClosesConnection(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	conn, br := dialRaw(t, a.URL)
	fmt.Fprintf(conn, "POST /api/v1/quantum/entropy HTTP/1.1\r\nHost: x\r\nX-API-Key: %[1]s\r\nContent-Type: application/json\r\n"+
		"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\na\r\n{\"bits\":8}\r\n0\r\n\r\n"+
		"GET /api/v1/customers/me HTTP/1.1\r\nHost: x\r\nX-API-Key: %[1]s\r\nX-Request-ID: second\r\n\r\n", c.APIKey)
	first, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, first.Body)
	if first.StatusCode != 200 || !first.Close {
		t.Errorf("chunked request with a Content-Length: %d, Connection %q", first.StatusCode, first.Header.Get("Connection"))
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if second, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("the connection went on to serve the next request: %d, X-Request-Id %q", second.StatusCode, second.Header.Get("X-Request-Id"))
	}

	// A body framed by its length keeps the connection.
	conn, br = dialRaw(t, a.URL)
	fmt.Fprintf(conn, "POST /api/v1/quantum/entropy HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: 10\r\n\r\n{\"bits\":8}", c.APIKey)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Close {
		t.Errorf("a body framed by Content-Length: %d, Connection %q", resp.StatusCode, resp.Header.Get("Connection"))
	}
}

// HTTP/1.0 frames a request body only by Content-Length (RFC 1945 §7.2.2;
// RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty
// framing). net/http ignores the Transfer-Encoding of an HTTP/1.0 request
// and reads no body, so a POST whose body was sent chunked would run on
// the defaults instead of what it asked for: it is refused, naming the
// missing header. One with its Content-Length is served.
func TestHTTP10BodyNeedsContentLength(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	body := `{"algorithm":"Ed25519","exportable":true,"label":"asked"}`

	conn, br := dialRaw(t, a.URL)
	fmt.Fprintf(conn, "POST /api/v1/quantum/keys HTTP/1.0\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"+
		"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", c.APIKey, len(body), body)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, detail := errorOf(t, resp); resp.StatusCode != 400 || code != quantumlock.EINVALID || !strings.Contains(detail, "Content-Length") {
		t.Errorf("HTTP/1.0 POST with a chunked body: %d %s %q, want 400 naming Content-Length", resp.StatusCode, code, detail)
	}
	if keys := call(t, c, "GET", "/api/v1/quantum/keys", nil, http.StatusOK)["keys"].([]any); len(keys) != 0 {
		t.Errorf("a key was made: %v", keys)
	}

	conn, br = dialRaw(t, a.URL)
	fmt.Fprintf(conn, "POST /api/v1/quantum/keys HTTP/1.0\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n%s", c.APIKey, len(body), body)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || !strings.Contains(string(got), `"Ed25519"`) {
		t.Errorf("HTTP/1.0 POST with its Content-Length: %d %s", resp.StatusCode, got)
	}
}

// A chunked body cut off after its last chunk, in the trailer, was cut
// off by the connection, not malformed: answered and logged as before.
func TestChunkedBodyCutOffInTrailer(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	for i, end := range []string{"0\r\n", "0\r\nX-Trace: abc\r\n", "0\r\nX-Tr"} {
		id := fmt.Sprint("trailer-cut-", i)
		conn, br := dialRaw(t, a.URL)
		fmt.Fprintf(conn, "POST /api/v1/quantum/entropy HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nX-Request-ID: %s\r\n"+
			"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\na\r\n{\"bits\":8}\r\n%s", c.APIKey, id, end)
		conn.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, detail := errorOf(t, resp); resp.StatusCode != 400 || !strings.Contains(detail, "could not be read to its end") {
			t.Errorf("cut off after %q: %d %q", end, resp.StatusCode, detail)
		}
		time.Sleep(50 * time.Millisecond)
		if line := a.logLine(t, id); line["cut_off"] != true {
			t.Errorf("cut off after %q: access log %v", end, line)
		}
	}
}

// Every HTTP/1.0 request closes its connection, keep-alive asked for or
// not, whatever its method, path or framing: net/http drops an HTTP/1.0
// Transfer-Encoding unseen, so chunks sent as a body (beside a
// Content-Length too) would otherwise be read as the next request.
func TestHTTP10ClosesConnection(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	inner := "GET /api/v1/customers/me HTTP/1.1\r\nHost: x\r\nX-API-Key: " + c.APIKey + "\r\nX-Request-ID: inner\r\n\r\n"
	keyID := call(t, c, "POST", "/api/v1/quantum/keys", map[string]any{"algorithm": "AES-256-GCM"}, http.StatusCreated)["key_id"].(string)
	for _, head := range []string{
		"POST /api/v1/nosuch HTTP/1.0\r\nTransfer-Encoding: chunked\r\n",
		"POST /nosuch HTTP/1.0\r\nTransfer-Encoding: chunked\r\n",
		"POST /api/v1/customers/me HTTP/1.0\r\nTransfer-Encoding: chunked\r\n",
		"POST /api/v1//customers/me HTTP/1.0\r\nTransfer-Encoding: chunked\r\n",
		"DELETE /api/v1/quantum/keys/" + keyID + " HTTP/1.0\r\nTransfer-Encoding: chunked\r\n",
		"GET /api/v1/customers/me HTTP/1.0\r\nTransfer-Encoding: chunked\r\n",
		"POST /api/v1/quantum/entropy HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\nContent-Type: application/json\r\n\r\n{\"bits\":8}",
	} {
		req := head + "Connection: keep-alive\r\nX-API-Key: " + c.APIKey + "\r\n\r\n"
		if strings.Contains(head, "Content-Length") {
			h, body, _ := strings.Cut(head, "\r\n\r\n")
			req = h + "\r\nConnection: keep-alive\r\nX-API-Key: " + c.APIKey + "\r\n\r\n" + body
		}
		conn, br := dialRaw(t, a.URL)
		io.WriteString(conn, req+inner)
		method, _, _ := strings.Cut(head, " ")
		first, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%.40q: %v", head, err)
		}
		io.Copy(io.Discard, first.Body)
		if !first.Close {
			t.Errorf("%.50q: %d, Connection %q", head, first.StatusCode, first.Header.Get("Connection"))
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if second, err := http.ReadResponse(br, nil); err == nil {
			t.Errorf("%.50q: the chunks were served as a request: %d, X-Request-Id %q", head, second.StatusCode, second.Header.Get("X-Request-Id"))
		}
	}
}

// HTTP/1.0 without Content-Length: a DELETE, which HTTP/1.0 gives no body,
// is served; a POST is refused (RFC 1945 requires the length on every
// POST), with Connection: close, so that chunks sent after it are never
// read as a request of their own; with "Content-Length: 0" it is served.
func TestHTTP10WithoutLength(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, c := a.customer(t, quantumlock.PlanEnterprise, nil, nil)
	key := func() string {
		return call(t, c, "POST", "/api/v1/quantum/keys", map[string]any{"algorithm": "AES-256-GCM"}, http.StatusCreated)["key_id"].(string)
	}
	conn, br := dialRaw(t, a.URL)
	fmt.Fprintf(conn, "DELETE /api/v1/quantum/keys/%s HTTP/1.0\r\nX-API-Key: %s\r\n\r\n", key(), c.APIKey)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("HTTP/1.0 DELETE without a body: %v %v", resp, err)
	}

	rotate := "/api/v1/quantum/keys/" + key() + "/rotate"
	conn, br = dialRaw(t, a.URL)
	fmt.Fprintf(conn, "POST %s HTTP/1.0\r\nX-API-Key: %s\r\n\r\n", rotate, c.APIKey)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, detail := errorOf(t, resp); resp.StatusCode != 400 || code != quantumlock.EINVALID || !strings.Contains(detail, "Content-Length (0 for none)") {
		t.Errorf("HTTP/1.0 POST without Content-Length: %d %s %q", resp.StatusCode, code, detail)
	}
	conn, br = dialRaw(t, a.URL)
	fmt.Fprintf(conn, "POST %s HTTP/1.0\r\nX-API-Key: %s\r\nContent-Length: 0\r\n\r\n", rotate, c.APIKey)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("HTTP/1.0 POST with Content-Length: 0: %v %v", resp, err)
	}

	// Keep-alive asked for, and a request sent as the chunked "body".
	conn, br = dialRaw(t, a.URL)
	fmt.Fprintf(conn, "POST /api/v1/quantum/entropy HTTP/1.0\r\nConnection: keep-alive\r\nX-API-Key: %[1]s\r\n"+
		"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"GET /api/v1/customers/me HTTP/1.1\r\nHost: x\r\nX-API-Key: %[1]s\r\nX-Request-ID: inner\r\n\r\n", c.APIKey)
	first, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, first.Body)
	if first.StatusCode != 400 || !first.Close {
		t.Errorf("HTTP/1.0 keep-alive chunked POST: %d, Connection %q", first.StatusCode, first.Header.Get("Connection"))
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if second, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("the chunked body was served as a request: %d, X-Request-Id %q", second.StatusCode, second.Header.Get("X-Request-Id"))
	}
}
