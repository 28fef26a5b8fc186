// Package apitest drives the API over real HTTP in tests and checks every
// response against openapi.yaml, so the description cannot drift from
// what the server does.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/quantumlock/quantumlock/httpapi"
)

var (
	loadOnce sync.Once
	doc      *openapi3.T
	router   routers.Router
	loadErr  error
)

// dateTimeZ is an RFC 3339 date-time in UTC, written with a Z.
const dateTimeZ = `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?Z$`

// Doc returns the parsed, validated openapi.yaml.
func Doc(tb testing.TB) (*openapi3.T, routers.Router) {
	tb.Helper()
	loadOnce.Do(func() {
		// SPEC §4: times are RFC 3339 UTC with a Z; the format's own
		// check would let any offset through.
		openapi3.DefineStringFormatValidator("date-time", openapi3.NewRegexpFormatValidator(dateTimeZ))
		loader := openapi3.NewLoader()
		doc, loadErr = loader.LoadFromData(httpapi.OpenAPI)
		if loadErr != nil {
			return
		}
		if loadErr = doc.Validate(loader.Context); loadErr != nil {
			return
		}
		// Servers would pin routing to one host; tests run on random ports.
		doc.Servers = nil
		router, loadErr = legacy.NewRouter(doc)
	})
	if loadErr != nil {
		tb.Fatalf("openapi.yaml: %v", loadErr)
	}
	return doc, router
}

// Client sends requests to a running server and checks each response
// against openapi.yaml.
type Client struct {
	BaseURL string
	APIKey  string
	HTTP    *http.Client // nil: one that does not follow redirects
}

// Response is a received response, its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map (or fails the test).
func (r *Response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("response body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Decode decodes the body into v (or fails the test).
func (r *Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decoding response: %v: %s", err, r.Body)
	}
}

// Do sends method path with body (a string is sent as is, anything else
// as JSON, nil as no body) and headers, name and value pairs (a value
// replaces the header's, "" deletes it, and a name written "+Name" adds
// one more value), checks the response against the description, and
// returns it. It fails the test on transport errors and
// on responses the description does not allow.
func (c *Client) Do(tb testing.TB, method, path string, body any, headers ...string) *Response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.BaseURL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.APIKey != "" {
		req.Header.Set("X-API-Key", c.APIKey)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		switch name, value := headers[i], headers[i+1]; {
		case strings.HasPrefix(name, "+"):
			req.Header.Add(name[1:], value)
		case value == "":
			req.Header.Del(name)
		default:
			req.Header.Set(name, value)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = noRedirects
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	Check(tb, req, r)
	return r
}

// checkHead checks a HEAD response: openapi.yaml says every GET route
// also answers HEAD with the same status and headers and no body, so it
// must be a status the GET allows, with no body.
func checkHead(tb testing.TB, rt routers.Router, req *http.Request, r *Response) {
	tb.Helper()
	if len(r.Body) > 0 {
		tb.Errorf("HEAD %s: a body of %d bytes", req.URL.Path, len(r.Body))
	}
	get := req.Clone(req.Context())
	get.Method = http.MethodGet
	route, _, err := findRoute(rt, get)
	if err != nil {
		if r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusUnauthorized {
			tb.Errorf("HEAD %s: no GET in openapi.yaml (%v) but answered %d", req.URL.Path, err, r.Status)
		}
		return
	}
	if route.Operation.Responses.Status(r.Status) == nil && route.Operation.Responses.Default() == nil {
		tb.Errorf("HEAD %s -> %d: not a status openapi.yaml gives its GET", req.URL.Path, r.Status)
	}
}

// findRoute is the router's FindRoute, held to OpenAPI's matching where
// the router is looser: a path the description names without templates is
// that path's alone (a concrete path matches before a templated one; the
// router would match GET /api/v1/licenses/generate, which has only a POST,
// to GET /api/v1/licenses/{license_key}), and a path matches only a route
// of as many segments (the router reads /api/v1/licenses/ as
// /api/v1/licenses), and a path with a slash written as %2F matches none
// (the router reads the decoded path, which may name a route).
func findRoute(rt routers.Router, req *http.Request) (*routers.Route, map[string]string, error) {
	if raw := strings.ToUpper(req.URL.RawPath); strings.Contains(raw, "%2F") {
		return nil, nil, routers.ErrPathNotFound
	}
	route, params, err := rt.FindRoute(req)
	if err != nil || route.Path == req.URL.Path {
		return route, params, err
	}
	if doc.Paths.Value(req.URL.Path) != nil {
		return nil, nil, routers.ErrMethodNotAllowed
	}
	if strings.Count(route.Path, "/") != strings.Count(req.URL.Path, "/") {
		return nil, nil, routers.ErrPathNotFound
	}
	return route, params, err
}

// noRedirects is the client Do uses by default. The API never redirects on
// purpose, so a redirect is an answer to check, not one to follow.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Check fails the test unless the response is one the description allows
// for req: a documented status, matching body schema, and for errors the
// error body with the response's X-Request-ID.
func Check(tb testing.TB, req *http.Request, r *Response) {
	tb.Helper()
	if r.Header.Get("X-Request-ID") == "" {
		tb.Errorf("%s %s: no X-Request-ID", req.Method, req.URL.Path)
	}
	// Every error is the error body, except /health, whose 503 is the
	// health body saying what is down, and any answer to HEAD.
	if r.Status >= 400 && req.URL.Path != "/health" && req.Method != http.MethodHead {
		var e struct {
			Detail, Code, Timestamp string
			RequestID               string `json:"request_id"`
		}
		if err := json.Unmarshal(r.Body, &e); err != nil || e.Detail == "" || e.Code == "" || e.Timestamp == "" {
			tb.Errorf("%s %s: %d without the error body: %s", req.Method, req.URL.Path, r.Status, r.Body)
		} else if e.RequestID != r.Header.Get("X-Request-ID") {
			tb.Errorf("%s %s: body request_id %q, header %q", req.Method, req.URL.Path, e.RequestID, r.Header.Get("X-Request-ID"))
		}
	}
	// SPEC §4: every authenticated response carries the rate-limit
	// headers, and a 429 adds Retry-After. Under /api/v1/ only a 401 is
	// unauthenticated, and a 500 may be the limiter itself failing.
	if p := path.Clean(req.URL.Path); (p == "/api/v1" || strings.HasPrefix(p, "/api/v1/")) &&
		r.Status != http.StatusUnauthorized && r.Status != http.StatusInternalServerError {
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			if r.Header.Get(h) == "" {
				tb.Errorf("%s %s -> %d: no %s", req.Method, req.URL.Path, r.Status, h)
			}
		}
	}
	// What the API answers is about one customer, key material included
	// (an exportable key's GET): no cache may keep it. X-API-Key is not
	// Authorization, so a shared cache would not know that by itself.
	if p := path.Clean(req.URL.Path); (p == "/api/v1" || strings.HasPrefix(p, "/api/v1/")) && r.Header.Get("Cache-Control") != "no-store" {
		tb.Errorf("%s %s -> %d: Cache-Control %q, want no-store", req.Method, req.URL.Path, r.Status, r.Header.Get("Cache-Control"))
	}
	if r.Status == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
		tb.Errorf("%s %s -> 429 without Retry-After", req.Method, req.URL.Path)
	}
	_, rt := Doc(tb)
	if req.Method == http.MethodHead {
		checkHead(tb, rt, req, r)
		return
	}
	route, params, err := findRoute(rt, req)
	if err != nil {
		// Unknown paths and methods are answered by the server's fallback
		// (404/405 with the error body), which has no entry to check;
		// under /api/v1/ it authenticates and counts first (401, 429),
		// also for a path that is there only once cleaned.
		switch clean := path.Clean(req.URL.Path); r.Status {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
		case http.StatusUnauthorized, http.StatusTooManyRequests:
			if clean != "/api/v1" && !strings.HasPrefix(clean, "/api/v1/") {
				tb.Errorf("%s %s: not in openapi.yaml (%v) but answered %d", req.Method, req.URL.Path, err, r.Status)
			}
		default:
			tb.Errorf("%s %s: not in openapi.yaml (%v) but answered %d", req.Method, req.URL.Path, err, r.Status)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  r.Status,
		Header:  r.Header,
		Body:    io.NopCloser(bytes.NewReader(r.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		tb.Errorf("%s %s -> %d does not match openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, r.Status, err, r.Body)
	}
}
