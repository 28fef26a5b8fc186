//go:build unix

package masterkey

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A key from a pipe that stays open after it (--master-key-file
// <(cat key; sleep infinity)) is read as soon as it has come whole, with
// or without a newline after it (printf %s), and in pieces; it is not
// waited on for an end of file that never comes.
func TestLoadPipeLeftOpen(t *testing.T) {
	t.Parallel()
	const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	for name, writes := range map[string][]string{
		"line":          {key + "\n"},
		"no newline":    {key},
		"in pieces":     {key[:20], key[20:]},
		"wrapped":       {key[:30] + "\n", key[30:] + "\n"},
		"spaces around": {"  " + key + "  "},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			done, w := loadFromFIFO(t)
			defer w.Close() // left open while Load runs
			for _, s := range writes {
				w.WriteString(s)
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Load still waiting on a pipe left open after its key")
			}
		})
	}
}

// The first 43 characters of a longer value decode to 32 bytes as a key
// does; arriving alone on a pipe, they are not taken for one.
func TestLoadPipeLongerValue(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", 2) + "="
	done, w := loadFromFIFO(t)
	w.WriteString(long[:43])
	time.Sleep(50 * time.Millisecond)
	w.WriteString(long[43:] + "\n")
	w.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a 64-byte value taken for a key")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load still waiting after the pipe closed")
	}
}

// loadFromFIFO starts Load on a new named pipe and returns its result and
// the pipe's writing end.
func loadFromFIFO(t *testing.T) (<-chan error, *os.File) {
	t.Helper()
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
	return done, w
}
