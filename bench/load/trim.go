package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// generatedEndCustomer is the end customer of every license the generate
// phase issues; no seeded license has it.
const generatedEndCustomer = "ec-generated"

// trimCheckpointWait bounds how long a trim tries to checkpoint while the
// server's own checkpointer holds the lock.
const trimCheckpointWait = 30 * time.Second

// trimResult is what one trim removed and how long it took.
type trimResult struct {
	Deleted int64
	Elapsed time.Duration
}

// trimGenerated deletes the licenses the generate phase issued for
// customerID and checkpoints the WAL into the database file, so the next
// round measures a table of the seeded size again: without it, each
// generate phase (tens of thousands of licenses) grows the table, and a
// "1,000 licenses" round after the first searches a table of 30,000 or
// more. The server keeps running; this is a second process on the same
// file, as the CLI is. The statement knows the schema (sqlite/migrations):
// this is a measuring tool, not a store.
func trimGenerated(ctx context.Context, dbPath, customerID string) (trimResult, error) {
	start := time.Now()
	db, err := sql.Open("sqlite", dbPath+"?_pragma=busy_timeout(30000)")
	if err != nil {
		return trimResult{}, err
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `DELETE FROM licenses WHERE customer_id = ?1 AND end_customer_id = ?2`, customerID, generatedEndCustomer)
	if err != nil {
		return trimResult{}, fmt.Errorf("trim: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return trimResult{}, fmt.Errorf("trim: %w", err)
	}
	// Copy the deletions into the database file now, rather than have the
	// server's checkpointer do it during the next round's phases. A
	// RESTART checkpoint waits (busy_timeout) for the server's readers to
	// move to the newest snapshot, which its checkpointer makes them do;
	// but it does not wait for the checkpoint lock, which the server's
	// checkpointer holds while it copies generate's pages, so a busy
	// answer is tried again until the deadline.
	deadline := time.Now().Add(trimCheckpointWait)
	for {
		var busy, frames, done int
		if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &frames, &done); err != nil {
			return trimResult{}, fmt.Errorf("trim: checkpoint: %w", err)
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			return trimResult{}, fmt.Errorf("trim: checkpoint: still busy after %s, %d of %d frames copied", trimCheckpointWait, done, frames)
		}
		select {
		case <-ctx.Done():
			return trimResult{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return trimResult{Deleted: n, Elapsed: time.Since(start)}, nil
}
