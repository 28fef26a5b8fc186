package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/quantumlock/quantumlock"
)

// FuzzDecode feeds arbitrary bodies to the strict decoder: it must never
// panic, and must either fill the struct or return a coded client error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"a":"x","b":[1,2],"c":{"d":null}}`, `{"a":1}`, `[]`, `{"a":"x"} {}`, `{"z":1}`, `{"a":"\u00e9"`,
		`{"A":"x"}`, `{"a":"x","a":"y"}`, "{\"a\":\"\xff\"}", `null`} {
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

// TestDecodeStrict: names match exactly and once, bodies are UTF-8, and a
// charset other than UTF-8 is refused; what the standard decoder accepts
// here it accepts the same way.
func TestDecodeStrict(t *testing.T) {
	type dst struct {
		Name  string          `json:"name"`
		Count *int            `json:"count"`
		Extra json.RawMessage `json:"extra"`
	}
	for _, tc := range []struct {
		body, contentType, code, detail string
		encoding                        string
	}{
		{`{"name":"a","count":1,"extra":{"Name":1,"name":2}}`, "", "", "", ""},
		{`{"name":"a"}`, "application/json; charset=UTF-8", "", "", ""},
		{`{"name":"a"}`, "application/json; charset=utf8", "", "", ""},
		{`{"name":"a"}`, "application/json; charset=us-ascii", "", "", ""},
		{`{"name":"a"}`, "", "", "", "identity"},
		{``, "", "", "", ""},
		{" \r\n\t ", "", "", "", ""},                            // only whitespace: no value, as no body
		{" \n", "text/plain", "", "", ""},                       // whatever a client declares for it
		{"  ", "application/x-www-form-urlencoded", "", "", ""}, // (curl's default)
		{" ", "", "", "", "gzip"},
		{strings.Repeat(" ", maxBlankBody), "text/plain", "", "", ""},
		{strings.Repeat(" ", maxBlankBody+1), "text/plain", quantumlock.EMEDIATYPE, "application/json", ""},
		{strings.Repeat(" ", 2*MaxBodyBytes), "text/plain", quantumlock.EMEDIATYPE, "application/json", ""}, // 415, not 413: the headers say why
		{strings.Repeat(" ", maxBlankBody+1), "", "", "", ""},                                               // declared JSON: blank at any length
		{`{"name":"\ud800\uE000"}`, "", quantumlock.EINVALID, "name holds", ""},                             // a high half, then no low one
		{`{"name":"\udc00"}`, "", quantumlock.EINVALID, "name holds", ""},
		{`{"name":"\ud800\\uDC00"}`, "", quantumlock.EINVALID, "name holds", ""}, // the "pair" is a backslash and text
		{`{"name":"\ud83d\ude00 \u00e9 \\ud800"}`, "", "", "", ""},               // a pair; an escaped backslash
		{`{"name":"\ud800"}`, "", quantumlock.EINVALID, "name holds", ""},
		{`{"name":"a\uDFFFb"}`, "", quantumlock.EINVALID, "name holds", ""},
		{`{"name":"\ud800\u0041"}`, "", quantumlock.EINVALID, "name holds", ""},
		{`{"name":"\ud800\n"}`, "", quantumlock.EINVALID, "name holds", ""},
		{`{"name":"\\\ud800x"}`, "", quantumlock.EINVALID, "name holds", ""},
		{`{"name":"a","extra":{"k":["\udbff"]}}`, "", quantumlock.EINVALID, "extra holds", ""},
		{`{"extra":{"\ud800":1}}`, "", quantumlock.EINVALID, "extra holds", ""},
		{`{"count":99999999999999999999999}`, "", quantumlock.EINVALID, "count is out of range: 99999999999999999999999", ""},
		{`{"count":-99999999999999999999999}`, "", quantumlock.EINVALID, "count is out of range", ""},
		{`{"count":1.5}`, "", quantumlock.EINVALID, "count must be an integer, not number 1.5", ""},
		{`{"count":1e2}`, "", quantumlock.EINVALID, "count must be an integer", ""},
		{`{"name":"a"}`, "application/merge-patch+json", "", "", ""},
		{`{"name":"a"}`, "application/problem+json; charset=utf-8", "", "", ""},
		{`{"name":"a"}`, "text/plain", quantumlock.EMEDIATYPE, "application/json", ""},
		{`{"name":"a"}`, "application/jsonx", quantumlock.EMEDIATYPE, "application/json", ""},
		{`null`, "", quantumlock.EINVALID, "null", ""},
		{" \n null ", "", quantumlock.EINVALID, "null", ""},
		{`{"name":"a"}`, "", quantumlock.EMEDIATYPE, "gzip", "gzip"},
		{`{"name":"a"}`, "", quantumlock.EMEDIATYPE, "br", "identity, br"},
		{`{"name":"a"}`, "", quantumlock.EMEDIATYPE, "gzip", "identity\x00gzip"},
		{`{"Name":"a"}`, "", quantumlock.EINVALID, `"Name"`, ""},
		{`{"name":"a","NAME":"b"}`, "", quantumlock.EINVALID, `"NAME"`, ""},
		{`{"name":"a","name":"b"}`, "", quantumlock.EINVALID, "more than once", ""},
		{"{\"name\":\"\xe9\"}", "", quantumlock.EINVALID, "UTF-8: the byte at 10 ", ""},
		{"{\"extra\":{\"k\":\"\xff\"}}", "", quantumlock.EINVALID, "UTF-8: the byte at 16 ", ""},
		{"{\"name\":\"é\xe9\"}", "", quantumlock.EINVALID, "UTF-8: the byte at 12 ", ""},
		// Well-formed, but nested past encoding/json's limit: not called
		// malformed.
		{`{"extra":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, "", quantumlock.EINVALID, "nested too deeply", ""},
		{`{"name":"a"}`, "application/json; charset=iso-8859-1", quantumlock.EMEDIATYPE, "iso-8859-1", ""},
		{`{"name":"a"}`, "application/json\x00application/json", quantumlock.EMEDIATYPE, "one Content-Type", ""},
		{`{"name":"a"}`, "application/json\x00text/plain", quantumlock.EMEDIATYPE, "one Content-Type", ""},
		{" ", "application/json\x00text/plain", "", "", ""}, // a blank body is no body, whatever is declared
	} {
		// Each body with its length declared, and of unknown length, as
		// a chunked body is.
		for _, length := range []int64{int64(len(tc.body)), -1} {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			r.ContentLength = length
			if tc.contentType != "" {
				// "\x00" separates values of repeated headers.
				r.Header["Content-Type"] = strings.Split(tc.contentType, "\x00")
			}
			if tc.encoding != "" {
				// "\x00" separates values of repeated headers.
				r.Header["Content-Encoding"] = strings.Split(tc.encoding, "\x00")
			}
			var d dst
			err := decode(r, &d)
			if quantumlock.ErrorCode(err) != tc.code || (tc.code != "" && !strings.Contains(quantumlock.ErrorMessage(err), tc.detail)) {
				t.Errorf("decode(%q, %q, length %d) = %v, want code %q naming %q", tc.body, tc.contentType, length, err, tc.code, tc.detail)
			}
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A request its headers refuse is not read whole to see whether its body
// is blank: a megabyte of spaces under text/plain is 415 after reading
// just past maxBlankBody.
func TestDecodeRefusedReadsLittle(t *testing.T) {
	body := &countingReader{r: strings.NewReader(strings.Repeat(" ", MaxBodyBytes))}
	r := httptest.NewRequest("POST", "/", body)
	r.ContentLength = -1
	r.Header.Set("Content-Type", "text/plain")
	var dst struct{}
	if err := decode(r, &dst); quantumlock.ErrorCode(err) != quantumlock.EMEDIATYPE {
		t.Fatalf("decode: %v", err)
	}
	if body.n > maxBlankBody+1 {
		t.Errorf("read %d bytes of a body its headers refuse", body.n)
	}
}

// tokenNames is objectNames's reference: the top-level names of a valid
// JSON object as encoding/json's Decoder reads them, and their values'
// bytes.
func tokenNames(t testing.TB, body []byte) (names, values []string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("Token on valid JSON %q: %v", body, err)
		}
		names = append(names, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("Decode on valid JSON %q: %v", body, err)
		}
		values = append(values, string(v))
	}
	return names, values
}

func checkObjectNames(t testing.TB, body []byte) {
	if !json.Valid(body) || !utf8.Valid(body) { // decode refuses the rest before
		return
	}
	var got, gotValues []string
	if err := objectNames(body, func(name, value []byte) error {
		got, gotValues = append(got, string(name)), append(gotValues, string(value))
		return nil
	}); err != nil {
		t.Fatalf("objectNames(%q): %v", body, err)
	}
	if want, wantValues := tokenNames(t, body); !slices.Equal(got, want) || !slices.Equal(gotValues, wantValues) {
		t.Fatalf("objectNames(%q) = %q, %q, want %q, %q", body, got, gotValues, want, wantValues)
	}
}

var objectNamesSeeds = []string{
	`{}`, ` { } `, `null`, `[]`, `"s"`, `1`,
	`{"a":1,"b":"x","c":null,"d":true,"e":false}`,
	`{"a":{"b":{"c":[1,{"d":"}"}]}},"e":[[],{}],"f":"]"}`,
	`{"q\"uote":"va\"l","back\\slash":"\\","u\u00e9":"\u00e9"}`,
	"{\n\t\"a\" :\r\n 1 ,\"b\":[ 1 , 2 ] }",
	`{"a":-1.5e+10,"b":0,"c":"{\"x\":1}"}`,
	`{"a":"x","a":"y","A":"z"}`,
}

func TestObjectNames(t *testing.T) {
	for _, s := range objectNamesSeeds {
		checkObjectNames(t, []byte(s))
	}
}

// FuzzObjectNames holds the allocation-free walk to the Decoder on any
// valid JSON.
func FuzzObjectNames(f *testing.F) {
	for _, s := range objectNamesSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkObjectNames(t, body) })
}

// BenchmarkDecode is the strict decoding of a validate request's body, the
// part of every validation that reads the request.
func BenchmarkDecode(b *testing.B) {
	body := []byte(`{"license_key":"QLOCK-7A3F-9B2C-4E1D","end_customer_id":"customer@company.com"}`)
	var dst struct {
		LicenseKey    string `json:"license_key"`
		EndCustomerID string `json:"end_customer_id"`
	}
	rd := bytes.NewReader(body)
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Content-Type", "application/json")
	b.ReportAllocs()
	r.ContentLength = int64(len(body)) // as a client sends it; 0 is no body
	for b.Loop() {
		rd.Reset(body)
		r.Body = io.NopCloser(rd)
		dst.LicenseKey = ""
		if err := decode(r, &dst); err != nil || dst.LicenseKey == "" {
			b.Fatal(err, dst)
		}
	}
}
