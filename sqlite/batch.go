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
	}
}

// commitBatch runs batch in one transaction. An insert refused by its quota
// or by a duplicate key gets its own error and leaves no trace; any other
// failure fails the whole batch, all of whose inserts are then rolled back.
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
		exists := tx.StmtContext(ctx, db.licenseExists)
		bump := tx.StmtContext(ctx, db.usageBump)
		insert := tx.StmtContext(ctx, db.licenseInsert)
		for _, op := range batch {
			// A duplicate key is found before the quota is counted, so a
			// refused insert needs no undo.
			var one int
			switch err := exists.QueryRowContext(ctx, op.id).Scan(&one); {
			case err == nil:
				op.err = quantumlock.Errorf(quantumlock.ECONFLICT, "License already exists.")
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("sqlite: license exists: %w", err)
			}
			err := bump.QueryRowContext(ctx, op.l.CustomerID, op.q.Period, op.q.Limit).Scan(&op.used)
			if errors.Is(err, sql.ErrNoRows) {
				op.err = quantumlock.Errorf(quantumlock.ERATELIMIT, "Monthly limit reached (%d licenses).", op.q.Limit)
				continue
			} else if err != nil {
				if e := insertError(err, "License", "Customer"); quantumlock.ErrorCode(e) == quantumlock.ENOTFOUND {
					// The usage row's customer is missing: nothing was
					// written for this insert.
					op.err = e
					continue
				}
				return fmt.Errorf("sqlite: count license: %w", err)
			}
			if _, err := insert.ExecContext(ctx, op.args...); err != nil {
				return fmt.Errorf("sqlite: insert license: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		failAll(err)
	}
}
