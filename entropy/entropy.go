// Package entropy is QuantumLock's randomness subsystem (SPEC §7): three
// sources, continuous health tests, a fidelity estimate, and conditioning
// with the OS CSPRNG.
//
// Sources, by the API reference's names:
//
//   - cryptographic: the OS CSPRNG (crypto/rand). Not quantum.
//   - qiskit_local: package qsim's state-vector simulation of a Hadamard on
//     each of n qubits, measured shot by shot with randomness from the OS
//     CSPRNG. Simulated, so not quantum.
//   - qcos_api: a remote quantum RNG speaking the ANU QRNG JSON API, read
//     into a bounded pool by a background fetcher. The only source whose
//     output is reported as quantum, and only while it passes its tests.
//
// Every source's raw output runs through the Repetition Count and Adaptive
// Proportion tests of NIST SP 800-90B §4.4 before use; a failing source is
// not used until it shows a clean run again. Its fidelity is the SP 800-90B
// §6.3.1 most-common-value min-entropy estimate per bit over its recent raw
// output. Output is SHAKE256 over the source's bytes and fresh OS CSPRNG
// bytes, so no source can make it weaker than crypto/rand alone.
package entropy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/qsim"
)

// Defaults for the zero fields of a Config.
const (
	DefaultQubits         = 16
	DefaultClaimedEntropy = 3.0
	DefaultRequestTimeout = 5 * time.Second
	DefaultPoolSize       = 16 << 10
	DefaultDrawWait       = 100 * time.Millisecond
	DefaultBackoffMin     = time.Second
	DefaultBackoffMax     = 5 * time.Minute
)

// MaxDraw is the most bytes one Draw returns.
const MaxDraw = 1 << 20

// Config configures a Pool. The zero value is valid: the cryptographic and
// qiskit_local sources, no remote QRNG.
type Config struct {
	// Qubits is the qiskit_local circuit width, 1–qsim.MaxQubits
	// (default 16).
	Qubits int

	// QRNGURL is the remote QRNG's endpoint (http or https), asked with
	// GET {QRNGURL}?length=N&type=uint8. Empty leaves qcos_api unconfigured
	// and so unavailable. QRNGAPIKey is sent as the x-api-key header.
	QRNGURL    string
	QRNGAPIKey string

	// HTTPClient makes the remote requests (default: a client of its own
	// that follows no redirects, so the API key goes nowhere else, and
	// reads at most 16 KiB of response headers; a client given here keeps
	// its own limits).
	HTTPClient *http.Client

	// RequestTimeout bounds one remote request, answer body included; a
	// source slower than this counts as failed, which is how a hung one is
	// caught (default 5 s).
	RequestTimeout time.Duration

	// FetchSize is how many bytes one request asks for, 1–MaxFetch
	// (default MaxFetch).
	FetchSize int

	// PoolSize is how many tested remote bytes are kept ready at most
	// (default 16 KiB); the fetcher refills it FetchSize bytes at a time
	// once that much is free. Each is handed out once.
	PoolSize int

	// DrawWait bounds how long a Draw that names qcos_api waits for the
	// pool to hold enough bytes (default 100 ms). A Draw that names no
	// source never waits: it falls back to cryptographic.
	DrawWait time.Duration

	// BackoffMin and BackoffMax bound the exponential back-off between
	// remote requests after failures (defaults 1 s and 5 min).
	BackoffMin time.Duration
	BackoffMax time.Duration

	// MaxRequestsPerMinute bounds the requests sent to the remote QRNG in
	// any 60 seconds, failed ones included (0, the default: no bound), so
	// that a remote with a request budget is not driven into refusing.
	// Refills of the spare half of the pool, the part customers' own draws
	// take from (SpareOnly), may use only half of it, rounded down; the
	// rest is kept for refilling the reserve, which the service's own
	// draws use.
	MaxRequestsPerMinute int

	// ClaimedEntropy is the min-entropy H, in bits per byte (0 < H ≤ 8),
	// that the health tests hold every source to (SP 800-90B §4.4). The
	// default, 3, gives cutoffs RCT 8 and APT 103 of 512: a stuck source
	// fails within 8 bytes and one whose commonest byte, of probability p,
	// passes about a fifth of its output fails after a few windows (a
	// window alarms only when it opens with that byte; docs/entropy.md),
	// while a sound source raises a false alarm about once per 2^56 bytes,
	// so an alarm means a fault. H = 8 (RCT cutoff 4) would alarm on a
	// perfect source about once per 2^24 bytes, as any run of four equal
	// bytes fails. The claim does not limit output strength: conditioning
	// takes at least as many source bytes as it returns, plus 32 OS bytes.
	ClaimedEntropy float64

	// Logger receives health and fetch failures (default: discarded).
	Logger *slog.Logger

	// Now is the clock for status timestamps (default time.Now).
	Now func() time.Time
}

// Pool is the quantumlock.Randomness of the running service: it draws from
// the configured sources, tests them, and conditions their output. It is
// safe for concurrent use. Start runs the remote fetcher; Close stops it.
type Pool struct {
	cfg    Config
	log    *slog.Logger
	crypto *localSource
	sim    *localSource
	qcos   *remote // nil when unconfigured

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var _ quantumlock.Randomness = (*Pool)(nil)

// New returns a Pool for cfg. It runs the start-up health tests of the
// local sources (SP 800-90B §4.3) before returning. The remote source
// stays unavailable until Start.
func New(cfg Config) (*Pool, error) {
	if cfg.Qubits == 0 {
		cfg.Qubits = DefaultQubits
	}
	if cfg.Qubits < 1 || cfg.Qubits > qsim.MaxQubits {
		return nil, fmt.Errorf("entropy: qubits %d out of range 1–%d", cfg.Qubits, qsim.MaxQubits)
	}
	if cfg.ClaimedEntropy == 0 {
		cfg.ClaimedEntropy = DefaultClaimedEntropy
	}
	if !(cfg.ClaimedEntropy > 0 && cfg.ClaimedEntropy <= 8) {
		return nil, fmt.Errorf("entropy: claimed entropy %v bits per byte out of range (0, 8]", cfg.ClaimedEntropy)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pool{cfg: cfg, log: cfg.Logger}

	p.crypto = &localSource{
		name: quantumlock.SourceCryptographic,
		read: func(b []byte) error { rand.Read(b); return nil },
		mon:  newMonitor(cfg.ClaimedEntropy, cfg.Now),
	}
	simRead, err := newSimulator(cfg.Qubits, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("entropy: %w", err)
	}
	qubits := cfg.Qubits
	p.sim = &localSource{
		name:   quantumlock.SourceQiskitLocal,
		read:   simRead,
		mon:    newMonitor(cfg.ClaimedEntropy, cfg.Now),
		qubits: &qubits,
	}
	for _, s := range []*localSource{p.crypto, p.sim} {
		if err := s.probe(); err != nil {
			return nil, fmt.Errorf("entropy: start-up test of %s: %w", s.name, err)
		}
	}

	if cfg.QRNGURL != "" {
		r, err := newRemote(cfg)
		if err != nil {
			return nil, err
		}
		p.qcos = r
	}
	return p, nil
}

// loopbackHost reports whether host names this machine: localhost or a
// loopback address, where plain http is what a local proxy or test double
// speaks, and no network lies between.
func loopbackHost(host string) bool {
	if host == "localhost" {
		// Lower case only: Go's HTTP client passes "LOCALHOST" to a
		// proxy set in the environment, API key and all, and keeps only
		// "localhost" and loopback addresses to itself.
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newRemote(cfg Config) (*remote, error) {
	u, err := url.Parse(cfg.QRNGURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("entropy: QRNG URL must be an absolute https URL")
	}
	// url.Parse takes any digits for a port; a port no request can use
	// would fail every fetch after serve had started.
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("entropy: QRNG URL's port %s is not a port (1-65535)", port)
		}
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		// SPEC §7: over HTTPS. Over plain http the API key crosses the
		// network in clear, and anyone on the way could supply bytes the
		// service would call quantum.
		return nil, errors.New("entropy: QRNG URL must be https (plain http only to this machine: localhost, 127.0.0.0/8, ::1)")
	}
	r := &remote{
		base:       u,
		shownURL:   redactURL(u),
		apiKey:     cfg.QRNGAPIKey,
		client:     cfg.HTTPClient,
		timeout:    cfg.RequestTimeout,
		fetchSize:  cfg.FetchSize,
		capacity:   cfg.PoolSize,
		backoffMin: cfg.BackoffMin,
		backoffMax: cfg.BackoffMax,
		perMinute:  cfg.MaxRequestsPerMinute,
		mon:        newMonitor(cfg.ClaimedEntropy, cfg.Now),
		log:        cfg.Logger,
		now:        cfg.Now,
		need:       make(chan struct{}, 1),
		ready:      make(chan struct{}),
	}
	if r.client == nil {
		// A QRNG API has no reason to redirect, and following one would
		// send the x-api-key header (which Go's client does not strip) to
		// wherever it points: a redirect is a failed request.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxResponseHeaderBytes = maxAnswerHeaders
		r.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if r.timeout <= 0 {
		r.timeout = DefaultRequestTimeout
	}
	if r.fetchSize == 0 {
		r.fetchSize = MaxFetch
	}
	if r.fetchSize < 1 || r.fetchSize > MaxFetch {
		return nil, fmt.Errorf("entropy: fetch size %d out of range 1–%d", r.fetchSize, MaxFetch)
	}
	if r.capacity <= 0 {
		r.capacity = DefaultPoolSize
	}
	if r.perMinute < 0 {
		return nil, fmt.Errorf("entropy: requests per minute %d is negative", r.perMinute)
	}
	if r.backoffMin <= 0 {
		r.backoffMin = DefaultBackoffMin
	}
	if r.backoffMax <= 0 {
		r.backoffMax = DefaultBackoffMax
	}
	r.backoffMax = max(r.backoffMax, r.backoffMin)
	return r, nil
}

// Start runs the background work until ctx ends or Close is called: the
// remote fetcher, if a QRNG is configured, and one window of raw output
// from each local source so that their fidelity is known early. It returns
// an error if the Pool was started or closed before.
func (p *Pool) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return errors.New("entropy: pool already started or closed")
	}
	p.started = true
	ctx, p.cancel = context.WithCancel(ctx)
	if p.qcos != nil {
		run := p.qcos.start()
		p.wg.Go(func() { run(ctx) })
	}
	p.wg.Go(func() {
		for _, s := range []*localSource{p.crypto, p.sim} {
			b := make([]byte, 4096)
			for range FidelityWindowBits / 8 / len(b) {
				if ctx.Err() != nil || s.read(b) != nil {
					return
				}
				s.mon.check(b)
			}
		}
	})
	return nil
}

// Close stops the background work and waits for it to end. Draws from local
// sources keep working; qcos_api becomes unavailable.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	cancel := p.cancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.wg.Wait()
	return nil
}

// Draw returns n conditioned bytes (0 ≤ n ≤ MaxDraw). An empty source
// takes qcos_api when it is healthy and has n bytes pooled, cryptographic
// otherwise; qiskit_local is used only when named, as it is a simulator.
// A named source that does not exist returns EINVALID; one that is
// unconfigured, failing or unhealthy returns EUNAVAILABLE.
//
// The result reports QuantumVerified only for qcos_api bytes, which are
// handed out only while that source passes its health tests.
func (p *Pool) Draw(ctx context.Context, n int, source string) (*quantumlock.Entropy, error) {
	if n < 0 || n > MaxDraw {
		return nil, quantumlock.Errorf(quantumlock.EINVALID, "Entropy length %d is out of range 0–%d bytes.", n, MaxDraw)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	spare := spareOnly(ctx)
	switch source {
	case "":
		// No bytes, no quantum claim: an empty draw is cryptographic's.
		if p.qcos != nil && n > 0 {
			if raw, err := p.qcos.take(ctx, n, 0, spare); err == nil {
				return p.remoteEntropy(raw, n), nil
			}
		}
		return p.drawLocal(p.crypto, n)
	case quantumlock.SourceCryptographic:
		return p.drawLocal(p.crypto, n)
	case quantumlock.SourceQiskitLocal:
		return p.drawLocal(p.sim, n)
	case quantumlock.SourceQCOSAPI:
		if p.qcos == nil {
			return nil, quantumlock.Errorf(quantumlock.EUNAVAILABLE, "Entropy source qcos_api is not configured.")
		}
		raw, err := p.qcos.take(ctx, n, p.cfg.drawWait(), spare)
		if err != nil {
			return nil, err
		}
		return p.remoteEntropy(raw, n), nil
	default:
		return nil, quantumlock.Errorf(quantumlock.EINVALID, "Unknown entropy source %q.", source)
	}
}

// spareKey marks a context made by SpareOnly.
type spareKey struct{}

// SpareOnly returns a context under which Draw takes from the qcos_api
// pool only what leaves at least half of its capacity there; what it
// cannot take comes from cryptographic (an unnamed source) or is
// EUNAVAILABLE (qcos_api named). The API's entropy endpoint draws under
// it: its draws are the large ones (up to MaxDraw bytes at a call) and at
// a customer's asking, so without the reserve one customer could keep the
// pool empty, and every other customer's license keys and key material,
// a few dozen bytes each, would fall back to cryptographic.
func SpareOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, spareKey{}, true)
}

func spareOnly(ctx context.Context) bool {
	v, _ := ctx.Value(spareKey{}).(bool)
	return v
}

func (c Config) drawWait() time.Duration {
	if c.DrawWait <= 0 {
		return DefaultDrawWait
	}
	return c.DrawWait
}

func (p *Pool) drawLocal(s *localSource, n int) (*quantumlock.Entropy, error) {
	raw, err := s.raw(n)
	if err != nil {
		p.log.Warn("entropy source unusable", "source", s.name, "reason", err.Error())
		return nil, quantumlock.Errorf(quantumlock.EUNAVAILABLE, "Entropy source %s is failing its health tests.", s.name)
	}
	return &quantumlock.Entropy{
		Bytes:    conditioned(s.name, raw, n),
		Source:   s.name,
		Fidelity: s.mon.fidelity(),
		Qubits:   copyInt(s.qubits),
	}, nil
}

func (p *Pool) remoteEntropy(raw []byte, n int) *quantumlock.Entropy {
	// The ANU format reports no qubit count, so Qubits stays nil.
	return &quantumlock.Entropy{
		Bytes:  conditioned(quantumlock.SourceQCOSAPI, raw, n),
		Source: quantumlock.SourceQCOSAPI,
		// Nothing is claimed for no bytes (qcos_api named, n = 0).
		QuantumVerified: n > 0,
		Fidelity:        p.qcos.mon.fidelity(),
	}
}

// conditioned returns the n output bytes of source's raw bytes and OSBytes
// fresh bytes of the OS CSPRNG (see condition), and clears raw.
func conditioned(source string, raw []byte, n int) []byte {
	out := make([]byte, n)
	var osb [OSBytes]byte
	rand.Read(osb[:])
	condition(out, source, raw, osb[:])
	clear(raw)
	return out
}

func copyInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// SourceStatus is one source's state for GET /api/v1/quantum/health.
type SourceStatus struct {
	Name string // one of the quantumlock.Source* names

	// Available reports whether a Draw naming this source can succeed now:
	// always for the local sources while healthy; for qcos_api, configured,
	// running, its last request answered and its tests passing.
	Available bool
	// Healthy reports whether the source's raw output is passing the
	// SP 800-90B §4.4 tests (false while it starts up or recovers).
	Healthy bool
	// Quantum reports whether the source is a quantum process: true only
	// for qcos_api. The simulator and the OS are not.
	Quantum bool

	// Fidelity is the SP 800-90B §6.3.1 most-common-value min-entropy per
	// bit of the last FidelityWindowBits raw bits, in [0, 1]; nil until
	// that many have been seen.
	Fidelity *float64
	// Qubits is the circuit width for qiskit_local; nil otherwise, as the
	// ANU format reports none.
	Qubits *int
	// Simulator names the qiskit_local backend (SimulatorName).
	Simulator string

	// URL is the remote's endpoint without query or credentials, and
	// LatencyMS the duration of its last successful request in whole
	// milliseconds, rounded (nil before one): an integer, as the API
	// reference shows it. PoolBytes is how many tested bytes wait to be
	// used. qcos_api only.
	URL       string
	LatencyMS *int64
	PoolBytes int

	// SamplesTested counts raw bytes run through the health tests;
	// RCTFailures and APTFailures count the tests' alarms, and
	// ReplayFailures the remote's answers that repeated bytes it had sent
	// before (qcos_api only; see replays).
	SamplesTested  uint64
	RCTFailures    uint64
	APTFailures    uint64
	ReplayFailures uint64
	// Requests counts remote requests (qcos_api only): RequestFailures
	// those that brought no answer, AnswersRejected those whose answer
	// failed a health test or the replay guard.
	Requests        uint64
	RequestFailures uint64
	AnswersRejected uint64
	// LastError says why the source last failed, LastErrorAt when; empty
	// if it never has. It never holds the API key.
	LastError   string
	LastErrorAt time.Time
}

// Status reports every source, in the API reference's order: qcos_api,
// qiskit_local, cryptographic. The HTTP layer builds the health body from
// it; its test_result comes from a Draw of 8 bytes with no source named.
func (p *Pool) Status() []SourceStatus {
	st := []SourceStatus{p.remoteStatus(), p.localStatus(p.sim), p.localStatus(p.crypto)}
	st[1].Simulator = SimulatorName
	return st
}

// Available reports whether any source can serve a Draw: the service's
// top-level "available". The OS CSPRNG normally makes it true.
func (p *Pool) Available() bool {
	for _, s := range p.Status() {
		if s.Available {
			return true
		}
	}
	return false
}

func (m *monitor) fill(s *SourceStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.Healthy = m.healthy
	s.Fidelity = m.mcv.estimate()
	s.SamplesTested = m.ht.tested
	s.RCTFailures = m.ht.rctFails
	s.APTFailures = m.ht.aptFails
	s.ReplayFailures = m.replays
	s.LastError, s.LastErrorAt = m.lastFail, m.lastFailT
}

func (p *Pool) localStatus(s *localSource) SourceStatus {
	st := SourceStatus{Name: s.name, Qubits: copyInt(s.qubits)}
	s.mon.fill(&st)
	st.Available = st.Healthy
	return st
}

func (p *Pool) remoteStatus() SourceStatus {
	st := SourceStatus{Name: quantumlock.SourceQCOSAPI, Quantum: true}
	r := p.qcos
	if r == nil {
		st.LastError = "not configured"
		return st
	}
	r.mon.fill(&st)
	r.mu.Lock()
	defer r.mu.Unlock()
	st.URL = r.shownURL
	st.Available = r.usable()
	st.PoolBytes = len(r.buf)
	st.Requests, st.RequestFailures, st.AnswersRejected = r.fetches, r.failures, r.rejected
	if r.latency > 0 {
		ms := int64((r.latency + time.Millisecond/2) / time.Millisecond)
		st.LatencyMS = &ms
	}
	if r.lastErr != "" && !r.lastErrAt.Before(st.LastErrorAt) {
		st.LastError, st.LastErrorAt = r.lastErr, r.lastErrAt
	}
	return st
}
