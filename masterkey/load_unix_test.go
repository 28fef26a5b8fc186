//go:build unix

package masterkey

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A key from a pipe that stays open after it (--master-key-file
// <(cat key; sleep infinity)) is read once its line has come, not waited
// on for an end of file that never comes.
func TestLoadPipeLeftOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Load(path); done <- err }()
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close() // left open while Load runs
	w.WriteString("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load still waiting on a pipe left open after its key")
	}
}
