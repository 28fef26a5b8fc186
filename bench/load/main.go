// Command load is QuantumLock's load harness (issue 2, "Speed"). It builds
// the quantumlock binary, starts it on a temporary SQLite database on
// 127.0.0.1 with a random port and a generated master key, creates an
// enterprise customer with the CLI, seeds licenses straight into the
// database file, and measures validate and generate throughput and latency
// with a fixed number of concurrent keep-alive connections. In the same run
// it measures a bare net/http server (this program re-executed as a child)
// that decodes and encodes the same small JSON: the machine's ceiling.
//
//	go run ./bench/load                          # 1,000 licenses, 10 s per phase
//	go run ./bench/load -sizes 1000,1000000      # both sizes, one report
//
// Every phase is bounded in time and request count; all traffic goes to
// 127.0.0.1; the harness stops its child processes and removes its
// temporary directory on every exit path, including SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ceilingFlag, given as the first argument, makes this program the ceiling
// server instead of the harness. It is not in the flag set on purpose.
const ceilingFlag = "-internal-ceiling-server"

// config is the harness's configuration.
type config struct {
	sizes       []int
	duration    time.Duration
	warmup      time.Duration
	conns       int
	maxRequests int
	seedWorkers int
	timeout     time.Duration
	repo        string
	// baseline, if set, is another checkout whose server is measured
	// alongside, round by round, for before/after comparisons.
	baseline    string
	keep        bool
	seedProfile string
	// serverProfiles, if set, is a directory that receives CPU profiles of
	// the server during the validate and generate phases of the last round.
	serverProfiles string
	rounds         int
	// client is the kind of sender: clientNetHTTP, clientRaw or clientWrk.
	client string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == ceilingFlag {
		if err := runCeilingServer(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	err = run(ctx, cfg, os.Stdout, os.Stderr)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	licenses := fs.Int("licenses", 1000, "licenses to seed before measuring (ignored when -sizes is given)")
	sizes := fs.String("sizes", "", "comma-separated seed sizes to measure in one run, e.g. 1000,1000000")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured duration of each phase")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each phase")
	fs.IntVar(&cfg.rounds, "rounds", 1, "passes over ceiling, validate, generate per size (the report gives medians)")
	fs.IntVar(&cfg.conns, "conns", 32, "concurrent keep-alive connections")
	fs.StringVar(&cfg.client, "client", clientNetHTTP, "how requests are sent: net/http (one shared http.Client), raw (each worker writes whole requests on its own connection and parses the answers with http.ReadResponse, at about half the client CPU) or wrk (the wrk program, one thread; phases in whole seconds, no -max-requests)")
	fs.IntVar(&cfg.maxRequests, "max-requests", 5_000_000, "upper bound on the requests of a phase's warm-up, and of its measured part (not with -client wrk)")
	fs.IntVar(&cfg.seedWorkers, "seed-workers", 4, "goroutines seeding licenses")
	fs.DurationVar(&cfg.timeout, "timeout", 45*time.Minute, "give up on the whole run after this long")
	fs.StringVar(&cfg.repo, "repo", "", "module root to build cmd/quantumlock from (default: found with `go env GOMOD`)")
	fs.StringVar(&cfg.baseline, "baseline", "", "module root of another checkout (e.g. a git worktree of an earlier commit) to measure alongside, interleaved round by round")
	fs.StringVar(&cfg.seedProfile, "seed-cpuprofile", "", "write a CPU profile of seeding the largest size to this file")
	fs.StringVar(&cfg.serverProfiles, "server-cpuprofile", "", "directory to write CPU profiles of the server (validate-N.cpu, generate-N.cpu) taken in the last round")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (databases, server logs) and print its path")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	list := strconv.Itoa(*licenses)
	if *sizes != "" {
		list = *sizes
	}
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 50_000_000 {
			return cfg, fmt.Errorf("size %q: want an integer from 1 to 50000000", s)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	switch {
	case cfg.duration <= 0 || cfg.duration > 10*time.Minute:
		return cfg, errors.New("-duration must be in (0, 10m]")
	case cfg.warmup < 0 || cfg.warmup > time.Minute:
		return cfg, errors.New("-warmup must be in [0, 1m]")
	case cfg.conns < 1 || cfg.conns > 1024:
		return cfg, errors.New("-conns must be 1-1024")
	case cfg.maxRequests < 1:
		return cfg, errors.New("-max-requests must be at least 1")
	case cfg.seedWorkers < 1 || cfg.seedWorkers > 64:
		return cfg, errors.New("-seed-workers must be 1-64")
	case cfg.client != clientRaw && cfg.client != clientNetHTTP && cfg.client != clientWrk:
		return cfg, fmt.Errorf("-client must be %q, %q or %q", clientNetHTTP, clientRaw, clientWrk)
	case cfg.rounds < 1 || cfg.rounds > 20:
		return cfg, errors.New("-rounds must be 1-20")
	case cfg.timeout <= 0:
		return cfg, errors.New("-timeout must be positive")
	}
	return cfg, nil
}
