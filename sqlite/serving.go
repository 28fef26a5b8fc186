package sqlite

import (
	"errors"
	"fmt"
)

// ErrServedElsewhere is ClaimServing's answer when another store, in this
// process or another, has claimed the database.
var ErrServedElsewhere = errors.New("another quantumlock server has this database open; stop it first, or give this one another --db")

// ClaimServing marks the store as its database's one server, until Close.
// It fails with ErrServedElsewhere, at once, while another store holds the
// claim.
//
// One server per file is the embedded store's rule because not all that a
// server enforces lives in the file: the per-minute request counts are
// the process's own (ratelimit.Memory), so two servers on one file would
// let each customer through once per server. (Sharing them across
// replicas is what a shared store and limiter are for: SPEC §1.) The
// monthly quota, counted in the file, would stay exact either way. The
// admin commands open the file beside a server, as before; they serve
// nothing.
//
// The claim is an advisory lock on a file beside the database,
// "<name>-serve", held exclusive; like the "-lock" file's, it belongs to
// the open file, so it goes with the process however that ends, and where
// the system has no such lock (see fileLock) the claim always succeeds.
func (db *DB) ClaimServing() error {
	if db.serving != nil {
		return nil
	}
	l, err := openSideLock(db.path, "-serve")
	if err != nil {
		return err
	}
	ok, err := l.try(true)
	if err != nil || !ok {
		l.f.Close()
		if err != nil {
			return fmt.Errorf("sqlite: serve lock: %w", err)
		}
		return ErrServedElsewhere
	}
	db.serving = l
	return nil
}
