package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock"
)

// FuzzDecode feeds arbitrary bodies to the strict decoder: it must never
// panic, and must either fill the struct or return a coded client error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"a":"x","b":[1,2],"c":{"d":null}}`, `{"a":1}`, `[]`, `{"a":"x"} {}`, `{"z":1}`, `{"a":"\u00e9"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var dst struct {
			A string         `json:"a"`
			B []int          `json:"b"`
			C map[string]any `json:"c"`
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		err := decode(r, &dst)
		if err == nil {
			return
		}
		switch quantumlock.ErrorCode(err) {
		case quantumlock.EINVALID, quantumlock.ETOOLARGE:
		default:
			t.Fatalf("decode(%q) = %v, want a client error", body, err)
		}
	})
}
