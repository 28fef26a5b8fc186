// Package httpapi serves QuantumLock's REST API (SPEC §4–9): routing,
// middleware, request decoding and response encoding. It is the only
// package that knows about HTTP statuses; domain packages return coded
// errors and this package maps them once, in statusOf.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/account"
	"github.com/quantumlock/quantumlock/keyring"
	"github.com/quantumlock/quantumlock/license"
	"github.com/quantumlock/quantumlock/ratelimit"
)

// Pinger is the store's health check.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are everything the API needs. Every field but Metrics is required.
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
}

type server struct {
	Deps
	logger *slog.Logger
	now    quantumlock.Clock
	mux    *http.ServeMux

	idPrefix string
	idSeq    atomic.Uint64
}

// NewServer returns the API as an http.Handler.
func NewServer(d Deps) http.Handler {
	s := &server{Deps: d, logger: d.Logger, now: d.Now, mux: http.NewServeMux()}
	var b [6]byte
	rand.Read(b[:])
	s.idPrefix = hex.EncodeToString(b[:]) + "-"
	for _, rt := range s.routes() {
		s.mux.Handle(rt.Pattern, rt.Handler)
	}
	return s.observe(s.recoverer(http.HandlerFunc(s.dispatch)))
}

// dispatch routes r, answering unknown paths and methods with the JSON
// error body instead of ServeMux's plain text.
func (s *server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		infoFrom(r).route = pattern
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		s.mux.ServeHTTP(w, r)
		return
	}
	// The mux's own handler tells 404 from 405 and sets Allow; run it
	// against a recorder and keep only those two facts.
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, quantumlock.Errorf(quantumlock.EMETHOD, "Method %s is not allowed here; allowed: %s.", r.Method, rec.header.Get("Allow")))
		return
	}
	s.writeError(w, r, quantumlock.Errorf(quantumlock.ENOTFOUND, "No such endpoint."))
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

// newRequestID returns a unique request id. Request ids are not secrets, so
// a per-process random prefix and a counter serve, and cost nothing.
func (s *server) newRequestID() string {
	return s.idPrefix + strconv.FormatUint(s.idSeq.Add(1), 10)
}
