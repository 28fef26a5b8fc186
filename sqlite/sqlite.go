// Package sqlite is QuantumLock's embedded store: quantumlock.Store on a
// single SQLite file, through the pure-Go modernc.org/sqlite driver so the
// binary needs no C toolchain. The two reads of every validation go through
// zombiezen.com/go/sqlite, a direct binding of the same SQLite library, on
// connections of their own (see pointReaders).
//
// The file is opened twice: a writer pool of exactly one connection whose
// transactions begin IMMEDIATE, so every read-check-write (the monthly
// quota, key rotation) is serialised and never fails half-way with
// SQLITE_BUSY on a lock upgrade; and a read-only pool that, thanks to WAL,
// never waits for the writer. Other processes (the CLI while the server
// runs) share the file; busy_timeout makes them queue instead of failing.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quantumlock/quantumlock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
	zs "zombiezen.com/go/sqlite"
)

var _ quantumlock.Store = (*DB)(nil)

// The driver's errors tell their SQLite result code (resultCode).
var _ interface{ Code() int } = (*sqlite.Error)(nil)

// BusyTimeout is how long a connection waits for another connection or
// process to release a lock before failing with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// readerMaxIdle is how long a read-pool connection may sit idle before it
// is closed, giving its share of the process-wide page cache back (see
// Open).
const readerMaxIdle = time.Second

// DB is a quantumlock.Store backed by one SQLite file. It is safe for
// concurrent use, also by several processes on the same file.
type DB struct {
	path string
	// opened is the file Open opened at path: Ping tells a file deleted
	// or replaced under the store, whose writes no restart would find.
	opened os.FileInfo
	w      *sql.DB // one connection, BEGIN IMMEDIATE, no automatic checkpoints
	r      *sql.DB // query_only pool
	c      *sql.DB // one connection for checkpoints (see checkpointer)
	// pin is c's connection, held from Open to Close: it keeps the WAL
	// index file in place for wal (see walIndex).
	pin  *sql.Conn
	wal  *walIndex  // nil if the WAL index could not be opened
	auth *authCache // nil when wal is
	// lock is held shared from Open to Close (see fileLock).
	lock *fileLock
	// serving, once ClaimServing has taken it, is held exclusive until
	// Close.
	serving *fileLock
	// points run the reads of every validation (see pointReaders).
	points *pointReaders

	// Prepared once: the hot paths run them on every request.
	customerGet   *sql.Stmt // read pool
	usageBump     *sql.Stmt // writer
	licenseInsert *sql.Stmt // writer
	licenseUndo   *sql.Stmt // writer

	creates        chan *createOp // to batchWriter
	closing        chan struct{}  // closed by Close
	writerDone     chan struct{}  // closed when batchWriter returns
	checkpointDone chan struct{}  // closed when checkpointer returns
	closeOnce      sync.Once
	pinOnce        sync.Once

	nonceSweep atomic.Int64 // unix nanoseconds of the last sweep of expired nonces

	// writes keeps the last write that failed for a reason of the
	// storage (WriteFailure).
	writes writeHealth

	// afterRowRead, when set (by tests, before any use), runs in
	// APIKeyByHash right after the row is read and before the answer is
	// cached: a commit there must leave the cached answer stale.
	afterRowRead func()

	// wrapFrames is the WAL size past which the batch writer catches up
	// (checkpointWrapFrames), restartFrames the size past which the
	// checkpointer tries a RESTART checkpoint (eight times that; tests
	// change both), and wrapWAL is the checkpointer's request to catch up
	// (see checkpointer).
	wrapFrames    atomic.Int64
	restartFrames atomic.Int64
	wrapWAL       atomic.Bool
}

// Open opens (creating if needed) the database file at path, applies any
// pending migrations and prepares the statements of the hot paths. path is
// a file system path; ":memory:" and URI names are refused because the
// writer and the readers must see the same file.
func Open(ctx context.Context, path string) (_ *DB, err error) {
	if err := plainPath(path); err != nil {
		return nil, err
	}
	// An open asked to stop makes nothing: not even an empty file.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db := &DB{path: path, closing: make(chan struct{})}
	defer func() {
		if err != nil {
			db.Close()
			err = openHint(path, err)
			// Every refusal names the file it is about: first, unless it
			// is already the subject ("sqlite: PATH is ..."). A looser
			// test of the words would take "data" in "database" for it.
			if msg := err.Error(); !strings.HasPrefix(msg, path+": ") && !strings.HasPrefix(msg, "sqlite: "+path+" ") {
				err = fmt.Errorf("%s: %w", path, err)
			}
		}
	}()

	// A new database is made readable and writable by its owner only: it
	// holds license keys, e-mail addresses and API-key hashes, and SQLite
	// would make it 0644 less the umask. Its "-wal" and "-shm" files, and
	// the lock file, take the database's mode. An existing file keeps its
	// own.
	// Without O_EXCL, so that a symbolic link to a file yet to be made
	// makes it 0600 too.
	opened, err := os.Stat(path)
	switch {
	case err == nil && opened.IsDir():
		return nil, fmt.Errorf("sqlite: %s is a directory, not a database file", path)
	case err == nil && !opened.Mode().IsRegular():
		// A FIFO or a device: SQLite would leave a journal beside it.
		return nil, fmt.Errorf("sqlite: %s is not a regular file, so not a database file", path)
	case errors.Is(err, fs.ErrNotExist):
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
		}
		opened, err = f.Stat()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// The file's identity is read now: on Windows os.Stat leaves it to
	// be read from the path when first compared, which would be too late
	// to notice the file being replaced (see below).
	os.SameFile(opened, opened)
	// Another program's file is refused before anything below changes it
	// (the writer's connection puts a database into WAL mode for good) or
	// leaves files beside it. migrate checks again under the lock.
	// A "-wal" left by an unclean stop is checked first: the connection
	// checkOurs reads through checkpoints it into the file as it closes.
	if err := checkLeftWAL(ctx, path); err != nil {
		return nil, err
	}
	if opened.Size() > 0 {
		if err := checkOurs(ctx, path); err != nil {
			return nil, err
		}
	}

	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds())
	// synchronous=NORMAL is durable against application crashes in WAL
	// mode; only a power loss can drop the last commits, never corrupt.
	// secure_delete overwrites what a delete frees with zeros, so that a
	// deleted key's sealed material does not stay in the file's free
	// space (docs/storage.md).
	db.w, err = sql.Open("sqlite", existing(path, busy,
		"_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_pragma=wal_autocheckpoint(0)&_pragma=secure_delete(ON)&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	// The writer connection sets WAL mode, which is persistent in the file,
	// before any reader connects.
	if err := pingBusy(ctx, db.w, BusyTimeout); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if db.lock, err = openFileLock(path); err != nil {
		return nil, err
	}
	if err := migrate(ctx, db.w, db.lock, ms, sharedWait, aloneWait); err != nil {
		return nil, err
	}
	// The writer opened the file before the lock was held: a restore
	// (which holds it exclusive) may have put another file in its place
	// meanwhile, and the connections opened from here on would open that
	// one. Once the lock is held shared, no restore can.
	if now, err := os.Stat(path); err != nil || !os.SameFile(opened, now) {
		return nil, fmt.Errorf("sqlite: %s was replaced while it was being opened (by a restore?); open it again", path)
	}
	db.opened = opened
	if err := ensureDatabaseID(ctx, db.w); err != nil {
		return nil, err
	}

	db.r, err = sql.Open("sqlite", existing(path, busy, "_pragma=query_only(ON)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	db.r.SetMaxOpenConns(readers)
	db.r.SetMaxIdleConns(readers)
	db.r.SetConnMaxLifetime(0)
	// modernc.org/sqlite is built with SQLITE_ENABLE_MEMORY_MANAGEMENT, so
	// every connection in the process shares one page-cache group. A read
	// that scans (a list filtered by status, stats' active count) takes
	// over the group's pages and keeps them while its connection stays
	// open; the point readers then cannot keep even the B-tree's root page
	// between lookups, and a lookup among a million licenses reads three
	// pages from the OS instead of one (docs/storage.md). A read
	// connection idle for a second is closed, which hands its pages back.
	db.r.SetConnMaxIdleTime(readerMaxIdle)
	if err := db.r.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}

	for _, p := range []struct {
		pool *sql.DB
		dst  **sql.Stmt
		q    string
	}{
		{db.r, &db.customerGet, `SELECT ` + customerColumns + ` FROM customers WHERE id = ?1`},
		{db.w, &db.usageBump, usageBumpSQL},
		{db.w, &db.licenseInsert, licenseInsertSQL},
		{db.w, &db.licenseUndo, `DELETE FROM licenses WHERE id = ?1`},
	} {
		if *p.dst, err = p.pool.PrepareContext(ctx, p.q); err != nil {
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	if db.points, err = openPointReaders(path); err != nil {
		return nil, err
	}
	db.c, err = sql.Open("sqlite", existing(path, busy, "_pragma=synchronous(NORMAL)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	db.c.SetMaxOpenConns(1)
	db.c.SetConnMaxLifetime(0)
	db.c.SetConnMaxIdleTime(0)
	if db.pin, err = db.c.Conn(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	// A read makes the pinned connection open the WAL index and take the
	// shared lock that keeps it in place until Close.
	var n int
	if err := db.pin.QueryRowContext(ctx, `SELECT count(*) FROM meta`).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	// Without a readable WAL index, authentication reads the database
	// every time, as it would without the cache. So it does if the file is
	// not in WAL mode after all (a file system without shared memory
	// support keeps the rollback journal): a -shm file left from earlier
	// would then never change.
	var mode string
	if err := db.pin.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return nil, fmt.Errorf("sqlite: journal mode: %w", err)
	}
	if strings.EqualFold(mode, "wal") {
		if w, werr := acquireWALIndex(path); werr == nil {
			db.wal, db.auth = w, newAuthCache()
			db.points.wal = w
		}
	}

	db.wrapFrames.Store(checkpointWrapFrames)
	db.restartFrames.Store(8 * checkpointWrapFrames)
	db.creates = make(chan *createOp)
	db.writerDone = make(chan struct{})
	db.checkpointDone = make(chan struct{})
	go db.batchWriter()
	go db.checkpointer()
	return db, nil
}

// plainPath refuses a path that is not a plain file path: the writer,
// the readers and other processes must all name the same file.
func plainPath(path string) error {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return fmt.Errorf("sqlite: %q is not a plain file path", path)
	}
	return nil
}

// Close closes the statements and both pools. In-flight calls finish first:
// Close waits up to closeWait for connections still in use, a transaction
// begun through database/sql included, before it lets go of the file.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.closing) })
	if db.writerDone != nil {
		<-db.writerDone
	}
	if db.checkpointDone != nil {
		<-db.checkpointDone
	}
	var errs []error
	for _, s := range []*sql.Stmt{db.customerGet, db.usageBump, db.licenseInsert, db.licenseUndo} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	// Once, as neither may be closed twice: the pinned connection, then
	// every pool, and only then the WAL index, whose descriptor must not
	// be closed under a live connection (see walIndex).
	db.pinOnce.Do(func() {
		if db.pin != nil {
			errs = append(errs, db.pin.Close())
		}
		errs = append(errs, db.points.close())
		for _, p := range []*sql.DB{db.r, db.c, db.w} {
			if p != nil {
				errs = append(errs, p.Close())
			}
		}
		if drained(closeWait, db.r, db.c, db.w) {
			// The claim to serve goes with the lock: while connections
			// are still in use, the file is not free for another server.
			errs = append(errs, db.wal.release(), db.lock.close(), db.serving.close())
		} else {
			errs = append(errs, fmt.Errorf("connections still in use after %v; the WAL index and the lock files are left open", closeWait))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// closeWait bounds how long Close waits for connections still in use.
const closeWait = 30 * time.Second

// drained waits up to wait until the closed pools have no connection left
// and reports whether they got there. sql.DB.Close closes the idle
// connections and returns; one still in use, inside a transaction, closes
// only when its caller is done with it, and until then the process's locks
// on the file must stay, which closing the WAL index's descriptors would
// drop (walIndex): another process could then write under that
// transaction, or restart the WAL it has just appended to. A server past
// its shutdown timeout closes the store under running requests; this makes
// the store wait for them (their contexts end with their connections).
func drained(wait time.Duration, pools ...*sql.DB) bool {
	deadline := time.Now().Add(wait)
	for {
		open := 0
		for _, p := range pools {
			if p != nil {
				open += p.Stats().OpenConnections
			}
		}
		if open == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// Ping reports whether the pools answer and path still names the file
// the store has open. A file deleted, moved or replaced by hand under a
// running store goes on taking its writes, which are lost with the
// process, while connections made later would find another file or none.
func (db *DB) Ping(ctx context.Context) error {
	if now, err := os.Stat(db.path); err != nil || !os.SameFile(db.opened, now) {
		return fmt.Errorf("sqlite: %s is no longer the file this server opened (deleted, moved or replaced while serving): what is written now is lost when the server stops; put the file back, or stop the server", db.path)
	}
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping readers: %w", err)
	}
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	if err := db.points.ping(ctx); err != nil {
		return fmt.Errorf("sqlite: ping point readers: %w", err)
	}
	return nil
}

// masterKeyMeta is the meta row that holds the master key's fingerprint.
const masterKeyMeta = "master_key_fingerprint"

// BoundMasterKey returns the fingerprint of the master key the database is
// bound to, or "" if it is bound to none yet.
func (db *DB) BoundMasterKey(ctx context.Context) (string, error) {
	var bound string
	err := db.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?1`, masterKeyMeta).Scan(&bound)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("sqlite: read master key fingerprint: %w", err)
	}
	return bound, nil
}

// BindMasterKey records fingerprint on first use and returns EMASTERKEY
// when a different one is recorded.
func (db *DB) BindMasterKey(ctx context.Context, fingerprint string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING`, masterKeyMeta, fingerprint); err != nil {
			return fmt.Errorf("sqlite: bind master key: %w", err)
		}
		var bound string
		if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?1`, masterKeyMeta).Scan(&bound); err != nil {
			return fmt.Errorf("sqlite: read master key fingerprint: %w", err)
		}
		if bound != fingerprint {
			return quantumlock.Errorf(quantumlock.EMASTERKEY, "The master key does not match the one this database was created with.")
		}
		return nil
	})
}

// pointRead returns ctx without its cancellation, for the primary-key reads
// on every request. With a cancellable context, database/sql and the driver
// each start a goroutine per query to watch it, and the driver installs a
// progress handler: more work than the lookup itself, to be able to
// interrupt a read that takes microseconds. In WAL mode readers never wait
// for writers, so there is nothing to cut short.
func pointRead(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// write runs fn in an IMMEDIATE transaction on the writer connection and
// commits it if fn returns nil, noting the outcome for WriteFailure.
func (db *DB) write(ctx context.Context, fn func(*sql.Tx) error) error {
	err := db.writeTx(ctx, fn)
	db.writes.record(err)
	return err
}

// writeTx is write without the note of its outcome.
func (db *DB) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		// A context that ends between fn and Commit has database/sql roll
		// the transaction back, and Commit says only sql.ErrTxDone: the
		// context's end is the cause, and callers that tell a client gone
		// from a fault need it named.
		if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// pingBusy pings pool, trying again for up to wait while the answer is
// SQLITE_BUSY. A connection's first statement on a new file switches it to
// WAL mode, and SQLite answers a second connection trying the same at that
// moment with SQLITE_BUSY at once, without the busy timeout: two stores
// opening a new file together would otherwise fail one of them.
func pingBusy(ctx context.Context, pool *sql.DB, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := pool.PingContext(ctx)
		if err == nil || resultCode(err)&0xff != sqlite3.SQLITE_BUSY || !time.Now().Before(deadline) {
			return err
		}
		if err := pause(ctx); err != nil {
			return err
		}
	}
}

// read runs fn in a read transaction so that its queries see one snapshot.
func (db *DB) read(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// resultCode returns the extended result code of the SQLite error in err's
// chain, or 0; its low byte is the primary code.
func resultCode(err error) int {
	// *sqlite.Error, or anything else that tells its SQLite code.
	if e, ok := errors.AsType[interface {
		error
		Code() int
	}](err); ok {
		return e.Code()
	}
	// The connections of zombiezen.com/go/sqlite (the point readers, the
	// left-WAL check) tell theirs through ErrCode, which calls any other
	// error SQLITE_ERROR.
	if c := zs.ErrCode(err); c != zs.ResultError {
		return int(c)
	}
	return 0
}

// constraint returns the extended result code of a constraint violation in
// err's chain, or 0.
func constraint(err error) int {
	if c := resultCode(err); c&0xff == sqlite3.SQLITE_CONSTRAINT {
		return c
	}
	return 0
}

// Remove deletes the database file at path and the files beside it that
// SQLite and the store make ("-wal", "-shm", "-lock", "-serve"). The database must
// not be open. Files that are not there are no error.
func Remove(path string) error { return removeFiles(path, "", "-wal", "-shm", "-lock", "-serve") }

// removeFiles deletes path with each suffix; files that are not there are
// no error.
func removeFiles(path string, suffixes ...string) error {
	var errs []error
	for _, suffix := range suffixes {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveUnused removes the database at path as Remove does, but only if
// no store has it open (its lock file can be taken exclusive) and it holds
// nothing a store wrote: no customer and no master key binding. It is for
// a command that made the file and then failed: between its making it and
// its failing, another process (a server, another command) may have
// opened the same new file and written to it, and removing that would
// lose what it wrote. The lock file itself stays, as restore leaves it:
// another process may be waiting on it, and after the removal it would
// hold a lock on a file no one else finds. It reports whether it removed
// the database. A path Open refuses (plainPath) is refused here too, before
// anything is made: the lock file of "" would be ".-lock".
func RemoveUnused(path string) (bool, error) {
	if err := plainPath(path); err != nil {
		return false, err
	}
	lock, err := openFileLock(path)
	if err != nil {
		return false, err
	}
	defer lock.close()
	if ok, err := lock.try(true); err != nil || !ok {
		return false, err
	}
	if empty, err := holdsNothing(path); err != nil || !empty {
		return false, err
	}
	err = removeFiles(path, "", "-wal", "-shm")
	return err == nil, err
}

// readConn opens the file at path for reading outside any store, waiting
// out another process's lock as the store's own connections do.
func readConn(path string) (*sql.DB, error) {
	return sql.Open("sqlite", existing(path, fmt.Sprintf("_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds()), "_pragma=query_only(ON)"))
}

// existing is the data source name of the database file at path, a plain
// path (see plainPath), with the driver's parameters params: a URI with
// mode=rw, so that a connection made later (a read connection reopened
// after its idle time, say) fails on a file deleted or moved away rather
// than make an empty database in its place. Open makes a new file itself,
// 0600, before any connection.
func existing(path string, params ...string) string {
	// "file:" then "//" would begin an authority: an absolute path gets
	// an empty one first.
	if strings.HasPrefix(path, "/") {
		path = "//" + path
	}
	u := "file:" + strings.ReplaceAll(path, "%", "%25") + "?mode=rw"
	for _, p := range params {
		u += "&" + p
	}
	return u
}

// checkOurs refuses the file at path if another program made it (see
// ours), reading it through a connection that changes nothing. It waits
// out another process's lock as the store's own connections do: a store
// starting beside another that is making the same new file finds it
// locked for a moment.
func checkOurs(ctx context.Context, path string) error {
	c, err := readConn(path)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer c.Close()
	if _, err := ours(ctx, c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// holdsNothing reports whether the database at path has no customer and
// no master key binding: either no schema yet, or the schema and no rows
// in either table. It opens the file directly, not as a store, so the
// caller may hold the lock file exclusive.
func holdsNothing(path string) (bool, error) {
	c, err := readConn(path)
	if err != nil {
		return false, err
	}
	defer c.Close()
	var tables int
	if err := c.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('customers', 'meta')`).Scan(&tables); err != nil {
		return false, err
	}
	switch tables {
	case 0:
		return true, nil
	case 1:
		return false, nil // a schema half there is not ours to judge
	}
	var rows int
	if err := c.QueryRow(`SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM meta WHERE key = ?1)`, masterKeyMeta).Scan(&rows); err != nil {
		return false, err
	}
	return rows == 0, nil
}

// realPath is path with its symbolic links resolved, where SQLite keeps a
// database's "-wal" and "-shm" files, and so its lock file; path itself if
// it cannot be resolved (a file yet to be made).
func realPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

// insertError maps the constraint violations an INSERT can hit to domain
// errors: a duplicate id or unique value is ECONFLICT, a missing parent row
// (the customer, the key) is ENOTFOUND naming it.
func insertError(err error, what, parent string) error {
	switch constraint(err) {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return quantumlock.Errorf(quantumlock.ECONFLICT, "%s already exists.", what)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return quantumlock.Errorf(quantumlock.ENOTFOUND, "%s not found.", parent)
	}
	return fmt.Errorf("sqlite: insert %s: %w", strings.ToLower(what), err)
}

// Times are stored as unix microseconds: exact, ordered, and the precision
// PostgreSQL keeps too.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func nullInt64(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func fromNullInt64(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}
