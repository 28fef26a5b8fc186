package httpapi

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the Prometheus metrics of the API, served on their own
// listener (SPEC §9) so they are never exposed with the API itself.
type Metrics struct {
	registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	licensesIssued *prometheus.CounterVec
	validations    *prometheus.CounterVec
	largeRefused   prometheus.Counter
}

// NewMetrics returns a fresh set of metrics on their own registry, with the
// Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantumlock_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "quantumlock_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		licensesIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantumlock_licenses_issued_total", Help: "Licenses issued, by security level.",
		}, []string{"security_level"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantumlock_license_validations_total", Help: "License validations, by result code.",
		}, []string{"code"}),
		largeRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quantumlock_large_answers_refused_total",
			Help: "GETs and HEADs answered 429 because too many large answers were being written at once (the response budget), not for a customer's rate limit.",
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.licensesIssued, m.validations, m.largeRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry returns the registry, for other packages' collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

func (m *Metrics) observe(route, method, status string, d time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), status).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// methodLabel is method as a metric label: one of HTTP's registered
// methods, or "OTHER". The server accepts any token as a method, and each
// distinct label value is a time series kept for the life of the process,
// so labelling the client's own token would let anyone, without a key,
// grow the server's memory a series per request.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "OTHER"
}
