package httpapi

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzQuery checks that query answers the same query string the same way
// every time, whatever it holds: go test runs the seeds (and
// testdata/fuzz), go test -fuzz FuzzQuery explores.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"skip=1&limit=2", "limit=", "a=1", "status=active&end_customer_id=x", "limit=1&limit=2", "%zz", "0&1", "b=1&a=&a=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL = &url.URL{Path: "/", RawQuery: raw}
		var first string
		for i := range 16 {
			_, err := query(r, "skip", "limit", "end_customer_id", "status")
			msg := "<nil>"
			if err != nil {
				msg = err.Error()
			}
			if i == 0 {
				first = msg
			} else if msg != first {
				t.Fatalf("query(%q) answered %q, then %q", raw, first, msg)
			}
		}
	})
}
