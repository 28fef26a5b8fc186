package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	zs "zombiezen.com/go/sqlite"
)

// pointReaders are the connections that run the two reads on every
// validation: a license by key, and an API key with its customer by hash
// (when the authentication cache cannot answer). They use
// zombiezen.com/go/sqlite, a direct binding of the same SQLite library the
// database/sql driver wraps, on statements prepared once per connection and
// read column by column. Through database/sql the same read cost twice as
// much (BenchmarkLicenseGet): the pool, the driver's rows object, which
// reads every column's name and type on every query, and a boxed value per
// column. Everything else keeps database/sql.
//
// Like the read pool, the connections are read-write opens with query_only
// set, so they share the WAL index with the others; they are closed with
// the pools, before the WAL index is released (see walIndex).
//
// A connection keeps its read transaction open from one read to the next
// while the database is quiet, which saves beginning and ending one (the
// WAL read-mark lock and unlock, two system calls) per read. The snapshot
// of a kept transaction is still the newest as long as the WAL index header
// is byte-for-byte what it was when the transaction began: every commit, in
// any process, rewrites the header before it returns. So each read first
// compares the header (see walIndex) and begins a new transaction if
// anything committed. A connection keeps its transaction only when nothing
// committed between the beginnings of its last two, so under writes every
// read ends its own, as without keeping. Open transactions hold back
// checkpoints, so the checkpointer ends them and keeps new ones from
// staying open while it runs (pause, resume).
type pointReaders struct {
	idle chan *pointConn // every connection not in use
	n    int             // connections opened
	// every is held by whoever takes every connection at once (takeAll):
	// two such takers interleaving would each hold part of the pool and
	// wait for the rest for ever.
	every   sync.Mutex
	closing chan struct{} // closed by close
	wal     *walIndex     // nil: transactions are never kept
	hold    atomic.Bool   // whether a quiet connection may keep its transaction
}

// pointConn is one connection and its prepared statements. It is used by
// one goroutine at a time: the one that took it from idle.
type pointConn struct {
	conn    *zs.Conn
	license *zs.Stmt // licenseGetSQL
	apiKey  *zs.Stmt // apiKeyByHashSQL
	begin   *zs.Stmt // BEGIN (deferred: the snapshot is taken by the first read)
	commit  *zs.Stmt // COMMIT

	open     bool       // a transaction begun with begin is open
	at, last walVersion // the header read before the open (or last) one began and before the one before; zero when unknown
}

// pointCacheSize gives each point reader a 4 MiB page cache, twice
// SQLite's default. Among a million licenses a lookup reads its leaf page
// from the OS whatever the cache; with 2 MiB the interior pages above the
// leaves (about a megabyte) were also evicted between visits, and a lookup
// made 1.16–1.20 page reads. With 4 MiB it makes 1.01; 8 MiB saved nothing
// more (BenchmarkLicenseGet's reads/op; docs/storage.md). The cost shows
// once a table outgrows the cache: the server's peak RSS under the load
// harness at a million licenses went from 58–59 to 75 MiB.
const pointCacheSize = `PRAGMA cache_size = -4096`

// licenseGetSQL reads a license by its key's id (?1) for one customer (?2).
const licenseGetSQL = `SELECT ` + licenseColumns + ` FROM licenses WHERE id = ?1 AND customer_id = ?2`

// openPointReaders opens max(4, GOMAXPROCS) connections to the database at
// path, which must exist and be migrated.
func openPointReaders(path string) (_ *pointReaders, err error) {
	n := max(4, runtime.GOMAXPROCS(0))
	p := &pointReaders{idle: make(chan *pointConn, n), closing: make(chan struct{})}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	for range n {
		c, err := zs.OpenConn(path, zs.OpenReadWrite)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open point reader: %w", err)
		}
		pc := &pointConn{conn: c}
		p.n++
		p.idle <- pc
		c.SetBusyTimeout(BusyTimeout)
		if err := execPoint(c, `PRAGMA query_only = ON`); err != nil {
			return nil, fmt.Errorf("sqlite: open point reader: %w", err)
		}
		if err := execPoint(c, pointCacheSize); err != nil {
			return nil, fmt.Errorf("sqlite: open point reader: %w", err)
		}
		for _, st := range []struct {
			dst **zs.Stmt
			q   string
		}{{&pc.license, licenseGetSQL}, {&pc.apiKey, apiKeyByHashSQL}, {&pc.begin, `BEGIN`}, {&pc.commit, `COMMIT`}} {
			if *st.dst, err = c.Prepare(st.q); err != nil {
				return nil, fmt.Errorf("sqlite: prepare: %w", err)
			}
		}
	}
	p.hold.Store(true)
	return p, nil
}

// execPoint runs one statement that returns no rows of interest.
func execPoint(c *zs.Conn, query string) error {
	st, _, err := c.PrepareTransient(query)
	if err != nil {
		return err
	}
	defer st.Finalize()
	_, err = st.Step()
	return err
}

// get takes an idle connection, waiting while all are busy (a read takes
// microseconds) until ctx ends or the store closes.
func (p *pointReaders) get(ctx context.Context) (*pointConn, error) {
	select {
	case pc := <-p.idle:
		return pc, nil
	default:
	}
	select {
	case pc := <-p.idle:
		return pc, nil
	case <-p.closing:
		return nil, errClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns a connection taken with get.
func (p *pointReaders) put(pc *pointConn) { p.idle <- pc }

// run takes a connection, gives it a read transaction whose snapshot is
// no older than the call, calls fn, and ends the transaction unless the
// connection may keep it (see pointReaders).
func (p *pointReaders) run(ctx context.Context, fn func(*pointConn) error) error {
	pc, err := p.get(ctx)
	if err != nil {
		return err
	}
	defer p.put(pc)
	// The header is read before the transaction's snapshot is taken, so a
	// transaction is never labelled newer than it is.
	v, current := p.wal.version()
	if pc.open && (!current || v != pc.at || !p.hold.Load()) {
		pc.end()
	}
	if !pc.open {
		if _, err := query(pc.begin, nil); err != nil {
			return err
		}
		pc.open = true
		if current {
			pc.last, pc.at = pc.at, v
		} else {
			pc.last, pc.at = walVersion{}, walVersion{}
		}
	}
	err = fn(pc)
	if err != nil || !current || pc.at != pc.last || !p.hold.Load() {
		pc.end()
	}
	return err
}

// end ends the connection's transaction, if one is open.
func (pc *pointConn) end() {
	if !pc.open {
		return
	}
	pc.open = false
	if _, err := query(pc.commit, nil); err != nil {
		// A read transaction has nothing to lose; make sure it is gone.
		execPoint(pc.conn, `ROLLBACK`)
	}
}

// pause ends every connection's transaction and keeps new ones from
// staying open until resume. It waits for running reads, and must not be
// called once close has been.
func (p *pointReaders) pause() {
	p.hold.Store(false)
	all := p.takeAll()
	for _, pc := range all {
		pc.end()
	}
	p.putAll(all)
}

// takeAll takes every connection, waiting for running reads, and keeps
// any other takeAll waiting until putAll. Reads (get) are not kept out.
func (p *pointReaders) takeAll() []*pointConn {
	p.every.Lock()
	all := make([]*pointConn, 0, p.n)
	for range p.n {
		all = append(all, <-p.idle)
	}
	return all
}

// putAll puts back what takeAll took and lets the next takeAll in.
func (p *pointReaders) putAll(all []*pointConn) {
	for _, pc := range all {
		p.idle <- pc
	}
	p.every.Unlock()
}

// ping reads from the database on one point reader, as a validation
// would: it fails when the pool is closed or the connection cannot read.
func (p *pointReaders) ping(ctx context.Context) error {
	return p.run(ctx, func(pc *pointConn) error {
		st, err := pc.conn.Prepare(`SELECT 1 FROM meta LIMIT 1`) // cached by the connection
		if err != nil {
			return err
		}
		_, err = query(st, nil)
		return err
	})
}

// resume lets quiet connections keep their transactions again.
func (p *pointReaders) resume() { p.hold.Store(true) }

// query runs st, already bound, and calls row (if not nil) with it if it
// returns a row. It resets st in every case, so row must copy what it
// keeps. found reports whether there was a row.
func query(st *zs.Stmt, row func(*zs.Stmt)) (found bool, err error) {
	found, err = st.Step()
	if err == nil && found && row != nil {
		row(st)
	}
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	return found && err == nil, err
}

// close makes further reads fail with errClosed, waits for the running
// ones to put their connections back, and closes every connection. It is
// safe on a partly opened pool, and must be called once.
func (p *pointReaders) close() error {
	if p == nil {
		return nil
	}
	close(p.closing)
	var errs []error
	for _, pc := range p.takeAll() { // never put back: every stays locked
		pc.end()
		errs = append(errs, pc.conn.Close()) // finalizes its statements
	}
	return errors.Join(errs...)
}
