package entropy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// transportError names each kind of failed round trip, and nothing of
// what the transport said: not the address, not the URL.
func TestTransportErrorKinds(t *testing.T) {
	t.Parallel()
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 443}
	op := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://qrng.example/x?key=k", Err: &net.OpError{Op: "dial", Net: "tcp", Addr: addr, Err: err}}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{op(&net.DNSError{Err: "no such host", Name: "qrng.example", Server: "10.0.0.53:53"}), "request failed: host name not resolved"},
		{op(os.NewSyscallError("connect", errConnRefused)), "request failed: connection refused"},
		{op(os.NewSyscallError("read", errConnReset)), "request failed: connection closed by the remote"},
		{&url.Error{Op: "Get", URL: "https://qrng.example/x", Err: io.ErrUnexpectedEOF}, "request failed: connection closed by the remote"},
		{&url.Error{Op: "Get", URL: "https://qrng.example/x", Err: io.EOF}, "request failed: connection closed by the remote"},
		{op(&tls.CertificateVerificationError{Err: errors.New("x509: unknown authority")}), "request failed: TLS handshake failed"},
		{op(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "request failed: TLS handshake failed"},
		{op(os.ErrDeadlineExceeded), "request failed: timed out"},
		{op(fmt.Errorf("something else at %v", addr)), "request failed"},
	} {
		err := transportError(context.Background(), c.err, time.Second)
		if err.Error() != c.want {
			t.Errorf("%v: reported %q, want %q", c.err, err.Error(), c.want)
		}
		if strings.Contains(err.Error(), "192.0.2.7") || strings.Contains(err.Error(), "10.0.0.53") || strings.Contains(err.Error(), "qrng.example") {
			t.Errorf("%v: reported %q", c.err, err.Error())
		}
	}
}

// Without a budget the fetcher keeps no record of its requests: the list
// the budget reads would otherwise grow with every request for good.
func TestNoBudgetKeepsNoRecord(t *testing.T) {
	t.Parallel()
	r := filledRemote(t, newANUServer(t, "good"), Config{FetchSize: 256, PoolSize: 4096})
	if r.fetches < 10 || len(r.sent) != 0 {
		t.Errorf("%d fetches without a budget left %d send times", r.fetches, len(r.sent))
	}
}
