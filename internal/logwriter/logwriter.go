// Package logwriter batches log lines into fewer write system calls.
//
// Under load the server writes one access-log line per request, and a write
// system call per line was about 3% of its CPU. A Writer takes lines into a
// buffer and one goroutine writes out whatever has gathered, as soon as the
// previous write is done and the goroutines ready to run have had their
// turn: lines are never held back waiting for a timer, a quiet server
// writes each line at once, and a busy one writes many lines per call. It
// is group commit, for logs.
package logwriter

import (
	"io"
	"runtime"
	"sync"
)

// MaxBuffered is how many bytes may wait for the writing goroutine before
// Write blocks until it catches up, so a stalled destination cannot make
// memory grow without bound.
const MaxBuffered = 1 << 20

// Writer is an io.Writer that hands each Write to a background goroutine.
// Each Write is kept whole (slog writes one line per call), and lines are
// written in the order Write was called. Close writes out what is left.
type Writer struct {
	dst io.Writer

	mu     sync.Mutex
	buf    []byte     // waiting to be written
	wake   *sync.Cond // signalled when buf gets data or closed is set
	room   *sync.Cond // signalled when the goroutine takes buf
	closed bool

	done chan struct{}
}

// New returns a Writer that writes to dst from its own goroutine until
// Close.
func New(dst io.Writer) *Writer {
	w := &Writer{dst: dst, done: make(chan struct{})}
	w.wake = sync.NewCond(&w.mu)
	w.room = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Write queues a copy of p and returns len(p). Errors writing to the
// destination are not reported: there is nowhere left to log them. After
// Close, Write writes p directly.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for !w.closed && len(w.buf) > 0 && len(w.buf)+len(p) > MaxBuffered {
		w.room.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		<-w.done // after the last queued lines
		return w.dst.Write(p)
	}
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	w.wake.Signal()
	return len(p), nil
}

// Close writes out everything queued and stops the goroutine. Writes after
// Close go straight to the destination.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wake.Signal()
	w.room.Broadcast()
	<-w.done
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	var out []byte
	w.mu.Lock()
	for {
		for len(w.buf) == 0 && !w.closed {
			w.wake.Wait()
		}
		if len(w.buf) == 0 { // closed and drained
			w.mu.Unlock()
			return
		}
		// Let the goroutines that are ready to run go first: under load
		// they are handlers about to log, and their lines join this batch.
		// On a quiet server nothing else is ready and this returns at once.
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
		// Swap buffers so writers can go on while this batch is written.
		out, w.buf = w.buf, out[:0]
		w.mu.Unlock()
		w.room.Broadcast()
		w.dst.Write(out)
		w.mu.Lock()
		if cap(out) > MaxBuffered { // do not keep a burst's buffer forever
			out = nil
		}
	}
}
