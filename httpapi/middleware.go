package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/account"
)

// requestInfo is what the outermost middleware learns about a request as
// it passes down, for the access log and metrics.
type requestInfo struct {
	requestID  string
	route      string
	customerID string
	errCode    string
	// cutOff is set when the request's body could not be read to its
	// end (see decode).
	cutOff bool
	// canceled is set when the request failed because its context ended
	// (the client went away, or shutdown's timeout passed): its 500 is
	// no fault of the server's (see writeError).
	canceled bool
	// largeRefused is set when the answer was refused for the response
	// budget (see refuseLarge).
	largeRefused bool
}

type infoKey struct{}

// infoFrom returns the request's info; the observe middleware always sets it.
func infoFrom(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// saneRequestID reports whether a client's X-Request-ID can be echoed: short
// and of characters that cannot break a log line or a header, and not
// holding what looks like one of our API keys (ql_live_…, in any case),
// which a misconfigured client or proxy may put there: the id is written
// to the access log, which never holds an API key.
func saneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	for i := 0; i+len(account.KeyPrefix) <= len(id); i++ {
		if strings.EqualFold(id[i:i+len(account.KeyPrefix)], account.KeyPrefix) {
			return false
		}
	}
	return true
}

// responseWriter records the status and size of a response.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int
	// s and r are the server and the request as the handlers see it, for
	// encode to refuse an answer over the response budget.
	s *server
	r *http.Request
}

// refuseLarge answers 429 in place of an answer over the response budget.
func (w *responseWriter) refuseLarge() {
	// Told apart from a customer's rate limit, which shares its code: the
	// server's memory guard at work is the operator's to see.
	infoFrom(w.r).largeRefused = true
	if w.s.Metrics != nil {
		w.s.Metrics.largeRefused.Inc()
	}
	w.s.writeError(w, w.r, quantumlock.Errorf(quantumlock.ERATELIMIT,
		"Too many large answers are being sent at once; retry when your clients have read theirs."))
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// connectionClose is the Connection header that has net/http close the
// connection after the answer.
var connectionClose = []string{"close"}

// observe assigns the request id, and after the response writes one access
// log line and records metrics. The line has method, route, status,
// duration, request id and customer id; never headers, bodies or the raw
// path, which may carry license keys. It closes the connection after a
// request whose framing the server cannot see whole (a chunked body, or
// any HTTP/1.0 request).
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		// One id, or none: of two, a proxy in front may log the other,
		// as with two X-API-Key headers.
		if ids := r.Header["X-Request-Id"]; len(ids) == 1 {
			info.requestID = ids[0]
		}
		if !saneRequestID(info.requestID) {
			info.requestID = s.newRequestID()
		}
		// Header names are written in Go's canonical form (X-Request-Id,
		// X-Ratelimit-Limit), which is what goes on the wire anyway: Set
		// then skips re-canonicalising, an allocation per header per
		// request. HTTP header names are case-insensitive.
		w.Header().Set("X-Request-Id", info.requestID)
		if r.TransferEncoding != nil || !r.ProtoAtLeast(1, 1) {
			// A chunked body. net/http drops a Content-Length sent beside
			// it, so this may be such a request, which RFC 9112 §6.1 says
			// to answer and then close the connection: behind a proxy
			// framing by Content-Length, what this server reads as body
			// and what the proxy sent as the next request differ.
			// Clients send chunked bodies rarely; they lose only
			// keep-alive. An HTTP/1.0 request the same: net/http drops
			// its Transfer-Encoding unseen, whatever the method, and
			// reads its chunks, if any, as the next request on a
			// connection kept alive; RFC 9112 §6.1 has such framing
			// treated as faulty and the connection closed. HTTP/1.0
			// keeps a connection only when asked, and few clients ask.
			w.Header()["Connection"] = connectionClose
		}
		rw := &responseWriter{ResponseWriter: w, s: s}
		rw.r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		next.ServeHTTP(rw, rw.r)

		d := time.Since(start)
		route := info.route
		if route == "" {
			route = "unmatched"
		}
		attrs := []slog.Attr{
			// The method as metrics label it: a made-up one, which anyone
			// may send without a key and of any length, is "OTHER".
			slog.String("method", methodLabel(r.Method)),
			slog.String("route", route),
			slog.Int("status", rw.status),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.Int("bytes", rw.bytes),
			slog.String("request_id", info.requestID),
		}
		if info.customerID != "" {
			attrs = append(attrs, slog.String("customer_id", info.customerID))
		}
		if info.errCode != "" {
			attrs = append(attrs, slog.String("code", info.errCode))
		}
		if info.cutOff {
			// The status is what was answered; the client, gone or
			// timed out, may not have received it.
			attrs = append(attrs, slog.Bool("cut_off", true))
		}
		if info.canceled {
			attrs = append(attrs, slog.Bool("canceled", true))
		}
		if info.largeRefused {
			attrs = append(attrs, slog.Bool("large_answer_refused", true))
		}
		// Straight to the handler: Logger.LogAttrs would also record the
		// caller's program counter, which nothing prints (1% of CPU).
		if h := s.logger.Handler(); h.Enabled(r.Context(), slog.LevelInfo) {
			rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
			rec.AddAttrs(attrs...)
			h.Handle(r.Context(), rec)
		}
		if s.Metrics != nil {
			status := strconv.Itoa(rw.status)
			if info.canceled {
				// Not a 500 to alert on: the request's context ended.
				status = "canceled"
			}
			s.Metrics.observe(route, r.Method, status, d)
		}
	})
}

// recoverer turns a panic into a logged stack and a 500 without internals.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("request_id", infoFrom(r).requestID),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if rw, ok := w.(*responseWriter); !ok || rw.status == 0 {
				s.writeError(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// authedHandler is a handler that runs for an authenticated customer.
type authedHandler func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer)

// authed authenticates the X-API-Key, counts the request against the
// customer's per-minute limit, sets the X-RateLimit-* headers, and runs h,
// a route that takes no query parameters: any is refused, naming it.
func (s *server) authed(h authedHandler) http.Handler { return s.authedRefusing(h, nil) }

// authedRefusing is authed with refused, when not nil, run on each refusal
// the wrapper itself makes of an authenticated caller (the per-minute
// limit, the limiter failing, a query string) before the error is written:
// license generation sets its X-Quota-* headers there, as on its own
// refusals (SPEC §4: every generation response carries them).
func (s *server) authedRefusing(h, refused authedHandler) http.Handler {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request, c *quantumlock.Customer) {
		// A route that takes no parameters refuses any, rather than
		// answer "?valid_days=5" as if it had been heard.
		if r.URL.RawQuery != "" {
			if _, err := query(r); err != nil {
				if refused != nil {
					refused(w, r, c)
				}
				s.writeError(w, r, err)
				return
			}
		}
		h(w, r, c)
	}, refused)
}

// authedWithQuery is authed for a handler that reads the query string
// itself, with query and the names it takes, or answers an unknown path.
func (s *server) authedWithQuery(h authedHandler) http.Handler { return s.authenticated(h, nil) }

// authenticated authenticates, counts and sets the X-RateLimit-* headers
// for authed and authedWithQuery, running refused (if not nil) before it
// refuses an authenticated caller.
func (s *server) authenticated(h, refused authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys := r.Header["X-Api-Key"]
		if len(keys) > 1 {
			// Which one a proxy in front of the service would read, for
			// its own checks or its log, is anyone's guess.
			s.writeError(w, r, quantumlock.Errorf(quantumlock.EUNAUTHORIZED, "Send one X-API-Key header, not %d.", len(keys)))
			return
		}
		var key string
		if len(keys) == 1 {
			key = keys[0]
		}
		c, err := s.Accounts.Authenticate(r.Context(), key)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		infoFrom(r).customerID = c.ID
		limit := c.Limits().RequestsPerMinute
		now := s.now()
		d, err := s.Limiter.Allow(r.Context(), "rpm:"+c.ID, limit, now)
		if err != nil {
			if refused != nil {
				refused(w, r, c)
			}
			s.writeError(w, r, err)
			return
		}
		// One backing array for the three values; each header gets a
		// slice of it with no room to grow into its neighbour.
		v := [...]string{strconv.FormatInt(d.Limit, 10), strconv.FormatInt(d.Remaining, 10), strconv.FormatInt(d.Reset.Unix(), 10)}
		vals := v[:]
		hd := w.Header()
		hd["X-Ratelimit-Limit"] = vals[0:1:1]
		hd["X-Ratelimit-Remaining"] = vals[1:2:2]
		hd["X-Ratelimit-Reset"] = vals[2:3:3]
		if !d.Allowed {
			if refused != nil {
				refused(w, r, c)
			}
			hd.Set("Retry-After", strconv.FormatInt(retryAfter(now, d.Reset), 10))
			s.writeError(w, r, quantumlock.Errorf(quantumlock.ERATELIMIT, "Rate limit exceeded (%d requests per minute).", limit))
			return
		}
		if strings.Contains(infoFrom(r).route, "{") {
			if allow, ok := s.literal[r.URL.Path]; ok {
				// A wildcard route matched a path another route names
				// (see server.literal): answered as that endpoint's
				// wrong method, and logged and counted as other 405s
				// are, not as the wildcard route's.
				infoFrom(r).route = ""
				s.methodNotAllowed(w, r, allow)
				return
			}
		}
		h(w, r, c)
	})
}

// retryAfter is the whole seconds from now until reset, at least 1.
func retryAfter(now, reset time.Time) int64 {
	return max(int64((reset.Sub(now)+time.Second-1)/time.Second), 1)
}
