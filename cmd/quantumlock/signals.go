package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// shutdownSignals are the signals that stop the service.
var shutdownSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// shutdownContext returns a context cancelled by the first SIGINT or
// SIGTERM, which starts a graceful shutdown. A second signal ends the
// process at once rather than waiting out --shutdown-timeout: its default
// action is put back and it is raised again. The signals are caught into a
// buffer with room for both, so a second that follows the first at once is
// not lost. (Two of the same kind sent together can still arrive as one:
// the kernel keeps one of each kind pending.) release stops catching them
// and gives them their default action again.
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
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		for {
			select {
			case s := <-sigs:
				if secondEnds {
					signal.Reset(shutdownSignals...)
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
