package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// ceilingRequest and ceilingResponse have the shape of the validate
// request and response, so the ceiling server parses and writes the same
// small JSON the service does, and nothing else: no auth, no store, no log.
type ceilingRequest struct {
	LicenseKey    string `json:"license_key"`
	EndCustomerID string `json:"end_customer_id"`
}

type ceilingResponse struct {
	Valid           bool     `json:"valid"`
	Code            string   `json:"code"`
	EndCustomerID   string   `json:"end_customer_id"`
	QuantumVerified bool     `json:"quantum_verified"`
	Features        []string `json:"features"`
	ExpiresAt       *string  `json:"expires_at"`
	Message         *string  `json:"message"`
}

// ceilingHandler decodes the request with encoding/json, refusing unknown
// fields, and encodes a VALID response. The service's decoding checks more
// (the body whole, valid UTF-8, no trailing data, each field name exactly
// once and in its case; httpapi.decode), about 0.15 µs a request by
// BenchmarkDecode, which this leaves out: the ceiling is that much faster,
// and the shares of it that much lower (docs/benchmarks.md, Method).
func ceilingHandler(w http.ResponseWriter, r *http.Request) {
	var req ceilingRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.LicenseKey == "" {
		http.Error(w, `{"detail":"bad request"}`, http.StatusBadRequest)
		return
	}
	exp := time.Now().UTC().AddDate(1, 0, 0).Format(time.RFC3339)
	b, err := json.Marshal(ceilingResponse{
		Valid: true, Code: "VALID", EndCustomerID: req.EndCustomerID,
		Features: []string{"pro"}, ExpiresAt: &exp,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

// runCeilingServer serves ceilingHandler on 127.0.0.1:0, prints
// "listening ADDR" on out, and returns when in reaches EOF (the harness
// closed the pipe or died).
func runCeilingServer(in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(ceilingHandler), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "listening %s\n", ln.Addr())
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, in)
		close(stdinClosed)
	}()
	select {
	case err := <-errc:
		return err
	case <-stdinClosed:
		return srv.Close()
	}
}
