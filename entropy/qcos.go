package entropy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/quantumlock/quantumlock"
)

// MaxFetch is the most bytes one request to the remote QRNG asks for: the
// ANU QRNG JSON API's limit on length (SPEC §7).
const MaxFetch = 1024

// maxAnswerHeaders bounds the response headers read from the remote (Go's
// default is 10 MiB): an answer needs a handful.
const maxAnswerHeaders = 16 << 10

// maxAnswer bounds the body read from the remote: 1024 numbers below 256
// with separators fit in well under 8 KiB; anything much larger is not an
// answer.
const maxAnswer = 64 << 10

// remote is the qcos_api source: a client of a remote QRNG speaking the ANU
// QRNG JSON API, and the bounded pool of tested bytes a background fetcher
// keeps filled so that draws never wait on the network.
type remote struct {
	base       *url.URL
	shownURL   string // base without credentials or query, for status
	apiKey     string
	client     *http.Client
	timeout    time.Duration
	fetchSize  int
	capacity   int
	backoffMin time.Duration
	backoffMax time.Duration
	perMinute  int // MaxRequestsPerMinute; 0: no bound
	mon        *monitor
	replays    replays // the fetcher's alone
	log        *slog.Logger
	now        func() time.Time

	need chan struct{} // wakes the fetcher when a draw took bytes or found too few

	mu          sync.Mutex
	buf         []byte        // tested bytes, each handed out once
	ready       chan struct{} // closed and replaced whenever bytes arrive
	running     bool
	short       bool          // a draw found too few bytes (see run)
	ok          bool          // the last request was answered
	latency     time.Duration // of the last successful fetch
	fetches     uint64
	failures    uint64 // failed fetches
	rejected    uint64 // answers whose bytes failed a health test or the replay guard
	consecutive int
	lastErr     string // why the last request failed
	lastErrAt   time.Time
	sent        []time.Time // when the requests of the last minute were sent, oldest first (kept only under a bound)
}

// fetchError is a failed fetch. Its text is safe to report to customers
// (quantum/health shows it): it never holds the API key, the configured
// URL's query, or what the network said of the remote's addresses; detail,
// for the operator's log only, may.
type fetchError struct {
	reason     string
	detail     string        // the transport's own error, when there is one
	retryAfter time.Duration // from a 429's Retry-After
}

func (e *fetchError) Error() string { return e.reason }

// answerError is an answer that is not one, with the decoder's own words
// for the log only.
type answerError struct{ reason, detail string }

func (e *answerError) Error() string { return e.reason }

// flexInt is the ANU answer's length, which some servers send as a number
// and others as a string.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		// Not quoted: quantum/health shows the reason to every customer,
		// and the remote's text is the remote's.
		return errors.New("answer length is not an integer")
	}
	*f = flexInt(n)
	return nil
}

// anuAnswer is the body of GET {url}?length=N&type=uint8.
type anuAnswer struct {
	Type    string   `json:"type"`
	Length  *flexInt `json:"length"`
	Data    []*int   `json:"data"` // a pointer each, so that null is told from 0
	Success *bool    `json:"success"`
}

// parseAnswer returns the n bytes of an ANU answer, or why it is not one.
func parseAnswer(body []byte, n int) ([]byte, error) {
	a, err := decodeAnswer(body)
	if err != nil {
		// encoding/json's reasons quote the answer's own values (a number
		// of any length), and quantum/health shows the reason to every
		// customer: the operator's log gets them (fetchError.detail).
		return nil, &answerError{"malformed answer", err.Error()}
	}
	switch {
	case a.Success == nil:
		return nil, errors.New("answer has no success field")
	case !*a.Success:
		return nil, errors.New("answer reports success: false")
	case a.Type != "uint8":
		return nil, errors.New("answer type is not uint8")
	case a.Length == nil || int(*a.Length) != n:
		return nil, fmt.Errorf("answer length does not match the %d bytes asked for", n)
	case len(a.Data) != n:
		return nil, fmt.Errorf("answer holds %d values, want %d", len(a.Data), n)
	}
	out := make([]byte, n)
	for i, v := range a.Data {
		switch {
		case v == nil:
			return nil, errors.New("answer value null is not a uint8")
		case *v < 0 || *v > 255:
			return nil, fmt.Errorf("answer value %d is not a uint8", *v)
		}
		out[i] = byte(*v)
	}
	return out, nil
}

// decodeAnswer reads an ANU answer, a JSON object, strictly: its members
// are matched by their exact names, and one named twice makes no answer.
// encoding/json alone matches names in any case and lets the last of two
// win, so that "success":false,"success":true would read as a success.
// Members of other names are skipped, as the API may add some.
func decodeAnswer(body []byte) (anuAnswer, error) {
	var a anuAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil {
		return a, err
	} else if t != json.Delim('{') {
		return a, errors.New("the answer is not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return a, err
		}
		name, _ := t.(string)
		var dst any
		switch name {
		case "type":
			dst = &a.Type
		case "length":
			dst = &a.Length
		case "data":
			dst = &a.Data
		case "success":
			dst = &a.Success
		default:
			dst = new(json.RawMessage)
		}
		if _, skip := dst.(*json.RawMessage); !skip {
			if seen[name] {
				return a, fmt.Errorf("the member %s appears twice", name)
			}
			seen[name] = true
		}
		if err := dec.Decode(dst); err != nil {
			return a, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return a, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return a, errors.New("data after the answer's object")
	}
	return a, nil
}

// fetch asks the remote for n bytes (1–MaxFetch) and returns them with the
// request's latency. A server that does not answer within r.timeout, body
// included, fails with a timeout: that is how a hung source is caught.
func (r *remote) fetch(ctx context.Context, n int) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	u := *r.base
	q := u.Query()
	q.Set("length", strconv.Itoa(n))
	q.Set("type", "uint8")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, &fetchError{reason: "cannot build request"}
	}
	if r.apiKey != "" {
		req.Header.Set("x-api-key", r.apiKey)
	}
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, transportError(ctx, err, r.timeout)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, 0, transportError(ctx, err, r.timeout)
	}
	latency := time.Since(start)
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return nil, 0, &fetchError{reason: "remote rejected the API key (HTTP 403)"}
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, 0, &fetchError{reason: "remote rate limit reached (HTTP 429)", retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode != http.StatusOK:
		return nil, 0, &fetchError{reason: fmt.Sprintf("remote answered HTTP %d", resp.StatusCode)}
	case len(body) > maxAnswer:
		return nil, 0, &fetchError{reason: "answer larger than any valid one"}
	}
	b, err := parseAnswer(bytes.TrimSpace(body), n)
	if err != nil {
		fe := &fetchError{reason: err.Error()}
		if ae := (*answerError)(nil); errors.As(err, &ae) {
			fe.detail = ae.detail
		}
		return nil, 0, fe
	}
	return b, latency, nil
}

// transportError describes a failed round trip by its kind only. The
// transport's own text names the address the remote's host resolved to,
// or the resolver that failed to resolve it, which the redacted URL in
// quantum/health keeps from customers; it goes to the log as detail,
// without the URL that net/http puts in its errors.
func transportError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &fetchError{reason: fmt.Sprintf("no answer within %v (source stuck or too slow)", timeout)}
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err
	}
	reason := "request failed"
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &dnsErr):
		reason = "request failed: host name not resolved"
	case errors.Is(err, errConnRefused):
		reason = "request failed: connection refused"
	case errors.Is(err, errConnReset), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		reason = "request failed: connection closed by the remote"
	case errors.As(err, &certErr), errors.As(err, &recErr):
		reason = "request failed: TLS handshake failed"
	case errors.As(err, &netErr) && netErr.Timeout():
		reason = "request failed: timed out"
	}
	return &fetchError{reason: reason, detail: err.Error()}
}

// retryAfter reads a Retry-After of delay-seconds. Past 2^31 seconds (68
// years) it is that much, which any BackoffMax caps, rather than a
// Duration that overflows.
func retryAfter(v string) time.Duration {
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
		return time.Duration(min(s, 1<<31)) * time.Second
	}
	return 0
}

// start marks the source running and returns the fetcher to run. Marking
// it before the goroutine starts lets a Draw right after Start wait for the
// first bytes instead of finding the source stopped.
func (r *remote) start() func(context.Context) {
	r.mu.Lock()
	r.running = true
	r.mu.Unlock()
	return r.run
}

// run keeps the pool filled until ctx ends, backing off exponentially after
// failures. It asks for a full FetchSize at a time, waiting until the pool
// has that much room: a rate-limited remote counts requests, not bytes, so
// topping up after every small draw would spend one request per draw. But
// once a draw that waits (one naming qcos_api) has found too few bytes
// (short), it fills whatever room there is: a spare-only draw never takes the pool below half, so with a
// FetchSize over half the pool, or a draw that needs more than the room
// the pool has left, waiting for a full FetchSize of room would have
// refused such draws for good. One top-up is enough: a full pool holds
// every draw take lets wait.
func (r *remote) run(ctx context.Context) {
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	batch := min(r.fetchSize, r.capacity)
	for ctx.Err() == nil {
		r.mu.Lock()
		room := r.capacity - len(r.buf)
		short := r.short
		hold := r.budgetWait(r.now())
		r.mu.Unlock()
		if room < batch && !(short && room > 0) {
			select {
			case <-ctx.Done():
			case <-r.need:
			}
			continue
		}
		if hold > 0 {
			// Over the request budget: wait for a request to leave the
			// minute, or for a draw that may have taken the pool into
			// its reserve, whose refills have a larger share.
			t := time.NewTimer(hold)
			select {
			case <-ctx.Done():
			case <-r.need:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		wait := r.fetchOnce(ctx, min(room, r.fetchSize))
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// fetchOnce makes one request, tests and stores what it brings, and returns
// how long to back off before the next (0 after a success).
func (r *remote) fetchOnce(ctx context.Context, n int) time.Duration {
	if r.perMinute > 0 {
		r.mu.Lock()
		r.sent = append(r.sent, r.now())
		r.mu.Unlock()
	}
	b, latency, err := r.fetch(ctx, n)
	if ctx.Err() != nil {
		return 0
	}
	var fail failure
	usable := false
	switch {
	case err != nil:
	default:
		// The health tests first, so that a stuck source is named by the
		// test made for it (a constant answer also repeats its blocks).
		usable, fail = r.mon.check(b)
		if fail == "" && r.replays.repeats(b) {
			usable, fail = false, r.mon.fault(failRepeat)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fetches++
	switch {
	case err != nil:
		r.ok = false
		r.failures++
		r.consecutive++
		r.lastErr, r.lastErrAt = err.Error(), r.now()
		args := []any{"reason", r.lastErr, "consecutive", r.consecutive}
		if fe := (*fetchError)(nil); errors.As(err, &fe) && fe.detail != "" {
			args = append(args, "detail", fe.detail)
		}
		r.log.Warn("qcos_api fetch failed", args...)
	case fail != "":
		// The source answered but its bytes failed a health test: whatever
		// is pooled came from the same source, so none of it is used.
		clear(r.buf)
		r.buf = nil
		r.ok, r.latency = true, latency
		r.rejected++
		r.consecutive++
		r.log.Warn("qcos_api failed a health test", "test", string(fail))
	default:
		r.ok, r.latency = true, latency
		r.consecutive = 0
		if usable {
			r.short = false
			r.buf = append(r.buf, b...)
			close(r.ready)
			r.ready = make(chan struct{})
		}
	}
	if r.consecutive == 0 {
		return 0
	}
	return r.backoff(err)
}

// backoff returns min·2^(k−1) for the k-th consecutive failure, capped at
// max, with jitter over its upper half so replicas sharing a QRNG spread
// out, and never less than a 429's Retry-After (itself capped at max).
// r.mu is held.
func (r *remote) backoff(err error) time.Duration {
	d := r.backoffMax
	// Shift only while min·2^k stays below max, so it cannot overflow.
	if k := r.consecutive - 1; k < 62 && r.backoffMin <= r.backoffMax>>k {
		d = r.backoffMin << k
	}
	if half := int64(d / 2); half > 0 {
		d = time.Duration(half + rand.Int64N(half+1))
	}
	var fe *fetchError
	if errors.As(err, &fe) {
		d = max(d, min(fe.retryAfter, r.backoffMax))
	}
	return d
}

// budgetWait returns how long the fetcher must wait, from now, before its
// next request keeps within perMinute requests in any 60 seconds: 0 if it
// may send one at once. A refill while the pool holds at least half its
// capacity only adds to the spare half, which customers' draws take, and
// may use perMinute/2 of the budget; one below half refills the reserve
// and may use all of it. r.mu is held.
func (r *remote) budgetWait(now time.Time) time.Duration {
	if r.perMinute <= 0 {
		return 0
	}
	gone := 0
	for gone < len(r.sent) && !r.sent[gone].After(now.Add(-time.Minute)) {
		gone++
	}
	r.sent = r.sent[gone:]
	limit := r.perMinute
	if len(r.buf) >= r.capacity/2 {
		limit /= 2
	}
	switch {
	case len(r.sent) < limit:
		return 0
	case limit == 0:
		// A budget of one request a minute has no share for the spare
		// half: only a draw into the reserve (which wakes the fetcher)
		// makes a refill due.
		return time.Minute
	}
	// The request that must leave the minute before another may go.
	return r.sent[len(r.sent)-limit].Add(time.Minute).Sub(now)
}

// usable reports whether pooled bytes may be handed out. r.mu is held.
func (r *remote) usable() bool {
	return r.running && r.ok && r.mon.isHealthy()
}

// take removes n bytes from the pool, waiting at most wait for the fetcher
// to bring them, as it may while the source starts up. It gives up at once
// on a source that is failing. A spareOnly take leaves at least half the
// pool's capacity in it (see SpareOnly). Its error is EUNAVAILABLE saying
// why, or ctx's.
func (r *remote) take(ctx context.Context, n int, wait time.Duration, spareOnly bool) ([]byte, error) {
	var timer <-chan time.Time
	keep := 0
	if spareOnly {
		keep = r.capacity / 2
	}
	for {
		r.mu.Lock()
		switch {
		// Stopped, or failing, or more than it may ever take: waiting
		// would only stall the caller.
		case !r.running || r.consecutive > 0:
			r.mu.Unlock()
			return nil, errRemoteDown
		case n > r.capacity-keep:
			r.mu.Unlock()
			return nil, quantumlock.Errorf(quantumlock.EUNAVAILABLE, "Entropy source qcos_api gives at most %d bytes at a call here; ask for fewer, or name no source.", r.capacity-keep)
		}
		if r.usable() && len(r.buf)-keep >= n {
			out := make([]byte, n)
			copy(out, r.buf)
			clear(r.buf[:n]) // a byte leaves the pool once
			r.buf = r.buf[n:]
			r.mu.Unlock()
			r.wake()
			return out, nil
		}
		// Too few bytes (or none usable yet). A draw that will wait for
		// them, or that found the pool itself short of them, tells the
		// fetcher, which fills what room there is (see run). One that
		// will not wait and was refused only by the reserve (an unnamed
		// spare-only draw, which falls back to cryptographic) must not
		// cost a request for bytes it will not take.
		if wait > 0 || len(r.buf) < n {
			r.short = true
		}
		ready := r.ready
		r.mu.Unlock()
		r.wake()
		if wait <= 0 {
			return nil, r.refusal()
		}
		if timer == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-ready:
		case <-timer:
			return nil, r.refusal()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// refusal says why a take found too few bytes: a healthy source that is
// only short of them (customers' draws took its spare half faster than
// the fetcher refills it) is not said to be failing.
func (r *remote) refusal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.usable() {
		return errRemoteShort
	}
	return errRemoteDown
}

// The refusals of a draw that names qcos_api.
var (
	errRemoteDown  = quantumlock.Errorf(quantumlock.EUNAVAILABLE, "Entropy source qcos_api is unavailable or failing its health tests.")
	errRemoteShort = quantumlock.Errorf(quantumlock.EUNAVAILABLE, "Entropy source qcos_api is healthy but has no tested bytes to spare right now; try again shortly, or name no source.")
)

func (r *remote) wake() {
	select {
	case r.need <- struct{}{}:
	default:
	}
}

// redactURL shows scheme, host and path only: a key placed in the query
// or user info never reaches a status report.
func redactURL(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return v.String()
}
