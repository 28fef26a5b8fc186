//go:build unix

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A key read from a pipe left open can keep serve waiting (a key written
// without a newline may go on); an interrupt meanwhile stops serve at
// once, before it opens, let alone makes, the database.
func TestServeInterruptedReadingKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	db := filepath.Join(dir, "q.db")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--master-key-file", fifo}, env(), nil, io.Discard, io.Discard)
	}()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Unpadded and without a newline, from a pipe left open until the
	// end: serve reads on.
	defer w.Close()
	w.WriteString("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "master key") {
			t.Errorf("serve interrupted while reading its key: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve still waiting on its key after the interrupt")
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("an interrupted serve made the database")
	}
}
