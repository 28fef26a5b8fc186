package httpapi

import (
	"context"
	_ "embed"
	"net/http"
	"time"

	"github.com/quantumlock/quantumlock"
)

// OpenAPI is the OpenAPI 3.1 description of the API, served at
// /openapi.yaml and checked against the routes and responses by tests.
//
//go:embed openapi.yaml
var OpenAPI []byte

// WriteFailer is a store that tells when a write failed for a reason of
// the storage while it still reads (sqlite.DB.WriteFailure): "" when none
// did lately. A Store that is one has /health say so.
type WriteFailer interface {
	// WriteFailure returns the kind of the latest write failure and when
	// it happened, or "" when no write failed lately.
	WriteFailure() (kind string, at time.Time)
}

// handleHealth serves GET /health: 200 when the store answers, else 503.
// The 503 is an error, so it carries the SPEC §4 error body beside the
// health fields, with INTERNAL_ERROR: a store that does not answer is the
// service's own failure (SPEC names no other code for it). A store that
// answers but where a write failed lately (a full disk) is 200 "degraded",
// not 503: it still validates, which a load balancer taking the instance
// out would stop, and the status tells a monitor that it is not "ok".
func (s *server) handleHealth() http.Handler {
	type response struct {
		Status           string  `json:"status"`
		Version          string  `json:"version"`
		Store            string  `json:"store"`
		StoreError       string  `json:"store_error,omitempty"`
		LastWriteFailure *string `json:"last_write_failure,omitempty"`
	}
	type unavailable struct {
		response
		errorBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Store.Ping(ctx); err != nil {
			s.logger.ErrorContext(ctx, "store ping failed", "request_id", infoFrom(r).requestID, "error", err.Error())
			encode(w, http.StatusServiceUnavailable, unavailable{
				response{Status: "unavailable", Version: quantumlock.Version, Store: "unavailable"},
				s.errorBodyOf(r, quantumlock.EINTERNAL, "The store does not answer."),
			})
			return
		}
		if wf, ok := s.Store.(WriteFailer); ok {
			if kind, at := wf.WriteFailure(); kind != "" {
				t := timeString(at)
				encode(w, http.StatusOK, response{Status: "degraded", Version: quantumlock.Version, Store: "writes_failing",
					StoreError: kind, LastWriteFailure: &t})
				return
			}
		}
		encode(w, http.StatusOK, response{Status: "ok", Version: quantumlock.Version, Store: "ok"})
	})
}

// handleOpenAPI serves GET /openapi.yaml.
func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(OpenAPI)
	})
}
