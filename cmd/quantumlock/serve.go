package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/account"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/httpapi"
	"github.com/quantumlock/quantumlock/internal/connlimit"
	"github.com/quantumlock/quantumlock/internal/logwriter"
	"github.com/quantumlock/quantumlock/keyring"
	"github.com/quantumlock/quantumlock/license"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/qsim"
	"github.com/quantumlock/quantumlock/ratelimit"
	"github.com/quantumlock/quantumlock/sqlite"
)

// DefaultMaxConnections bounds the client connections serve holds open.
// A connection that is sending its headers holds about three times
// maxHeaderBytes until ReadHeaderTimeout (48 KiB, docs/benchmarks.md), and
// nothing else bounds how many a client may open: without a cap, 8,000
// slow connections took the server past 1.5 GB. Connections past the
// cap are not refused; they wait in the kernel's accept queue until one
// closes. Behind a proxy that pools its connections a few hundred are
// plenty; facing many clients directly, raise it.
const DefaultMaxConnections = 4096

// maxHeaderBytes bounds a request's header block. The API's own headers
// are well under 1 KiB; 16 KiB leaves room for a proxy's additions.
const maxHeaderBytes = 16 << 10

// serverMaxHeaderBytes is what http.Server.MaxHeaderBytes must be for
// maxHeaderBytes to hold: net/http reads 4 KiB past it (its request line
// and slack) before it answers 431.
const serverMaxHeaderBytes = maxHeaderBytes - 4<<10

// serveConfig is the serve command's configuration.
type serveConfig struct {
	addr, db, masterKeyFile, metricsAddr, logLevel string
	dev                                            bool
	shutdownTimeout                                time.Duration
	qrngURL, qrngAPIKey                            string
	qrngTimeout                                    time.Duration
	qrngPerMinute                                  int
	qubits                                         int
	maxConnections, maxKeys                        int
}

// The store /health reports on: a store that stopped telling of its failed
// writes would leave /health "ok" on a full disk without any test failing.
var _ httpapi.WriteFailer = (*sqlite.DB)(nil)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to serve the API on")
	fs.StringVar(&cfg.db, "db", "quantumlock.db", "SQLite database file")
	fs.StringVar(&cfg.masterKeyFile, "master-key-file", "", "file holding the base64 master key (or set QUANTUMLOCK_MASTER_KEY)")
	fs.BoolVar(&cfg.dev, "dev", false, "development mode: create a master key file and a demo customer if missing")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "address to serve Prometheus metrics on (off when empty)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to wait for in-flight requests on shutdown")
	fs.StringVar(&cfg.qrngURL, "qrng-url", "", "remote QRNG speaking the ANU QRNG JSON API (the qcos_api source; off when empty)")
	fs.StringVar(&cfg.qrngAPIKey, "qrng-api-key", "", "API key sent to the remote QRNG as x-api-key")
	fs.DurationVar(&cfg.qrngTimeout, "qrng-timeout", entropy.DefaultRequestTimeout, "timeout of one request to the remote QRNG")
	fs.IntVar(&cfg.qrngPerMinute, "qrng-max-requests-per-minute", 0, "most requests sent to the remote QRNG in any minute, half of them at most for refilling what customers' entropy calls took (0: no bound)")
	fs.IntVar(&cfg.qubits, "qubits", entropy.DefaultQubits, "circuit width of the qiskit_local simulator (1-20)")
	fs.IntVar(&cfg.maxConnections, "max-connections", DefaultMaxConnections, "most client connections the API holds open at once; more wait until one closes, and a keep-alive connection idle for a second is closed to make room")
	fs.IntVar(&cfg.maxKeys, "max-keys", keyring.DefaultMaxKeys, "most managed keys one customer may have")
	pos, given, err := parseFlagsGiven(fs, args, getenv)
	if err != nil {
		return err
	} else if err := noArguments(fs, pos); err != nil {
		return err
	}
	name := func(flag string) string { return settingName(given, getenv, flag) }
	if cfg.qubits < 1 || cfg.qubits > qsim.MaxQubits {
		return fmt.Errorf("%s must be 1-%d, got %d", name("qubits"), qsim.MaxQubits, cfg.qubits)
	}
	if cfg.shutdownTimeout < 0 {
		return fmt.Errorf("%s must be 0 or more, got %v", name("shutdown-timeout"), cfg.shutdownTimeout)
	}
	if cfg.qrngTimeout <= 0 {
		return fmt.Errorf("%s must be more than 0, got %v", name("qrng-timeout"), cfg.qrngTimeout)
	}
	if cfg.qrngPerMinute < 0 {
		return fmt.Errorf("%s must be 0 (no bound) or more, got %d", name("qrng-max-requests-per-minute"), cfg.qrngPerMinute)
	}
	if cfg.maxConnections < 1 {
		return fmt.Errorf("%s must be at least 1, got %d", name("max-connections"), cfg.maxConnections)
	}
	if cfg.maxKeys < 1 {
		return fmt.Errorf("%s must be at least 1, got %d", name("max-keys"), cfg.maxKeys)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("%s: %w", name("log-level"), err)
	}
	// Log lines reach stderr from one goroutine, many per write under load
	// (logwriter); Close, deferred first so it runs last, writes out the
	// rest.
	logOut := logwriter.New(stderr)
	defer logOut.Close()
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	// A second signal ends the process without the deferred Close: the
	// log says so first and is written out, within a second.
	forced := func(s os.Signal) {
		logger.Warn("second signal: stopping at once; requests in flight are cut off", "signal", s.String())
		closed := make(chan struct{})
		go func() { logOut.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(time.Second):
		}
	}
	forcedExit.Store(&forced)
	defer forcedExit.Store(nil)
	// Once the log is JSON lines, the reason serve stops on is one too
	// (main also prints it as text), so that a log pipeline that reads
	// JSON keeps the line that says why a server exited.
	defer func() {
		if err != nil {
			logger.Error("serve stopped on an error", "error", oneLine(err.Error()))
		}
	}()
	if getenv("GOGC") == "" {
		// A request leaves ~11 KB of short-lived garbage. When this was
		// set the live heap was near 20 MiB and the collector took about
		// a sixth of the CPU under load (pprof); 400 traded ~12 MiB of
		// resident memory for a quarter of those collections. Since the
		// point readers the live heap is about 1 MiB, so the heap goal
		// sits at its floor (4 MiB × 400%): about ten collections a
		// second under validate load. A floor four times higher (GOGC
		// 1600 with a memory limit) cost 48 MiB of RSS and changed
		// neither throughput nor p99 (docs/benchmarks.md). GOGC still
		// overrides it.
		debug.SetGCPercent(400)
	}

	// A master key given is checked before the database is touched; one
	// that --dev would create is made only once the database has opened,
	// so that a --db that is no database leaves no new key file behind.
	devKey := cfg.masterKeyFile == "" && getenv("QUANTUMLOCK_MASTER_KEY") == "" && cfg.dev
	var mk *masterkey.Key
	if devKey {
		if devKeyPath(cfg.db) == cfg.db {
			return fmt.Errorf("--db %s: --dev keeps its master key in a .masterkey file beside the database; name the database otherwise", cfg.db)
		}
	} else if mk, err = loadMasterKeyUntil(ctx, cfg, getenv, logger); err != nil {
		return err
	}
	// So is the rest of the configuration that can be wrong (the entropy
	// sources', the QRNG URL among them) and the addresses, which are
	// taken now: a flag mistyped must leave no new database behind, bound
	// to whatever master key came with it. Until Serve, connections wait
	// in the listen queue.
	pool, err := entropy.New(entropy.Config{
		Qubits: cfg.qubits, QRNGURL: cfg.qrngURL, QRNGAPIKey: cfg.qrngAPIKey,
		RequestTimeout: cfg.qrngTimeout, MaxRequestsPerMinute: cfg.qrngPerMinute, Logger: logger,
	})
	if err != nil {
		return err // entropy's errors name it
	}
	defer pool.Close()
	var ml net.Listener
	if cfg.metricsAddr != "" {
		if ml, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			return fmt.Errorf("%s: %w", name("metrics-addr"), err)
		}
		defer ml.Close() // the metrics server closes it too
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		// The operator listener, opened first, may hold the port: then
		// the API's address can be had once it lets go.
		if ml != nil && samePort(cfg.addr, ml.Addr()) {
			ml.Close()
			if again, err2 := net.Listen("tcp", cfg.addr); err2 == nil {
				again.Close()
				return fmt.Errorf("%s and %s name the same port; give each its own: %w", name("addr"), name("metrics-addr"), err)
			}
		}
		return fmt.Errorf("%s: %w", name("addr"), err)
	}
	defer ln.Close() // Serve closes it too; this covers the returns before Serve

	db, err := sqlite.Open(ctx, cfg.db)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.ClaimServing(); err != nil {
		return fmt.Errorf("%s: %w", cfg.db, err)
	}
	if devKey {
		// A database already bound to a master key, with no key file
		// beside it, was made under a key given otherwise: a new key
		// file could only fail to match, and would fail every later
		// --dev run the same way. So none is made. (Nothing is ever
		// removed: another --dev server may be using a key file made at
		// the same path, which q.db and q.sqlite share.)
		if _, statErr := os.Stat(devKeyPath(cfg.db)); errors.Is(statErr, os.ErrNotExist) {
			if bound, err := db.BoundMasterKey(ctx); err != nil {
				return err
			} else if bound != "" {
				return fmt.Errorf("%s: made under a master key --dev has no file for (%s); pass the database's key with --master-key-file or QUANTUMLOCK_MASTER_KEY", cfg.db, devKeyPath(cfg.db))
			}
		}
		if mk, err = loadMasterKey(cfg, getenv, logger); err != nil {
			return err
		}
	}
	if err := db.BindMasterKey(ctx, mk.Fingerprint()); err != nil {
		return fmt.Errorf("%s: %s", cfg.db, cliMessage(err))
	}

	// The pool's background work outlives the request context but not the
	// server: it stops when serve returns (pool.Close, deferred above).
	if err := pool.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	var rnd quantumlock.Randomness = pool
	now := quantumlock.SystemClock
	accounts := &account.Service{Customers: db, Keys: db, Rand: rnd, Now: now}
	licenses := &license.Service{Store: db, Rand: rnd, Now: now, Secret: license.Secrets(mk)}
	keys, err := keyring.New(keyring.Config{Keys: db, Nonces: db, Exchanges: db, Randomness: rnd, MasterKey: mk, Clock: now, MaxKeys: cfg.maxKeys})
	if err != nil {
		return err
	}

	deps := httpapi.Deps{
		Logger: logger, Accounts: accounts, Licenses: licenses, Entropy: pool, Keyring: keys,
		Limiter: ratelimit.NewMemory(), Store: db, Now: now,
	}
	var metricsSrv *http.Server
	if cfg.metricsAddr != "" {
		deps.Metrics = httpapi.NewMetrics()
		registerStoreMetrics(deps.Metrics.Registry(), db)
		deps.Metrics.Registry().MustRegister(entropyCollector{pool})
		// Operator-only, but bounded all the same. The write timeout
		// leaves room for a CPU profile's default 30 s.
		metricsSrv = &http.Server{Handler: opsHandler(deps.Metrics), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: serverMaxHeaderBytes}
		go metricsSrv.Serve(ml)
		defer metricsSrv.Close()
		logger.Info("serving metrics", "addr", ml.Addr().String())
		if !loopback(ml.Addr()) {
			logger.Warn("the operator listener (metrics and the profiler) is not on loopback; keep it off public networks", "addr", ml.Addr().String())
		}
	}

	// At the bound, a connection idle between requests for a second is
	// closed to make room (internal/connlimit).
	limited := connlimit.New(ln, cfg.maxConnections)
	if deps.Metrics != nil {
		registerConnMetrics(deps.Metrics.Registry(), limited)
	}
	// The demo customer is made once the address is ours: its key is
	// printed only once, on an empty database, and a start that then
	// failed to listen would have shown it to no one who could use it.
	if cfg.dev {
		logger.Warn("dev mode is on: do not use this configuration in production")
		if err := ensureDemoCustomer(ctx, db, accounts, stdout); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           httpapi.NewServer(deps),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    serverMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState:         limited.ConnState,
		// "OPTIONS *" goes to the API like any request (a 404 with the
		// error body and X-Request-ID), not to net/http's bare 200.
		DisableGeneralOptionsHandler: true,
	}
	// A kept-alive connection that has sent the start of its next request
	// gets no longer than the server's own header timeout for the rest.
	limited.HeaderTimeout = srv.ReadHeaderTimeout
	logger.Info("listening", "addr", ln.Addr().String(), "db", cfg.db, "version", quantumlock.Version)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(limited) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown did not finish in time; closing connections", "error", err.Error())
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// registerStoreMetrics exports the authentication cache's hit and miss
// counts (see sqlite.DB.AuthCacheStats), so an operator can see that the
// cache is on and how often commits end its answers.
func registerStoreMetrics(reg prometheus.Registerer, db *sqlite.DB) {
	for _, result := range []string{"hit", "miss"} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "quantumlock_auth_cache_lookups_total",
			Help:        "API key lookups answered from the authentication cache (hit) or from the database while the cache was on (miss).",
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 {
			hits, misses, _ := db.AuthCacheStats()
			if result == "hit" {
				return float64(hits)
			}
			return float64(misses)
		}))
	}
}

// entropyCollector exports the entropy sources' activity counters, which
// GET /api/v1/quantum/health leaves out because every customer's draws
// move them: read at each scrape from Pool.Status.
type entropyCollector struct{ pool *entropy.Pool }

var (
	entropyTestedDesc = prometheus.NewDesc("quantumlock_entropy_bytes_tested_total",
		"Raw bytes a source has run through its health tests.", []string{"source"}, nil)
	entropyPooledDesc = prometheus.NewDesc("quantumlock_entropy_pool_bytes",
		"Tested bytes from the remote QRNG waiting to be used.", []string{"source"}, nil)
	entropyAlarmsDesc = prometheus.NewDesc("quantumlock_entropy_health_failures_total",
		"Health test alarms by source and test: rct, apt, and replay (qcos_api's answers that repeated bytes it had sent before).", []string{"source", "test"}, nil)
	qrngRequestsDesc = prometheus.NewDesc("quantumlock_qrng_requests_total",
		"Requests to the remote QRNG, by result: ok (an answer that passed the tests: pooled, or spent on the start-up test), failed (no answer), rejected (an answer that failed a health test or the replay guard).", []string{"result"}, nil)
)

// Describe implements prometheus.Collector.
func (entropyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- entropyTestedDesc
	ch <- entropyPooledDesc
	ch <- entropyAlarmsDesc
	ch <- qrngRequestsDesc
}

// Collect implements prometheus.Collector.
func (c entropyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.pool.Status() {
		ch <- prometheus.MustNewConstMetric(entropyTestedDesc, prometheus.CounterValue, float64(st.SamplesTested), st.Name)
		ch <- prometheus.MustNewConstMetric(entropyAlarmsDesc, prometheus.CounterValue, float64(st.RCTFailures), st.Name, "rct")
		ch <- prometheus.MustNewConstMetric(entropyAlarmsDesc, prometheus.CounterValue, float64(st.APTFailures), st.Name, "apt")
		if st.Name == quantumlock.SourceQCOSAPI {
			ch <- prometheus.MustNewConstMetric(entropyAlarmsDesc, prometheus.CounterValue, float64(st.ReplayFailures), st.Name, "replay")
			ch <- prometheus.MustNewConstMetric(entropyPooledDesc, prometheus.GaugeValue, float64(st.PoolBytes), st.Name)
			ch <- prometheus.MustNewConstMetric(qrngRequestsDesc, prometheus.CounterValue, float64(st.Requests-st.RequestFailures-st.AnswersRejected), "ok")
			ch <- prometheus.MustNewConstMetric(qrngRequestsDesc, prometheus.CounterValue, float64(st.RequestFailures), "failed")
			ch <- prometheus.MustNewConstMetric(qrngRequestsDesc, prometheus.CounterValue, float64(st.AnswersRejected), "rejected")
		}
	}
}

// registerConnMetrics exports how many client connections the API holds
// open and how many idle ones it has closed to make room, so an operator
// can see --max-connections being reached.
func registerConnMetrics(reg prometheus.Registerer, l *connlimit.Listener) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "quantumlock_connections_open",
		Help: "Client connections the API holds open (at most --max-connections).",
	}, func() float64 { return float64(l.Open()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "quantumlock_connections_reclaimed_total",
		Help: "Idle keep-alive connections closed to make room at --max-connections.",
	}, func() float64 { return float64(l.Reclaimed()) }))
}

// opsHandler serves the operator-only listener: Prometheus metrics at
// /metrics and the Go profiler at /debug/pprof/. It is off unless
// --metrics-addr is set, and must not be reachable from outside. The
// profiler's cmdline page is left out: the command line may hold
// --qrng-api-key.
func opsHandler(m *httpapi.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// loadMasterKeyUntil is loadMasterKey, given up when ctx ends: a key file
// that is a pipe can keep its reader waiting (a key without a newline from
// a pipe left open), and SIGINT must still stop serve before it opens, let
// alone makes, the database. The abandoned read ends with the process.
func loadMasterKeyUntil(ctx context.Context, cfg serveConfig, getenv func(string) string, logger *slog.Logger) (*masterkey.Key, error) {
	type loaded struct {
		k   *masterkey.Key
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		k, err := loadMasterKey(cfg, getenv, logger)
		done <- loaded{k, err}
	}()
	select {
	case l := <-done:
		return l.k, l.err
	case <-ctx.Done():
		return nil, fmt.Errorf("stopped while reading the master key: %w", context.Cause(ctx))
	}
}

// loadMasterKey finds the master key: --master-key-file, then
// QUANTUMLOCK_MASTER_KEY, then in dev mode a key file beside the database,
// created if missing.
func loadMasterKey(cfg serveConfig, getenv func(string) string, logger *slog.Logger) (*masterkey.Key, error) {
	switch {
	case cfg.masterKeyFile != "":
		k, err := masterkey.Load(cfg.masterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--master-key-file: %w", err)
		}
		warnExposedKeyFile(logger, cfg.masterKeyFile)
		return k, nil
	case getenv("QUANTUMLOCK_MASTER_KEY") != "":
		k, err := masterkey.Parse(getenv("QUANTUMLOCK_MASTER_KEY"))
		if err != nil {
			return nil, fmt.Errorf("QUANTUMLOCK_MASTER_KEY: %w", err)
		}
		return k, nil
	case cfg.dev:
		path := devKeyPath(cfg.db)
		k, created, err := masterkey.LoadOrCreate(path)
		if err != nil {
			return nil, err
		}
		if created {
			logger.Warn("created a new master key file", "path", path)
		} else {
			warnExposedKeyFile(logger, path)
		}
		return k, nil
	default:
		return nil, errors.New("no master key: pass --master-key-file FILE or set QUANTUMLOCK_MASTER_KEY to 32 base64-encoded random bytes (e.g. `head -c32 /dev/urandom | base64`), or use --dev for a first try")
	}
}

// loopback reports whether a is a loopback address: one only this machine
// reaches. An unspecified address (0.0.0.0, ::) listens on every interface.
func loopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// warnExposedKeyFile logs a warning when the master key file at path is
// open to its group or to others. It warns rather than refuses: a key
// mounted from a secret store (a Kubernetes secret volume, say) is often
// 0644 by default, where the mount itself is what keeps it private. On
// Windows file modes say nothing of access, and nothing is checked.
func warnExposedKeyFile(logger *slog.Logger, path string) {
	if runtime.GOOS == "windows" {
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the master key file is open to its group or others; chmod 600 it",
			"path", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
}

// devKeyPath is where --dev keeps the master key of the database at db:
// beside it, its extension replaced by .masterkey.
func devKeyPath(db string) string {
	return strings.TrimSuffix(db, filepath.Ext(db)) + ".masterkey"
}

// ensureDemoCustomer creates the demo customer on an empty database and
// prints its API key once.
func ensureDemoCustomer(ctx context.Context, db quantumlock.CustomerStore, accounts *account.Service, stdout io.Writer) error {
	cs, err := db.Customers(ctx)
	if err != nil || len(cs) > 0 {
		return err
	}
	c := &quantumlock.Customer{Name: "Demo Vendor", Email: "demo@example.com", Plan: quantumlock.PlanEnterprise}
	secret, err := accounts.CreateCustomer(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Demo customer %s (enterprise plan). Its API key, shown only now:\n\n    %s\n\n", c.ID, secret)
	return nil
}

// samePort reports whether addr (host:port as given to --addr) asks for the
// port that the listener at a was given; port 0 asks for none.
func samePort(addr string, a net.Addr) bool {
	_, port, err := net.SplitHostPort(addr)
	t, ok := a.(*net.TCPAddr)
	return err == nil && ok && port != "0" && port == strconv.Itoa(t.Port)
}
