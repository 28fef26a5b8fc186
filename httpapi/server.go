// Package httpapi serves QuantumLock's REST API (SPEC §4–9): routing,
// middleware, request decoding and response encoding. It is the only
// package that knows about HTTP statuses; domain packages return coded
// errors and this package maps them once, in statusOf.
package httpapi

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/account"
	"github.com/quantumlock/quantumlock/keyring"
	"github.com/quantumlock/quantumlock/license"
	"github.com/quantumlock/quantumlock/ratelimit"
)

// Pinger is the store's health check.
type Pinger interface {
	// Ping reports whether the store answers a read; an error makes
	// /health answer 503.
	Ping(ctx context.Context) error
}

// Deps are everything the API needs. Every field is required but Metrics,
// ResponseBytes and CustomerResponseBytes.
type Deps struct {
	Logger   *slog.Logger
	Accounts *account.Service
	Licenses *license.Service
	Entropy  EntropyService
	Keyring  *keyring.Service
	Limiter  ratelimit.Limiter
	Store    Pinger
	Now      quantumlock.Clock
	Metrics  *Metrics // nil: no metrics
	// ResponseBytes and CustomerResponseBytes bound the bytes of large
	// answers being written at once, in all and per customer (see
	// largeResponse); 0 means the defaults, 512 MiB and 64 MiB.
	ResponseBytes, CustomerResponseBytes int64
}

type server struct {
	Deps
	logger *slog.Logger
	now    quantumlock.Clock
	mux    *http.ServeMux
	// known holds the same patterns as mux, each with a handler that does
	// nothing, and no catch-all, so that an unmatched request can ask it
	// whether its path exists under another method (405) or not at all
	// (404).
	known *http.ServeMux
	// literal maps each path that a route names without wildcards to the
	// Allow value of its methods. Such a path can also match another
	// method's wildcard route (GET /api/v1/licenses/{license_key} matches
	// /api/v1/licenses/generate), which would answer it as a value of the
	// wildcard ("License not found."), and ServeMux's own Allow for it
	// would list that other route's methods; the endpoint the path names
	// takes only its own.
	literal map[string]string
	budget  *responseBudget
}

// NewServer returns the API as an http.Handler.
func NewServer(d Deps) http.Handler {
	s := &server{Deps: d, logger: d.Logger, now: d.Now, mux: http.NewServeMux(), known: http.NewServeMux(), literal: map[string]string{}}
	all, per := d.ResponseBytes, d.CustomerResponseBytes
	if all <= 0 {
		all = serverResponseBudget
	}
	if per <= 0 {
		per = customerResponseBudget
	}
	s.budget = newResponseBudget(per, all)
	methods := map[string][]string{}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.Pattern, routed(rt.Pattern, rt.Handler))
		s.known.Handle(rt.Pattern, matched)
		if method, path, _ := strings.Cut(rt.Pattern, " "); !strings.Contains(path, "{") {
			methods[path] = append(methods[path], method)
			if method == http.MethodGet {
				methods[path] = append(methods[path], http.MethodHead)
			}
		}
	}
	for path, ms := range methods {
		slices.Sort(ms)
		s.literal[path] = strings.Join(ms, ", ")
	}
	// Every route is more specific than "/" and "/api/v1/", so these catch
	// only what no route matches, and a matched request is matched once.
	// Under the API's base path a request is authenticated and counted
	// before it learns that its path or method does not exist (SPEC §4:
	// a missing or unknown key is 401, every authenticated request
	// counts), so the API's shape is not answered to callers without a
	// key, and a key cannot send requests past its limit.
	// "/api/v1" itself too: with only the subtree pattern the mux would
	// answer it with an HTML redirect to "/api/v1/".
	apiUnmatched := s.authedWithQuery(func(w http.ResponseWriter, r *http.Request, _ *quantumlock.Customer) { s.unmatched(w, r) })
	s.mux.Handle("/api/v1/", apiUnmatched)
	s.mux.Handle("/api/v1", apiUnmatched)
	s.mux.HandleFunc("/", s.unmatched)
	apiNoEndpoint := s.authedWithQuery(func(w http.ResponseWriter, r *http.Request, _ *quantumlock.Customer) { s.noEndpoint(w, r) })
	return s.observe(s.recoverer(canonical(s.mux, apiNoEndpoint, http.HandlerFunc(s.noEndpoint))))
}

// canonical passes requests whose path is in canonical form to next. The
// mux would answer any other ("//api/v1/customers/me", "/api/v1/./x",
// "/api/v1//licenses", "/api/v1/licenses/x%2F%2Fy/revoke" once decoded)
// with an HTML redirect to the cleaned path, before authentication and
// whatever the key, or match the encoded path to a route: so such a path
// is no endpoint here, for any method. So is a path with an encoded slash
// ("/api%2Fv1/customers/me"): the mux splits the path where it is written
// with "/", so no API route matches it, while the decoded path names one.
// No route's path has a slash within a segment. Under the API's base path
// (decoded) such a path is authenticated and counted like any unknown
// path (api), elsewhere answered 404 (other).
func canonical(next, api, other http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if clean := cleanPath(p); clean != p || encodedSlash(r.URL.RawPath) {
			if clean == "/api/v1" || strings.HasPrefix(clean, "/api/v1/") {
				api.ServeHTTP(w, r)
			} else {
				other.ServeHTTP(w, r)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// encodedSlash reports whether an escaped path holds a slash written as
// %2F (in either case).
func encodedSlash(raw string) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] == '%' && raw[i+1] == '2' && (raw[i+2] == 'F' || raw[i+2] == 'f') {
			return true
		}
	}
	return false
}

// cleanPath is ServeMux's canonical form of p: rooted, with "." and ".."
// elements and repeated slashes removed, and a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		// path.Clean drops the trailing slash; ServeMux keeps it.
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			return p
		}
		np += "/"
	}
	return np
}

// routed wraps a route's handler: it names the route for the access log
// and metrics and caps the request body.
func routed(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r).route = pattern
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// matched is every route's handler in server.known, which is asked only
// to tell 404 from 405: running a route's own handler there would count
// the request against the rate limit a second time and read its body with
// no limit.
var matched = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// noEndpoint answers a path that names no endpoint whatever the method.
func (s *server) noEndpoint(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, quantumlock.Errorf(quantumlock.ENOTFOUND, "No such endpoint."))
}

// unmatched answers unknown paths and methods with the JSON error body
// instead of ServeMux's plain text.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	// The known routes' mux tells 404 from 405 and sets Allow; run its
	// handler against a recorder and keep only those two facts.
	if allow, ok := s.literal[r.URL.Path]; ok {
		s.methodNotAllowed(w, r, allow)
		return
	}
	h, _ := s.known.Handler(r)
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		s.methodNotAllowed(w, r, rec.header.Get("Allow"))
		return
	}
	s.noEndpoint(w, r)
}

// methodNotAllowed answers 405 with allow, the methods the path takes.
func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, r, quantumlock.Errorf(quantumlock.EMETHOD, "Method %s is not allowed here; allowed: %s.", r.Method, allow))
}

// statusRecorder is a ResponseWriter that keeps only the status and headers.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// Request ids are a process-wide counter enciphered under a key of the
// process's own, so that every server in the process gives unique ids.
var (
	idSeq    atomic.Uint64
	idCipher = func() cipher.Block {
		var key [16]byte
		rand.Read(key[:])
		b, _ := aes.NewCipher(key[:]) // a 16-byte key is always valid
		return b
	}()
)

// newRequestID returns a unique request id: the next count, enciphered.
// Ids are answered to every caller, so the counter itself would let one
// customer count everyone else's requests between two of its own;
// enciphered, ids stay unique (AES is a permutation) and say nothing.
func (s *server) newRequestID() string {
	var b [aes.BlockSize]byte
	binary.BigEndian.PutUint64(b[8:], idSeq.Add(1))
	idCipher.Encrypt(b[:], b[:])
	return hex.EncodeToString(b[:])
}
