package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpointing moves pages from the WAL back into the database file. By
// default SQLite does it inside whichever commit pushes the WAL past 1000
// pages, so one license insert in a few hundred paid for copying and
// fsyncing them all (a tenth of the server's CPU under issuing load, and
// its worst latencies). The writer connection has automatic checkpoints
// off; this goroutine checkpoints on its own connection instead, PASSIVE so
// it never blocks readers or the writer.
const (
	checkpointEvery = 250 * time.Millisecond
	// checkpointWrapFrames is the WAL size (in frames, about 4 KiB each)
	// past which the batch writer itself folds the WAL in before its next
	// transaction, so that the WAL starts over from its beginning (see
	// catchUpWAL).
	checkpointWrapFrames = 16384
)

// checkpointer runs until Close.
//
// A PASSIVE checkpoint folds in every frame committed before it began, but
// the WAL starts over from its beginning only when a write transaction
// begins while every frame is folded in and no reader uses the WAL. Under
// sustained issuing the batch writer commits every few milliseconds, also
// while a checkpoint runs, so that moment never comes and the WAL grew
// without bound: 1.7 GiB in 15 s of 22,000 licenses a second among a
// million (docs/storage.md). A RESTART checkpoint forces the moment, but it
// must first win the write lock from a writer that is nearly always
// holding it, and waited up to 2.6 s for it while the WAL grew, then
// stalled every insert while it copied what had piled up. So past
// checkpointWrapFrames the checkpointer asks the batch writer instead,
// which catches up between two of its own transactions (catchUpWAL).
func (db *DB) checkpointer() {
	defer close(db.checkpointDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-db.closing:
			// Leave the WAL folded in for the next start.
			db.points.pause()
			db.checkpoint("PASSIVE")
			return
		case <-t.C:
			// The point readers' open transactions would hold the
			// checkpoint back (see pointReaders).
			db.points.pause()
			frames, _ := db.checkpoint("PASSIVE")
			if wrap := db.wrapFrames.Load(); frames > wrap {
				db.wrapWAL.Store(true)
				if frames > 8*wrap {
					// The writer's catch-ups have not started the WAL
					// over: readers kept using it. A RESTART waits
					// for them, and for the write lock.
					db.checkpoint("RESTART")
				}
			}
			db.points.resume()
		}
	}
}

// catchUpWAL runs on the batch writer, between its transactions, when the
// checkpointer has asked for it: a PASSIVE checkpoint on the writer's own
// connection folds in the frames committed since the checkpointer's last
// one (a quarter of a second of inserts at most), and with no commit in
// between, the writer's next transaction begins with every frame folded in
// and writes its own from the start of the WAL. Inserts wait for it, as
// for one more commit. A reader still using the WAL at that moment makes
// the WAL grow on, and the checkpointer asks again on its next tick.
func (db *DB) catchUpWAL() {
	if db.wrapWAL.Swap(false) {
		checkpointOn(db.w, "PASSIVE")
	}
}

// checkpoint runs one checkpoint of the given mode on the checkpointer's
// connection (see checkpointOn).
func (db *DB) checkpoint(mode string) (frames, done int64) {
	return checkpointOn(db.pin, mode)
}

// checkpointOn runs one checkpoint of the given mode on q and returns the
// WAL's frames and how many of them are now in the database file. Errors
// are ignored: the next tick retries, and a checkpoint that fails leaves
// the database as it was.
func checkpointOn(q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, mode string) (frames, done int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var busy int64
	if err := q.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &done); err != nil {
		return 0, 0
	}
	return frames, done
}
