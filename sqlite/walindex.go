package sqlite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
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
// walIndex reads those bytes where SQLite's connections do, through a
// shared read-only memory mapping of the file (on Unix; elsewhere with
// pread), so a read is a few loads and no system call. Any commit anywhere
// changes them; nothing but a commit, a WAL restart or a recovery does, and
// each of those at most turns a cached answer into a miss.
const (
	walIndexHeaderSize = 48
	walIndexVersion    = 3007000
)

// walVersion is a snapshot of the WAL index header: two snapshots are equal
// only if no transaction committed between them.
type walVersion [walIndexHeaderSize]byte

// walIndex is the open WAL index file of one database, shared by every DB
// in the process that has the same file open, with a descriptor of the
// database file itself, which the checkpointer syncs (syncDatabase).
//
// Two rules keep it safe:
//
//   - The file must not be replaced while it is read. SQLite deletes or
//     truncates the -shm file only when the last connection to the
//     database closes; every DB holds one connection (pin) open from Open
//     until it releases its walIndex.
//   - Closing any descriptor of a file drops every POSIX lock the process
//     holds on it, and SQLite's locks are POSIX locks on these files (its
//     WAL locks on the index, its database locks on the database file). So
//     there is one descriptor per file per process, reference-counted, and
//     a DB releases its reference only after closing its own connections:
//     the descriptors are closed when no DB of this process has the
//     database open, never under a live SQLite connection.
type walIndex struct {
	f    *os.File
	main *os.File    // the database file; nil if it could not be opened
	hdr  []byte      // the mapped start of f; nil where f is read with pread
	fi   os.FileInfo // identifies the file across path spellings
	refs int         // guarded by walIndexes.mu
}

// walIndexes are the process's open WAL index files.
var walIndexes struct {
	mu   sync.Mutex
	open []*walIndex
}

// acquireWALIndex returns the WAL index of the database at path, opening it
// or taking another reference to it. The database must be open in WAL mode
// on a connection that has read from it, and stay so until release.
func acquireWALIndex(path string) (*walIndex, error) {
	walIndexes.mu.Lock()
	defer walIndexes.mu.Unlock()
	// A "-shm" beside a symbolic link would be a stale file nothing
	// writes, whose header never changes, so every cached answer would
	// stay current for ever.
	path = realPath(path)
	fi, err := os.Stat(path + "-shm")
	if err != nil {
		return nil, err
	}
	for _, w := range walIndexes.open {
		if os.SameFile(w.fi, fi) {
			w.refs++
			return w, nil
		}
	}
	w, err := openWALIndexFile(path + "-shm")
	if err != nil {
		return nil, err
	}
	// Without it the checkpointer leaves every sync to SQLite, as before.
	if m, err := os.Open(path); err == nil {
		w.main = m
	}
	w.fi, w.refs = fi, 1
	walIndexes.open = append(walIndexes.open, w)
	return w, nil
}

// openWALIndexFile opens the WAL index file at name and maps its header.
func openWALIndexFile(name string) (*walIndex, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	hdr, err := mapHeader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: map WAL index: %w", err)
	}
	return &walIndex{f: f, hdr: hdr}, nil
}

// close unmaps the header and closes the files.
func (w *walIndex) close() error {
	errs := []error{unmapHeader(w.hdr), w.f.Close()}
	if w.main != nil {
		errs = append(errs, w.main.Close())
	}
	return errors.Join(errs...)
}

// syncDatabase flushes the database file's written pages to stable
// storage, as SQLite's own sync of the file does: a sync through any
// descriptor of a file covers every write to it.
func (w *walIndex) syncDatabase() error {
	if w == nil || w.main == nil {
		return errors.New("sqlite: the database file is not open")
	}
	return w.main.Sync()
}

// release gives up a reference, closing the files with the last one. The
// caller's connections to the database must be closed already.
func (w *walIndex) release() error {
	if w == nil {
		return nil
	}
	walIndexes.mu.Lock()
	defer walIndexes.mu.Unlock()
	if w.refs--; w.refs > 0 {
		return nil
	}
	for i, o := range walIndexes.open {
		if o == w {
			walIndexes.open = append(walIndexes.open[:i], walIndexes.open[i+1:]...)
			break
		}
	}
	return w.close()
}

// version returns the current header. ok is false when it cannot be read
// or does not look settled: not the known format, not initialised, or its
// two copies differ because a commit is writing it right now. Callers then
// treat every cached answer as stale.
func (w *walIndex) version() (v walVersion, ok bool) {
	if w == nil {
		return v, false
	}
	var b [2 * walIndexHeaderSize]byte
	if !w.read(&b) {
		return v, false
	}
	first, second := b[:walIndexHeaderSize], b[walIndexHeaderSize:]
	if binary.NativeEndian.Uint32(first) != walIndexVersion || first[12] != 1 || !bytes.Equal(first, second) {
		return v, false
	}
	copy(v[:], first)
	return v, true
}
