package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	zs "zombiezen.com/go/sqlite"
)

// The database's identity is a random number in its header's user_version
// field (bytes 60–63 of page 1), given once, when a store first opens it:
// page 1 is copied into the "-wal" with each commit that changes it (one
// that grows the file or its free list, as issuing licenses does), so a
// "-wal" of another database carries the other's identity, which the file
// beside it does not.

// ensureDatabaseID gives the database behind w its identity if it has
// none yet.
func ensureDatabaseID(ctx context.Context, w *sql.DB) error {
	var id int64
	if err := w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&id); err != nil {
		return fmt.Errorf("sqlite: database identity: %w", err)
	}
	if id != 0 {
		return nil // the common case, without taking the write lock
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: database identity: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&id); err != nil {
		return fmt.Errorf("sqlite: database identity: %w", err)
	}
	if id != 0 {
		return nil
	}
	var b [4]byte
	rand.Read(b[:])
	id = int64(binary.BigEndian.Uint32(b[:])&0x7fffffff | 1)
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, id)); err != nil {
		return fmt.Errorf("sqlite: database identity: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: database identity: %w", err)
	}
	return nil
}

// compareWALID compares the identity in the database file's header with
// the one in the last copy of page 1 that the "-wal" beside it holds, among
// the frames SQLite itself would read: those of the "-wal"'s current
// generation (their salts are the header's) whose checksums chain, up to
// the last that ends a transaction. A frame past those (a write torn by
// the crash, a transaction never committed, bytes of an earlier
// generation) holds no page of the database. A file or a "-wal" without
// an identity (a database from before identities, or a "-wal" that holds
// no committed page 1) says nothing.
func compareWALID(path string) error {
	hdr := make([]byte, 100)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	_, err = io.ReadFull(f, hdr)
	f.Close()
	if err != nil {
		return nil // an empty or short file has no identity
	}
	fileID := binary.BigEndian.Uint32(hdr[60:64])
	if fileID == 0 {
		return nil
	}
	walID, err := walPage1ID(path + "-wal")
	if err != nil {
		return fmt.Errorf("sqlite: read %s-wal: %w", path, err)
	}
	if walID != 0 && walID != fileID {
		return fmt.Errorf("sqlite: the %s-wal beside %s belongs to another database (its identity, %d, is not the file's, %d): it was left when that database stopped uncleanly, and this file was put in its place by hand; both are left as they are. If this file is the database you want, move the -wal (and any -shm) away and start again; otherwise put back the database the -wal belongs to, or restore a backup",
			path, path, walID, fileID)
	}
	return nil
}

// foreignWAL returns compareWALID's error for a non-empty "-wal" beside
// path, and nil when there is none. Like SQLite, it looks beside the file
// a symbolic link leads to.
func foreignWAL(path string) error {
	path = realPath(path)
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		return nil
	}
	return compareWALID(path)
}

// walPage1ID returns the identity (bytes 60–63) in the last committed
// copy of page 1 in the WAL file at path, or 0. It reads the WAL as
// SQLite's recovery does (the WAL format: https://sqlite.org/fileformat2.html#walformat):
// a 32-byte header, then frames of a 24-byte header and a page, each
// checksummed together with all before it, in the byte order the magic
// number names.
func walPage1ID(path string) (uint32, error) {
	w, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	wh := make([]byte, 32)
	if _, err := io.ReadFull(w, wh); err != nil {
		return 0, nil // too short to hold a frame
	}
	magic := binary.BigEndian.Uint32(wh[0:4])
	pageSize := int(binary.BigEndian.Uint32(wh[8:12])) // 65536 as itself, not 1 as in the file's header
	if magic&^1 != 0x377f0682 || pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return 0, nil // not a WAL SQLite would read
	}
	var order binary.ByteOrder = binary.LittleEndian
	if magic&1 == 1 {
		order = binary.BigEndian
	}
	s0, s1 := walChecksum(order, wh[:24], 0, 0)
	if s0 != binary.BigEndian.Uint32(wh[24:28]) || s1 != binary.BigEndian.Uint32(wh[28:32]) {
		return 0, nil // SQLite ignores a WAL whose header does not check
	}
	frame := make([]byte, 24+pageSize)
	var id, pending uint32
	for {
		if _, err := io.ReadFull(w, frame); err != nil {
			return id, nil // the end, or a frame cut short
		}
		if !bytes.Equal(frame[8:16], wh[16:24]) {
			return id, nil // an earlier generation's frame
		}
		s0, s1 = walChecksum(order, frame[:8], s0, s1)
		s0, s1 = walChecksum(order, frame[24:], s0, s1)
		if s0 != binary.BigEndian.Uint32(frame[16:20]) || s1 != binary.BigEndian.Uint32(frame[20:24]) {
			return id, nil // torn, or not of this chain
		}
		if binary.BigEndian.Uint32(frame[0:4]) == 1 {
			pending = binary.BigEndian.Uint32(frame[24+60 : 24+64])
			if pending == 0 {
				pending = 1<<32 - 1 // a page 1 without identity, marked as seen
			}
		}
		if binary.BigEndian.Uint32(frame[4:8]) != 0 { // a commit frame
			if pending != 0 {
				id, pending = pending, 0
				if id == 1<<32-1 {
					id = 0
				}
			}
		}
	}
}

// walChecksum continues SQLite's WAL checksum (s0, s1) over b, whose
// length is a multiple of 8, reading 32-bit words in order.
func walChecksum(order binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

// checkLeftWAL checks a database that a process did not close cleanly: one
// found, with no other QuantumLock process on it, with a "-wal" beside it.
// SQLite applies whatever "-wal" stands beside a name to the file under
// that name, and nothing in either file says they belong together: a
// database copied or moved over the path by hand, with the crashed
// database's "-wal" left beside it, would have that database's pages
// written into it at the first checkpoint, losing the licenses of both for
// good. Before anything can checkpoint, the database as the "-wal" makes
// it is read through a read-only connection (which cannot checkpoint, even
// as it closes) and checked: the database's identity (compareWALID), and
// SQLite's quick check of its structure. (Not foreign_key_check: a row an
// operator left dangling by hand would then stop the server after every
// crash.) A mismatch leaves both files as they are and says what to do.
// It cannot prove that they belong together, only catch what a mismatch
// breaks; it costs a read of the whole file, about half a second for a
// million licenses, after unclean stops only.
func checkLeftWAL(ctx context.Context, path string) error {
	// SQLite keeps the "-wal" beside the file a symbolic link leads to.
	path = realPath(path)
	// Looked for before the lock file is made: a file refused as another
	// program's gets none beside it.
	if fi, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil
	} else if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	// The identity is compared whatever else has the database open: it
	// reads only what a crash cannot have left half-written (committed
	// frames whose checksums chain), and a live database's committed
	// page 1 is its own. So no moment of the locking below can let
	// another database's "-wal" through on its identity.
	if err := compareWALID(path); err != nil {
		return err
	}
	lk, err := openFileLock(path)
	if err != nil {
		if readOnlyFS(path) {
			// A read-only file system without the lock file (a snapshot
			// mounted to back up or restore from): nothing here can
			// write the files, and the check below reads them through a
			// connection that cannot write either.
			return checkWALRows(ctx, path)
		}
		return err
	}
	defer lk.close()
	deadline := time.Now().Add(sharedWait)
	for live := 0; ; {
		ok, err := lk.try(true)
		if err != nil {
			return fmt.Errorf("sqlite: lock file: %w", err)
		}
		if ok {
			break
		}
		// Held shared: another process has the database open (a
		// running server, for a CLI command), which makes the "-wal" a
		// live one, not one left by a crash. Held exclusive: another
		// process is checking it (or migrating, or restoring); its
		// verdict is waited for, and the check made again, rather
		// than the "-wal" taken for live while it may be refused. A
		// check that ends between the two tries looks like a live
		// database once; a live one looks so every time, so it takes
		// twice, a pause apart.
		if ok, err := lk.try(false); err != nil {
			return fmt.Errorf("sqlite: lock file: %w", err)
		} else if ok {
			if err := lk.unlock(); err != nil {
				return fmt.Errorf("sqlite: lock file: %w", err)
			}
			if live++; live == 2 {
				return nil
			}
			if err := pause(ctx); err != nil {
				return err
			}
			continue
		}
		live = 0
		if ok, err := lk.wait(ctx, false, deadline); err != nil {
			return fmt.Errorf("sqlite: lock file: %w", err)
		} else if !ok {
			return fmt.Errorf("sqlite: another process has had %s to itself for more than %v (a migration, a restore, or a check of the -wal beside it); try again once it is done", path, sharedWait)
		}
		if err := lk.unlock(); err != nil {
			return fmt.Errorf("sqlite: lock file: %w", err)
		}
	}
	defer lk.unlock()
	// The other process may have ended with the "-wal" folded in.
	if fi, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil
	}
	return checkWALRows(ctx, path)
}

// checkWALRows reads the database at path as the "-wal" beside it makes
// it, through a read-only connection, and runs SQLite's quick check (see
// checkLeftWAL). Stopped by ctx, it fails with ctx's error.
func checkWALRows(ctx context.Context, path string) error {
	c, err := zs.OpenConn(path, zs.OpenReadOnly)
	if err != nil {
		return fmt.Errorf("sqlite: open %s to check the -wal beside it: %w", path, err)
	}
	defer c.Close()
	c.SetInterrupt(ctx.Done())
	c.SetBusyTimeout(BusyTimeout)
	var problems []string
	found, err := checkRows(c, `PRAGMA quick_check(5)`)
	if err != nil {
		if ctx.Err() != nil {
			// SQLite's "interrupted" says less than why.
			err = ctx.Err()
		}
		return fmt.Errorf("sqlite: check %s with the -wal beside it: %w", path, err)
	}
	problems = append(problems, found...)
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: %s and the %s-wal beside it do not make a sound database (%s): the -wal may be another database's, left when that one stopped uncleanly and this file was put in its place by hand, or the files are damaged; both are left as they are. Copy both aside first; if the -wal is another database's, move it (and any -shm) away and start again, else restore a backup",
			path, path, strings.Join(problems, "; "))
	}
	return nil
}

// checkRows runs a check (quick_check) on c and returns up to five of the
// problems it finds. Damage SQLite reports as an error rather than as a
// row is a problem found too.
func checkRows(c *zs.Conn, q string) (problems []string, err error) {
	st, _, err := c.PrepareTransient(q)
	if err != nil {
		// Preparing reads the schema, which damage can break first.
		if code := zs.ErrCode(err).ToPrimary(); code == zs.ResultCorrupt || code == zs.ResultNotADB {
			return []string{err.Error()}, nil
		}
		return nil, err
	}
	defer st.Finalize()
	for len(problems) < 5 {
		row, err := st.Step()
		if err != nil {
			if code := zs.ErrCode(err).ToPrimary(); code == zs.ResultCorrupt || code == zs.ResultNotADB {
				return append(problems, err.Error()), nil
			}
			return problems, err
		}
		if !row {
			break
		}
		if r := st.ColumnText(0); r != "ok" {
			problems = append(problems, r)
		}
	}
	return problems, nil
}
