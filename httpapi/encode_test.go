package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
)

// No answer HTML-escapes its strings, those written by a field's own
// marshaler included: the QRNG's URL in quantum/health keeps a path's &.
func TestEncodeNoHTMLEscapes(t *testing.T) {
	rec := httptest.NewRecorder()
	encode(rec, 200, backendOf(entropy.SourceStatus{Name: quantumlock.SourceQCOSAPI, URL: "https://qrng.example/a&b<c>"}))
	if body := rec.Body.String(); !strings.Contains(body, `"url":"https://qrng.example/a&b<c>"`) || !strings.HasSuffix(body, "}\n") {
		t.Fatalf("encoded %q", body)
	}
}

// A buffer grown past maxPooledResponse is not kept for later answers.
// (sync.Pool.Get on the same P returns what was just put there, so a kept
// buffer would come straight back.)
func TestEncodePoolDropsLargeBuffers(t *testing.T) {
	for range 20 {
		encode(httptest.NewRecorder(), 200, strings.Repeat("x", 2*maxPooledResponse))
		e := encoders.Get().(*encoder)
		c := e.buf.Cap()
		encoders.Put(e)
		if c > maxPooledResponse {
			t.Fatalf("the pool kept a %d-byte buffer", c)
		}
	}
}
