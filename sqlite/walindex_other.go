//go:build !unix

package sqlite

import "os"

// Without mmap the header is read with pread, which sees what SQLite's
// mapping writers wrote.
func mapHeader(*os.File) ([]byte, error) { return nil, nil }

func unmapHeader([]byte) error { return nil }

func (w *walIndex) read(b *[2 * walIndexHeaderSize]byte) bool {
	n, err := w.f.ReadAt(b[:], 0)
	return n == len(b) && err == nil
}
