package entropy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// docs/entropy.md says any non-200 is a failed request. A 2xx other than 200 or a redirect
// (the client returns 3xx as is, it follows none) carrying a well-formed
// body must not be pooled as quantum bytes.
func TestFetchRefusesNon200WithValidBody(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusCreated, http.StatusNonAuthoritativeInfo, http.StatusFound} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := 0
			fmt.Sscan(r.URL.Query().Get("length"), &n)
			vals := make([]string, n)
			for i := range vals {
				vals[i] = fmt.Sprint((i*37 + 11) % 256)
			}
			w.Header().Set("Location", "https://elsewhere.example/")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"type":"uint8","length":%d,"data":[%s],"success":true}`, n, strings.Join(vals, ","))
		}))
		r := testRemote(t, srv.URL, Config{})
		if b, _, err := r.fetch(context.Background(), 16); err == nil {
			t.Errorf("HTTP %d: fetch accepted %d bytes", code, len(b))
		}
		srv.Close()
	}
}
