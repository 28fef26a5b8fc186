package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// shutdownSignals are the signals that stop the service.
var shutdownSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// echoWindow is how soon after the first signal a second of the same kind
// is taken as a copy of it (see shutdownContext).
const echoWindow = 100 * time.Millisecond

// shutdownContext returns a context cancelled by the first SIGINT or
// SIGTERM, which starts a graceful shutdown. A second signal ends the
// process at once rather than waiting out --shutdown-timeout: its default
// action is put back and it is raised again. The signals are caught into a
// buffer with room for both, so a second that follows the first at once is
// not lost. (Two of the same kind sent together can still arrive as one:
// the kernel keeps one of each kind pending.) release stops catching them
// and gives them their default action again.
//
// A second signal of the first's kind within echoWindow of it is not a
// second request but the same one sent twice: timeout(1), for one, sends
// SIGTERM to its child and then to its whole process group, the child
// included, and a graceful stop must not turn into a kill by chance of
// whether the kernel merged the two. A person pressing Ctrl-C twice is
// slower than that, and any other signal counts at once.
//
// With secondEnds false, the signals after the first are caught too, and
// each only writes ignored to stderr: for restore, which stops at the first
// signal only before it begins to replace anything, and must then finish
// rather than leave the operator guessing which database is in place.
func shutdownContext(stderr io.Writer, secondEnds bool, ignored string) (ctx context.Context, release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, shutdownSignals...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		var first os.Signal
		var firstAt time.Time
		select {
		case first = <-sigs:
			firstAt = time.Now()
			cancel()
		case <-done:
			return
		}
		for {
			select {
			case s := <-sigs:
				if echo(first, firstAt, s, time.Now()) {
					continue
				}
				if secondEnds {
					signal.Reset(shutdownSignals...)
					if f := forcedExit.Load(); f != nil {
						(*f)(s)
					}
					raise(s)
				}
				fmt.Fprintln(stderr, ignored)
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			cancel()
		})
	}
}

// forcedExit, once serve has set it, runs before a second signal ends the
// process: it says so in the log and writes out the lines still queued,
// so that the log does not end at "shutting down" as after a crash. A
// third signal meanwhile ends the process at once. The signals are the
// process's, so is this.
var forcedExit atomic.Pointer[func(os.Signal)]

// echo reports whether signal s, caught at now, is a copy of the first
// signal, caught at firstAt (see shutdownContext).
func echo(first os.Signal, firstAt time.Time, s os.Signal, now time.Time) bool {
	return s == first && now.Sub(firstAt) < echoWindow
}

// raise sends s to this process, whose handler for it is the default one
// again, so the process ends as the signal ends it. Where a process cannot
// signal itself (Windows), or should the signal not end it, it exits
// with status 1.
func raise(s os.Signal) {
	if p, err := os.FindProcess(os.Getpid()); err == nil && p.Signal(s) == nil {
		time.Sleep(time.Second)
	}
	os.Exit(1)
}
