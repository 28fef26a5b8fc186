package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/quantumlock/quantumlock"
)

// maxBatch bounds how many license inserts share one transaction, so one
// commit's latency stays small while its cost is shared.
const maxBatch = 64

// createOp is one CreateLicense waiting for the batch writer.
type createOp struct {
	l    *quantumlock.License
	q    quantumlock.Quota
	id   int64 // keyID(l.Key)
	args []any // the insert's arguments, encoded by the caller
	used int64
	err  error
	done chan struct{}
}

// errClosed is returned to calls made after Close.
var errClosed = errors.New("sqlite: store is closed")

// batchWriter commits license inserts in groups (group commit). Every
// commit writes the WAL pages it touched, and under concurrent issuing that
// write, not the SQL, is the cost: one commit for all the inserts that
// arrived meanwhile shares it. Each insert keeps its own quota check, run
// in arrival order inside the one IMMEDIATE transaction, so the quota
// stays exact.
func (db *DB) batchWriter() {
	defer close(db.writerDone)
	for {
		var op *createOp
		select {
		case op = <-db.creates:
		case <-db.closing:
			return
		}
		batch := []*createOp{op}
	drain:
		for len(batch) < maxBatch {
			select {
			case op := <-db.creates:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		db.commitBatch(batch)
		for _, op := range batch {
			close(op.done)
		}
		// Between two transactions, after this batch has its answers.
		db.catchUpWAL()
	}
}

// commitBatch runs batch in one transaction. An insert refused by its quota,
// a duplicate key or a missing customer gets its own error and leaves no
// trace; any other failure fails the whole batch, all of whose inserts are
// then rolled back.
func (db *DB) commitBatch(batch []*createOp) {
	// The callers' contexts are not used: once queued, an insert is decided
	// and reported, so a caller never returns while its license may still
	// be committed.
	ctx := context.Background()
	failAll := func(err error) {
		for _, op := range batch {
			op.used, op.err = 0, err
		}
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		insert := tx.StmtContext(ctx, db.licenseInsert)
		bump := tx.StmtContext(ctx, db.usageBump)
		undo := tx.StmtContext(ctx, db.licenseUndo)
		for _, op := range batch {
			// The insert goes first, so the key's B-tree search is done
			// once: a duplicate key inserts nothing (ON CONFLICT DO
			// NOTHING) and is refused before the quota is counted.
			res, err := insert.ExecContext(ctx, op.args...)
			if err != nil {
				if e := insertError(err, "License", "Customer"); quantumlock.ErrorCode(e) == quantumlock.ENOTFOUND {
					// The customer is missing: the statement wrote
					// nothing.
					op.err = e
					continue
				}
				return fmt.Errorf("sqlite: insert license: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("sqlite: insert license: %w", err)
			} else if n == 0 {
				op.err = quantumlock.Errorf(quantumlock.ECONFLICT, "License already exists.")
				continue
			}
			err = bump.QueryRowContext(ctx, op.l.CustomerID, op.q.Period, op.q.Limit).Scan(&op.used)
			if errors.Is(err, sql.ErrNoRows) {
				// The quota is spent: take the license back out, inside
				// the same transaction, so nothing of it is committed.
				if _, err := undo.ExecContext(ctx, op.id); err != nil {
					return fmt.Errorf("sqlite: undo license: %w", err)
				}
				op.used = 0
				op.err = quantumlock.Errorf(quantumlock.ERATELIMIT, "Monthly limit reached (%d licenses).", op.q.Limit)
				continue
			} else if err != nil {
				return fmt.Errorf("sqlite: count license: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		failAll(err)
	}
}
