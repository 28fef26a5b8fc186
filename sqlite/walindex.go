package sqlite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
)

// The WAL index (the "-shm" file beside the database) starts with a header
// that every committing connection, in any process, rewrites before its
// commit returns: a counter incremented by each write transaction, the last
// valid WAL frame, the salts that change when the WAL restarts, and a
// checksum. SQLite itself compares this header at the start of each read
// transaction to decide whether its page cache is still good. The layout is
// part of SQLite's documented file format (https://sqlite.org/walformat.html,
// "The WAL-Index Header"): two copies of a 48-byte header, written second
// copy first, each beginning with the version number 3007000 in native byte
// order, with isInit at byte 12.
//
// walIndex reads those bytes with pread, which needs no lock, cannot fault,
// and sees what the memory-mapping writers wrote. Any commit anywhere
// changes them; nothing but a commit, a WAL restart or a recovery does, and
// each of those at most turns a cached answer into a miss.
const (
	walIndexHeaderSize = 48
	walIndexVersion    = 3007000
)

// walVersion is a snapshot of the WAL index header: two snapshots are equal
// only if no transaction committed between them.
type walVersion [walIndexHeaderSize]byte

// walIndex is the open WAL index of one database file.
//
// The file must not be replaced while it is open: SQLite deletes or
// truncates the -shm file only when the last connection to the database
// closes, and DB keeps one connection (pin) open for as long as it uses the
// walIndex, which holds the shared lock that prevents both.
type walIndex struct {
	f *os.File
}

// openWALIndex opens the WAL index of the database at path; the database
// must be open in WAL mode on a connection that has read from it.
func openWALIndex(path string) (*walIndex, error) {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return nil, err
	}
	w := &walIndex{f: f}
	if _, ok := w.version(); !ok {
		f.Close()
		return nil, errWALIndex
	}
	return w, nil
}

// errWALIndex is returned when the WAL index header is not the format this
// code knows.
var errWALIndex = errors.New("sqlite: WAL index header not recognised")

// version returns the current header. ok is false when it cannot be read
// or does not look settled: not the known format, not initialised, or its
// two copies differ because a commit is writing it right now. Callers then
// treat every cached answer as stale.
func (w *walIndex) version() (v walVersion, ok bool) {
	if w == nil {
		return v, false
	}
	var b [2 * walIndexHeaderSize]byte
	if n, err := w.f.ReadAt(b[:], 0); n != len(b) || err != nil {
		return v, false
	}
	first, second := b[:walIndexHeaderSize], b[walIndexHeaderSize:]
	if binary.NativeEndian.Uint32(first) != walIndexVersion || first[12] != 1 || !bytes.Equal(first, second) {
		return v, false
	}
	copy(v[:], first)
	return v, true
}

// close closes the file; version reports !ok from then on.
func (w *walIndex) close() error {
	if w == nil {
		return nil
	}
	return w.f.Close()
}
