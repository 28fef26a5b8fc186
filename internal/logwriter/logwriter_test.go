package logwriter

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a destination that counts its writes and can be made slow.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
}

func (r *recorder) Write(p []byte) (int, error) {
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	return r.buf.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// TestOrderAndBatching writes lines from many goroutines: every line comes
// out whole, each goroutine's lines in its order, and in fewer writes than
// lines when the destination is slower than the writers.
func TestOrderAndBatching(t *testing.T) {
	t.Parallel()
	dst := &recorder{delay: 200 * time.Microsecond}
	w := New(dst)
	const goroutines, lines = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "g%d line %d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, goroutines)
	out := strings.Split(strings.TrimSuffix(dst.String(), "\n"), "\n")
	if len(out) != goroutines*lines {
		t.Fatalf("%d lines out, want %d", len(out), goroutines*lines)
	}
	for _, l := range out {
		var g, i int
		if _, err := fmt.Sscanf(l, "g%d line %d", &g, &i); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if i != next[g] {
			t.Fatalf("goroutine %d: line %d came after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if dst.writes >= goroutines*lines {
		t.Errorf("%d writes for %d lines: nothing was batched", dst.writes, goroutines*lines)
	}
}

// TestQuietLinesGoOut checks that a line goes out without waiting for more
// lines or for Close: there is no timer and no batch size to reach.
func TestQuietLinesGoOut(t *testing.T) {
	t.Parallel()
	dst := &recorder{}
	w := New(dst)
	defer w.Close()
	for i := range 3 {
		fmt.Fprintf(w, "line %d\n", i)
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(dst.String(), "\n") < i+1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got, want := strings.Count(dst.String(), "\n"), i+1; got != want {
			t.Fatalf("with no more writes: %d lines out, want %d", got, want)
		}
	}
}

// TestBounded checks that a stalled destination makes writers wait rather
// than buffer without bound.
func TestBounded(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	dst := &blocking{block: block}
	w := New(dst)
	line := bytes.Repeat([]byte("x"), 1024)
	wrote := make(chan int)
	go func() {
		n := 0
		for range 4 * MaxBuffered / len(line) {
			w.Write(line)
			n++
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("%d KiB accepted while the destination was stalled", n)
	case <-time.After(100 * time.Millisecond):
	}
	close(block)
	<-wrote
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := dst.n, 4*MaxBuffered; got != want {
		t.Errorf("%d bytes out, want %d", got, want)
	}
}

type blocking struct {
	block chan struct{}
	mu    sync.Mutex
	n     int
}

func (b *blocking) Write(p []byte) (int, error) {
	<-b.block
	b.mu.Lock()
	b.n += len(p)
	b.mu.Unlock()
	return len(p), nil
}

// TestAfterClose checks that lines written after Close still come out,
// after the ones before it.
func TestAfterClose(t *testing.T) {
	t.Parallel()
	dst := &recorder{delay: time.Millisecond}
	w := New(dst)
	fmt.Fprintln(w, "before")
	w.Close()
	fmt.Fprintln(w, "after")
	if got := dst.String(); got != "before\nafter\n" {
		t.Errorf("got %q", got)
	}
}
