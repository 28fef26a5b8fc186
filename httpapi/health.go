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

// handleHealth serves GET /health: 200 when the store answers, else 503.
func (s *server) handleHealth() http.Handler {
	type response struct {
		Status  string `json:"status"`
		Version string `json:"version"`
		Store   string `json:"store"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Store.Ping(ctx); err != nil {
			s.logger.ErrorContext(ctx, "store ping failed", "request_id", infoFrom(r).requestID, "error", err.Error())
			encode(w, http.StatusServiceUnavailable, response{Status: "unavailable", Version: quantumlock.Version, Store: "unavailable"})
			return
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
