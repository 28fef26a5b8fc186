package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"

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
type pointReaders struct {
	idle    chan *pointConn // every connection not in use
	n       int             // connections opened
	closing chan struct{}   // closed by close
}

// pointConn is one connection and its prepared statements. It is used by
// one goroutine at a time: the one that took it from idle.
type pointConn struct {
	conn    *zs.Conn
	license *zs.Stmt // licenseGetSQL
	apiKey  *zs.Stmt // apiKeyByHashSQL
}

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
		if pc.license, err = c.Prepare(licenseGetSQL); err != nil {
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		if pc.apiKey, err = c.Prepare(apiKeyByHashSQL); err != nil {
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
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

// query runs st, already bound, and calls row with it if it returns a
// row. It resets st in every case, which ends the read transaction, so
// row must copy what it keeps. found reports whether there was a row.
func query(st *zs.Stmt, row func(*zs.Stmt)) (found bool, err error) {
	found, err = st.Step()
	if err == nil && found {
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
	for range p.n {
		pc := <-p.idle
		errs = append(errs, pc.conn.Close()) // finalizes its statements
	}
	return errors.Join(errs...)
}
