//go:build unix

package sqlite

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// mapHeader maps the first page of the WAL index file f, read-only and
// shared, which is where SQLite's connections read and write the header.
func mapHeader(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < 2*walIndexHeaderSize {
		return nil, errors.New("the file is shorter than its header")
	}
	return syscall.Mmap(int(f.Fd()), 0, os.Getpagesize(), syscall.PROT_READ, syscall.MAP_SHARED)
}

func unmapHeader(hdr []byte) error {
	if hdr == nil {
		return nil
	}
	return syscall.Munmap(hdr)
}

// read copies the two header copies from the mapping into b, first copy
// first, eight bytes at a time with atomic loads: the order in which
// SQLite's own readers load them (its writers store the second copy first),
// and loads the compiler may neither merge nor reorder. A fault (the file
// truncated under the mapping, which walIndex's rules exclude) is a failed
// read, not a crash.
func (w *walIndex) read(b *[2 * walIndexHeaderSize]byte) (ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	// The mapping is page-aligned, so every word is 8-byte aligned.
	words := (*[2 * walIndexHeaderSize / 8]uint64)(unsafe.Pointer(unsafe.SliceData(w.hdr)))
	for i := range words {
		binary.NativeEndian.PutUint64(b[8*i:], atomic.LoadUint64(&words[i]))
	}
	return true
}
