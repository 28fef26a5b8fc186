package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/sqlite"
)

// sizeResult is the measurement at one seed size.
type sizeResult struct {
	Size    int
	Label   string // "baseline" for the -baseline server, else ""
	Seed    time.Duration
	DBBytes int64
	Rounds  []round
	// Server memory, KiB: VmRSS after the validate phase and after the
	// generate phase, the highest VmRSS sampled during both, and VmHWM
	// (the kernel's own peak) just before shutdown.
	RSSAfterValidate, RSSAfterGenerate, RSSSampledPeak, HWM int64
}

// name is the size, with the label if there is one.
func (s sizeResult) name() string {
	if s.Label == "" {
		return strconv.Itoa(s.Size)
	}
	return strconv.Itoa(s.Size) + " (" + s.Label + ")"
}

// round is one pass over the three phases, ceiling first, and the trim
// that takes the database back to its seeded size after generate.
type round struct {
	Ceiling, Validate, Generate phaseResult
	Trim                        trimResult
}

// validateRatio and generateRatio are the round's throughput relative to
// the ceiling measured just before.
func (r round) validateRatio() float64 { return ratio(r.Validate.RPS, r.Ceiling.RPS) }
func (r round) generateRatio() float64 { return ratio(r.Generate.RPS, r.Ceiling.RPS) }

// median returns the median of f over the rounds (the mean of the middle
// two for an even count).
func (s sizeResult) median(f func(round) float64) float64 {
	v := make([]float64, len(s.Rounds))
	for i, r := range s.Rounds {
		v[i] = f(r)
	}
	return medianOf(v)
}

// medianOf returns the median of v, sorting it.
func medianOf(v []float64) float64 {
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// run is the whole harness; every resource it creates is released before
// it returns.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) (err error) {
	if cfg.client == clientWrk {
		// Before minutes of seeding, not after.
		if err := wrkInstalled(); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "quantumlock-load-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintf(stderr, "keeping %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	repo := cfg.repo
	if repo == "" {
		if repo, err = moduleRoot(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "building cmd/quantumlock from %s\n", repo)
	bin, err := buildServer(ctx, repo, tmp)
	if err != nil {
		return err
	}
	var baseBin string
	if cfg.baseline != "" {
		fmt.Fprintf(stderr, "building the baseline cmd/quantumlock from %s\n", cfg.baseline)
		dir := filepath.Join(tmp, "baseline")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		if baseBin, err = buildServer(ctx, cfg.baseline, dir); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	mk := masterkey.Generate()

	ceiling, err := startCeiling(ctx)
	if err != nil {
		return err
	}
	defer ceiling.stop()

	client := clients{kind: cfg.client, http: newClient(cfg.conns)}
	defer client.http.CloseIdleConnections()

	printHeader(stdout, cfg)
	// Every size is seeded and served first; then the rounds visit the
	// sizes in turn, so a noisy minute on this shared machine lands on all
	// sizes alike instead of on one of them.
	var runs []*sizeRun
	defer func() {
		for _, sr := range runs {
			sr.close()
		}
	}()
	for _, n := range cfg.sizes {
		sr, err := prepareSize(ctx, cfg, client, bin, "", tmp, mk, ceiling.addr, ceiling.pid(), n, stderr)
		if err != nil {
			return fmt.Errorf("size %d: %w", n, err)
		}
		runs = append(runs, sr)
		if baseBin != "" {
			sr, err := prepareSize(ctx, cfg, client, baseBin, "baseline", tmp, mk, ceiling.addr, ceiling.pid(), n, stderr)
			if err != nil {
				return fmt.Errorf("baseline size %d: %w", n, err)
			}
			runs = append(runs, sr)
		}
	}
	// Within a round every size's ceiling and validate come first and
	// its generate after, and the sizes take turns at going first, so that
	// the validate phases the 1M/1k target compares run one ceiling phase
	// apart rather than three phases and a trim. (On this shared machine
	// that did not make the ratio steadier: its state changes within
	// seconds; docs/benchmarks.md, runs 23–24.)
	for i := range cfg.rounds {
		order := slices.Clone(runs)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		profile := cfg.serverProfiles != "" && i == cfg.rounds-1
		for _, sr := range order {
			if cfg.rounds > 1 {
				fmt.Fprintf(stderr, "size %s: round %d/%d, reads\n", sr.r.name(), i+1, cfg.rounds)
			}
			if err := sr.reads(profile); err != nil {
				return fmt.Errorf("size %s: %w", sr.r.name(), err)
			}
		}
		for _, sr := range order {
			if cfg.rounds > 1 {
				fmt.Fprintf(stderr, "size %s: round %d/%d, writes\n", sr.r.name(), i+1, cfg.rounds)
			}
			if err := sr.writes(profile); err != nil {
				return fmt.Errorf("size %s: %w", sr.r.name(), err)
			}
		}
	}
	var results []sizeResult
	for _, sr := range runs {
		if err := sr.finish(); err != nil {
			return fmt.Errorf("size %s: %w", sr.r.name(), err)
		}
		printSize(stdout, sr.r)
		results = append(results, sr.r)
	}
	printSummary(stdout, results)
	return nil
}

// sizeRun is one seeded database with its server, ready for rounds.
type sizeRun struct {
	r        sizeResult
	srv      *serverProc
	sampler  *peakSampler
	targets  struct{ ceiling, validate, generate target }
	phase    func(t target) (phaseResult, error)
	trim     func() (trimResult, error)
	cleanups []func()
	// Where and over what span server profiles are taken.
	profileDir       string
	warmup, duration time.Duration
}

// reads begins a round: it measures the ceiling and validate; with
// profile set, it also profiles the server during validate.
func (sr *sizeRun) reads(profile bool) (err error) {
	var rd round
	if rd.Ceiling, err = sr.phase(sr.targets.ceiling); err != nil {
		return err
	}
	if rd.Validate, err = sr.profiled(profile, sr.targets.validate); err != nil {
		return err
	}
	if m, err := readMemory(sr.srv.pid()); err == nil {
		sr.r.RSSAfterValidate = max(sr.r.RSSAfterValidate, m.RSS)
	}
	sr.r.Rounds = append(sr.r.Rounds, rd)
	return nil
}

// writes ends the round reads began: it measures generate (profiled with
// profile set) and takes the database back to its seeded size.
func (sr *sizeRun) writes(profile bool) (err error) {
	rd := &sr.r.Rounds[len(sr.r.Rounds)-1]
	if rd.Generate, err = sr.profiled(profile, sr.targets.generate); err != nil {
		return err
	}
	rd.Trim, err = sr.trim()
	return err
}

// profiled runs a phase; with profile set it fetches a CPU profile of the
// server from its operator listener over the measured part and writes it
// to the profile directory as NAME-SIZE.cpu.
func (sr *sizeRun) profiled(profile bool, t target) (phaseResult, error) {
	if !profile || sr.srv.opsAddr == "" {
		return sr.phase(t)
	}
	path := filepath.Join(sr.profileDir, fmt.Sprintf("%s-%s.cpu", t.name, sr.r.name()))
	done := make(chan error, 1)
	go func() {
		// The profile covers the measured part: it starts after the
		// warm-up and ends a little before the phase does.
		time.Sleep(sr.warmup)
		secs := max(1, int(sr.duration/time.Second)-1)
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", sr.srv.opsAddr, secs)
		resp, err := http.Get(url)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("%s: %s", url, resp.Status)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	res, err := sr.phase(t)
	if perr := <-done; perr != nil && err == nil {
		err = fmt.Errorf("profile %s: %w", t.name, perr)
	}
	return res, err
}

// finish reads the server's memory figures.
func (sr *sizeRun) finish() error {
	sr.r.RSSSampledPeak = sr.sampler.stop()
	m, err := readMemory(sr.srv.pid())
	if err != nil {
		return err
	}
	sr.r.RSSAfterGenerate, sr.r.HWM = m.RSS, m.HWM
	return nil
}

// close stops the server and removes the database, in reverse order of
// setting up.
func (sr *sizeRun) close() {
	for i := len(sr.cleanups) - 1; i >= 0; i-- {
		sr.cleanups[i]()
	}
}

// prepareSize seeds a database of n licenses, starts a server on it and
// checks one request of each kind.
func prepareSize(ctx context.Context, cfg config, client clients, bin, label, tmp string, mk *masterkey.Key, ceilingAddr string, ceilingPID, n int, stderr io.Writer) (_ *sizeRun, err error) {
	sr := &sizeRun{profileDir: cfg.serverProfiles, warmup: cfg.warmup, duration: cfg.duration}
	defer func() {
		if err != nil {
			sr.close()
		}
	}()
	r := &sr.r
	r.Size, r.Label = n, label
	name := strconv.Itoa(n)
	if label != "" {
		name += "-" + label
	}
	db := filepath.Join(tmp, "licenses-"+name+".db")
	if !cfg.keep {
		sr.cleanups = append(sr.cleanups, func() { sqlite.Remove(db) })
	}
	cust, err := createCustomer(ctx, bin, db)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "size %d: seeding %d licenses for %s\n", n, n, cust.ID)
	var profile string
	if cfg.seedProfile != "" && n == slices.Max(cfg.sizes) && label == "" {
		profile = cfg.seedProfile
		cfg.seedProfile = "" // once, should the largest size repeat
	}
	seeded, err := seedProfiled(profile, func() (seedResult, error) {
		return seed(ctx, db, mk, cust.ID, n, cfg.seedWorkers, stderr)
	})
	if err != nil {
		return nil, err
	}
	r.Seed = seeded.Elapsed
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(db + suffix); err == nil {
			r.DBBytes += fi.Size()
		}
	}
	fmt.Fprintf(stderr, "size %d: seeded in %s (%.0f/s), database %.1f MiB\n",
		n, r.Seed.Round(time.Millisecond), float64(n)/r.Seed.Seconds(), float64(r.DBBytes)/(1<<20))

	srv, err := startServer(ctx, bin, db, mk.String(), filepath.Join(tmp, "server-"+name+".log"), cfg.serverProfiles != "")
	if err != nil {
		return nil, err
	}
	sr.srv = srv
	sr.cleanups = append(sr.cleanups, func() { srv.stop() })
	fmt.Fprintf(stderr, "size %d: server pid %d on %s, ceiling on %s\n", n, srv.pid(), srv.addr, ceilingAddr)

	keys := seeded.Keys
	validateBodyOf := func(i int, buf []byte) []byte {
		buf = append(buf, `{"license_key":"`...)
		buf = append(buf, keys[i]...)
		buf = append(buf, `","end_customer_id":"`...)
		buf = append(buf, endCustomer(i)...)
		return append(buf, `"}`...)
	}
	validateBody := func(rng *rand.Rand, buf []byte) []byte { return validateBodyOf(rng.IntN(len(keys)), buf) }
	validateCorpus := func(w *bufio.Writer) error {
		var buf []byte
		for i := range keys {
			buf = append(validateBodyOf(i, buf[:0]), '\n')
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		return nil
	}
	const generateBody = `{"end_customer_id":"` + generatedEndCustomer + `","features":["pro"],"valid_days":365}`
	const valid = `"valid":true`
	sr.targets = struct{ ceiling, validate, generate target }{
		ceiling: target{name: "ceiling", pid: ceilingPID, url: "http://" + ceilingAddr + "/validate",
			body: validateBody, corpus: validateCorpus, wantStatus: http.StatusOK, needle: valid},
		validate: target{name: "validate", pid: srv.pid(), url: "http://" + srv.addr + "/api/v1/licenses/validate", apiKey: cust.APIKey,
			body: validateBody, corpus: validateCorpus, wantStatus: http.StatusOK, needle: valid},
		generate: target{name: "generate", pid: srv.pid(), url: "http://" + srv.addr + "/api/v1/licenses/generate", apiKey: cust.APIKey,
			body:       func(_ *rand.Rand, buf []byte) []byte { return append(buf, generateBody...) },
			corpus:     func(w *bufio.Writer) error { _, err := w.WriteString(generateBody + "\n"); return err },
			wantStatus: http.StatusCreated},
	}

	// One request of each kind first: a seeded license that does not
	// validate (say, a signing-key mismatch) must stop the run, not be
	// measured as fast failures.
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	check := client
	if check.kind == clientWrk {
		check.kind = clientRaw
	}
	for _, t := range []target{sr.targets.ceiling, sr.targets.validate, sr.targets.generate} {
		s, err := check.newSender(ctx, t)
		if err != nil {
			return nil, err
		}
		_, status, err := s.send(t.body(rng, nil), &buf)
		s.close()
		if err != nil {
			return nil, fmt.Errorf("sanity %s: %w", t.name, err)
		}
		if !t.ok(status, buf.Bytes()) {
			return nil, fmt.Errorf("sanity %s: status %d: %s", t.name, status, strings.TrimSpace(buf.String()))
		}
	}

	var wrk *wrkRunner
	if cfg.client == clientWrk {
		dir := filepath.Join(tmp, "wrk-"+name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		if wrk, err = newWrkRunner(dir); err != nil {
			return nil, err
		}
	}
	sr.phase = func(t target) (phaseResult, error) {
		fmt.Fprintf(stderr, "size %d: %s (%s warm-up, %s measured, %d connections)\n", n, t.name, cfg.warmup, cfg.duration, cfg.conns)
		var res phaseResult
		var err error
		if wrk != nil {
			res, err = wrk.phase(ctx, t, cfg.conns, cfg.warmup, cfg.duration)
		} else {
			res, err = runPhase(ctx, client, t, cfg.conns, cfg.warmup, cfg.duration, cfg.maxRequests)
		}
		if err == nil && res.Errors > 0 {
			fmt.Fprintf(stderr, "size %d: %s: %d errors, first: %s\n", n, t.name, res.Errors, res.FirstError)
		}
		return res, err
	}
	sr.trim = func() (trimResult, error) {
		res, err := trimGenerated(ctx, db, cust.ID)
		if err == nil {
			fmt.Fprintf(stderr, "size %d: removed the %d generated licenses in %s\n", n, res.Deleted, res.Elapsed.Round(time.Millisecond))
		}
		return res, err
	}
	sr.sampler = samplePeak(srv.pid(), 100*time.Millisecond)
	sr.cleanups = append(sr.cleanups, func() { sr.sampler.stop() })
	return sr, nil
}

func printHeader(w io.Writer, cfg config) {
	fmt.Fprintf(w, "# QuantumLock load harness\n\n")
	fmt.Fprintf(w, "- %s/%s, %d CPUs, %s, harness GOMAXPROCS %d\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0))
	limit := fmt.Sprintf("at most %d requests per warm-up and per measured part", cfg.maxRequests)
	if cfg.client == clientWrk {
		limit = fmt.Sprintf("wrk %d thread, whole seconds, no request limit", wrkThreads)
	}
	fmt.Fprintf(w, "- %d keep-alive connections (%s client), %s warm-up + %s measured per phase, %s\n\n",
		cfg.conns, cfg.client, cfg.warmup, cfg.duration, limit)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)) }

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

func printSize(w io.Writer, r sizeResult) {
	fmt.Fprintf(w, "## %s: %d licenses seeded (seeding took %s, %.0f licenses/s; database %.1f MiB)\n\n",
		r.name(), r.Size, r.Seed.Round(time.Millisecond), float64(r.Size)/r.Seed.Seconds(), float64(r.DBBytes)/(1<<20))
	fmt.Fprintf(w, "| round | phase | requests | errors | req/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU µs/req | client CPU µs/req | server reads/req | server switches/req, voluntary · involuntary |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, rd := range r.Rounds {
		for _, p := range []phaseResult{rd.Ceiling, rd.Validate, rd.Generate} {
			fmt.Fprintf(w, "| %d | %s | %d | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n", i+1, p.Name, p.Requests, p.Errors, p.RPS,
				ms(p.P50), ms(p.P99), ms(p.P999), ms(p.Max), us(p.cpuPerRequest(p.ServerCPU)), us(p.cpuPerRequest(p.ClientCPU)), p.readsPerRequest(), p.switchesPerRequest())
		}
	}
	fmt.Fprintf(w, "\n")
	for i, rd := range r.Rounds {
		fmt.Fprintf(w, "round %d: validate/ceiling %.3f, generate/ceiling %.3f\n", i+1, rd.validateRatio(), rd.generateRatio())
	}
	if len(r.Rounds) > 0 {
		lo, hi := r.Rounds[0].Trim, r.Rounds[0].Trim
		for _, rd := range r.Rounds {
			lo.Deleted, hi.Deleted = min(lo.Deleted, rd.Trim.Deleted), max(hi.Deleted, rd.Trim.Deleted)
			lo.Elapsed, hi.Elapsed = min(lo.Elapsed, rd.Trim.Elapsed), max(hi.Elapsed, rd.Trim.Elapsed)
		}
		fmt.Fprintf(w, "after each round: %d–%d generated licenses removed and checkpointed in %s–%s, back to the seeded size\n",
			lo.Deleted, hi.Deleted, lo.Elapsed.Round(time.Millisecond), hi.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "server memory: VmHWM %s MiB; VmRSS %s MiB after validate (highest of the rounds), %s MiB at the end, %s MiB highest sampled (100 ms)\n\n",
		mib(r.HWM), mib(r.RSSAfterValidate), mib(r.RSSAfterGenerate), mib(r.RSSSampledPeak))
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// verdict renders a target check.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// within15 reports whether a 1M/1k ratio is within 15% of 1, either way:
// a million licenses served much faster than a thousand would be noise,
// not a target met.
func within15(q float64) bool { return q >= 0.85 && q <= 1.15 }

func printSummary(w io.Writer, all []sizeResult) {
	if len(all) == 0 {
		return
	}
	fmt.Fprintf(w, "## Targets (issue 2); medians over %d round(s)\n\n| size | target | measured | verdict |\n|---:|---|---|---|\n", len(all[0].Rounds))
	var rs []sizeResult // the server under test, not the baseline
	for _, r := range all {
		if r.Label == "" {
			rs = append(rs, r)
		}
		n := r.name()
		v := r.median(round.validateRatio)
		g := r.median(round.generateRatio)
		p99 := time.Duration(r.median(func(rd round) float64 { return float64(rd.Validate.P99) }))
		// The clients' percentiles leave failed answers out (the Go
		// clients) or take them in (wrk): with any, p99 says nothing.
		verrs := 0
		for _, rd := range r.Rounds {
			verrs += rd.Validate.Errors
		}
		fmt.Fprintf(w, "| %s | validate ≥ 50%% of ceiling req/s | %.1f%% | %s |\n", n, 100*v, verdict(v >= 0.5))
		fmt.Fprintf(w, "| %s | generate ≥ 20%% of ceiling req/s | %.1f%% | %s |\n", n, 100*g, verdict(g >= 0.2))
		fmt.Fprintf(w, "| %s | validate p99 < 10 ms, with no failed validate | %s ms | %s |\n", n, ms(p99), verdict(p99 < 10*time.Millisecond && verrs == 0))
		// Not a target: how much the service adds to the tail a bare
		// handler has on this machine at this hour, round by round.
		cp99 := time.Duration(r.median(func(rd round) float64 { return float64(rd.Ceiling.P99) }))
		tail := r.median(func(rd round) float64 { return ratio(float64(rd.Validate.P99), float64(rd.Ceiling.P99)) })
		fmt.Fprintf(w, "| %s | (for reference) the ceiling's own p99; validate's p99 relative to it | %s ms; %.2f× | — |\n", n, ms(cp99), tail)
		fmt.Fprintf(w, "| %s | server peak RSS (VmHWM) < 150 MiB | %s MiB | %s |\n", n, mib(r.HWM), verdict(r.HWM < 150*1024))
		errs := 0
		for _, rd := range r.Rounds {
			errs += rd.Ceiling.Errors + rd.Validate.Errors + rd.Generate.Errors
		}
		fmt.Fprintf(w, "| %s | no errors | %d | %s |\n", n, errs, verdict(errs == 0))
	}
	if len(rs) > 1 {
		small, large := rs[0], rs[0]
		for _, r := range rs {
			if r.Size < small.Size {
				small = r
			}
			if r.Size > large.Size {
				large = r
			}
		}
		vrps := func(rd round) float64 { return rd.Validate.RPS }
		lv, sv := large.median(vrps), small.median(vrps)
		q := ratio(lv, sv)
		fmt.Fprintf(w, "| %d vs %d | validate req/s within 15%% | %.3f× (%.0f vs %.0f req/s) | %s |\n",
			large.Size, small.Size, q, lv, sv, verdict(within15(q)))
		// The ceiling moves with the machine's noise; the ratio of the
		// ratios discounts it.
		qn := ratio(large.median(round.validateRatio), small.median(round.validateRatio))
		fmt.Fprintf(w, "| %d vs %d | same, each normalised by its own ceiling | %.3f× | %s |\n", large.Size, small.Size, qn, verdict(within15(qn)))
	}
	fmt.Fprintln(w)
	printBaseline(w, all)
}

// printBaseline compares each size's server with the baseline server of
// the same size, phase by phase: medians of the per-round ratios of
// throughput and of server CPU per request, measured minutes apart.
func printBaseline(w io.Writer, all []sizeResult) {
	header := false
	for _, base := range all {
		if base.Label == "" {
			continue
		}
		for _, cur := range all {
			if cur.Label != "" || cur.Size != base.Size || len(cur.Rounds) != len(base.Rounds) {
				continue
			}
			if !header {
				fmt.Fprintf(w, "## Against the baseline; medians of per-round ratios (current / baseline)\n\n| size | phase | req/s | server CPU per request |\n|---:|---|---:|---:|\n")
				header = true
			}
			for _, ph := range []struct {
				name string
				get  func(round) phaseResult
			}{{"validate", func(r round) phaseResult { return r.Validate }}, {"generate", func(r round) phaseResult { return r.Generate }}} {
				rps := make([]float64, len(cur.Rounds))
				cpu := make([]float64, len(cur.Rounds))
				for i := range cur.Rounds {
					c, b := ph.get(cur.Rounds[i]), ph.get(base.Rounds[i])
					rps[i] = ratio(c.RPS, b.RPS)
					cpu[i] = ratio(float64(c.cpuPerRequest(c.ServerCPU)), float64(b.cpuPerRequest(b.ServerCPU)))
				}
				fmt.Fprintf(w, "| %d | %s | %.3f× | %.3f× |\n", cur.Size, ph.name, medianOf(rps), medianOf(cpu))
			}
		}
	}
	if header {
		fmt.Fprintln(w)
	}
}

// seedProfiled runs fn, under the CPU profiler writing to path unless path
// is "". Seeding runs in this process, so its profile shows where the time
// of license.Service.Generate on the sqlite store goes.
func seedProfiled(path string, fn func() (seedResult, error)) (seedResult, error) {
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		return seedResult{}, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return seedResult{}, err
	}
	res, err := fn()
	pprof.StopCPUProfile()
	return res, err
}
