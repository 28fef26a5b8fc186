package logwriter

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// A single line longer than MaxBuffered goes out (into an empty buffer)
// rather than waiting for room that can never be made.
func TestLineLongerThanBound(t *testing.T) {
	dst := &recorder{}
	w := New(dst)
	defer w.Close()
	done := make(chan struct{})
	go func() {
		w.Write(bytes.Repeat([]byte("x"), MaxBuffered+1))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a line longer than MaxBuffered blocks Write for good")
	}
}

// gate is a destination that records what each Write brings as it
// arrives, and lets it through only once opened.
type gate struct {
	open chan struct{}
	mu   sync.Mutex
	in   []string
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.in = append(g.in, string(p[:1]))
	g.mu.Unlock()
	<-g.open
	return len(p), nil
}

// A Write that waited for room when Close came goes out after the lines
// queued before it, not ahead of them.
func TestWriteWaitingAtCloseKeepsOrder(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	w := New(g)
	w.Write([]byte("A\n")) // taken, its write stalls
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		n := len(g.in)
		g.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first line never reached the destination")
		}
	}
	w.Write(append([]byte("B"), bytes.Repeat([]byte("b"), MaxBuffered-1)...)) // fills the buffer
	wrote := make(chan struct{})
	go func() { w.Write([]byte("C\n")); close(wrote) }() // waits for room
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	time.Sleep(100 * time.Millisecond)
	close(g.open)
	<-wrote
	<-closed
	g.mu.Lock()
	defer g.mu.Unlock()
	if got := string(bytes.Join(func() [][]byte {
		var b [][]byte
		for _, s := range g.in {
			b = append(b, []byte(s))
		}
		return b
	}(), nil)); got != "ABC" {
		t.Fatalf("lines reached the destination in the order %q, want ABC", got)
	}
}
