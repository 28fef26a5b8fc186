package sqlite

import (
	"context"
	"database/sql"
	"fmt"
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
	// settleRounds bounds the sync-and-checkpoint rounds before a
	// catch-up, and settleShort is the round short enough to stop after
	// (see settle).
	settleRounds = 6
	settleShort  = 10 * time.Millisecond
	// restartWait bounds how long a RESTART checkpoint waits for readers
	// and the write lock, far below BusyTimeout: an insert queued behind
	// it is late, never refused. restartBackoff spaces out the attempts
	// after one that did not fold the whole WAL in.
	restartWait    = 250 * time.Millisecond
	restartBackoff = 2 * time.Second
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
// which catches up between two of its own transactions (catchUpWAL), after
// leaving it little to catch up with (settle). Readers that keep using the
// WAL keep it from starting over even so; past eight times the threshold
// the checkpointer tries a RESTART checkpoint, which waits for them, for a
// bounded time (restart).
func (db *DB) checkpointer() {
	defer close(db.checkpointDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var restartAfter time.Time
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
			if frames, _, _ := db.checkpoint("PASSIVE"); frames > db.wrapFrames.Load() {
				restartAfter = db.startOver(frames, restartAfter)
				// A tick that fell due meanwhile would checkpoint at
				// once, and the writer's catch-up, finding a
				// checkpoint under way, would fail.
				t.Reset(checkpointEvery)
			}
			db.points.resume()
		}
	}
}

// startOver has the WAL of frames start over from its beginning: it
// settles, tries a RESTART checkpoint if the WAL is past restartFrames and
// no failed attempt is more recent than restartAfter allows, and otherwise
// asks the batch writer to catch up. It returns when the next RESTART may
// be tried.
func (db *DB) startOver(frames int64, restartAfter time.Time) time.Time {
	db.settle()
	if frames > db.restartFrames.Load() && time.Now().After(restartAfter) {
		// The writer's catch-ups have not started the WAL over: readers
		// kept using it.
		if db.restart() {
			return restartAfter
		}
		restartAfter = time.Now().Add(restartBackoff)
	}
	db.wrapWAL.Store(true)
	return restartAfter
}

// settle leaves the writer's catch-up little to do. A checkpoint syncs the
// database file only when it reaches the end of the WAL, which under
// sustained issuing only the writer's catch-up does, so that sync used to
// write out every page the checkpointer had copied since the last one: 26
// to 85 ms of a catch-up's 67 to 120 among a million licenses, while every
// insert waited (docs/storage.md). Here the checkpointer syncs the file
// itself, on its own time, then folds in the frames committed meanwhile,
// and repeats while a round takes long enough for much to pile up. Each
// round has less to sync and copy than the one before, as long as both go
// faster than issuing writes.
func (db *DB) settle() {
	for range settleRounds {
		start := time.Now()
		if db.wal.syncDatabase() != nil {
			return
		}
		db.checkpoint("PASSIVE")
		if time.Since(start) < settleShort {
			return
		}
	}
}

// restart runs a RESTART checkpoint, which takes the write lock and waits
// for every reader to move past the WAL, so that the next transaction
// starts it over, and reports whether it folded the whole WAL in. Its wait
// is bounded by restartWait: readers that keep overlapping can starve it
// (SQLite waits for the one read-mark slot they keep reusing), and with
// the connection's usual timeout it held the write lock for 5 s, until
// inserts waiting for it failed (TestWALWrapsUnderOverlappingReads).
func (db *DB) restart() bool {
	ctx := context.Background()
	if _, err := db.pin.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", restartWait.Milliseconds())); err != nil {
		return false
	}
	defer db.pin.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", BusyTimeout.Milliseconds()))
	_, _, busy := db.checkpoint("RESTART")
	return !busy
}

// catchUpWAL runs on the batch writer, between its transactions, when the
// checkpointer has asked for it: a PASSIVE checkpoint on the writer's own
// connection folds in the frames committed since the checkpointer's last
// one (a few milliseconds of inserts, after settle), and with no commit in
// between, the writer's next transaction begins with every frame folded in
// and writes its own from the start of the WAL. Inserts wait for it, as
// for one more commit. A reader still using the WAL at that moment makes
// the WAL grow on, and the checkpointer asks again on its next tick.
func (db *DB) catchUpWAL() {
	if db.wrapWAL.Swap(false) {
		if _, _, busy := checkpointOn(db.w, "PASSIVE", db.writes.record); busy {
			// Another checkpoint was under way (another process's,
			// say): try again after the next batch.
			db.wrapWAL.Store(true)
		}
	}
}

// checkpoint runs one checkpoint of the given mode on the checkpointer's
// connection (see checkpointOn).
func (db *DB) checkpoint(mode string) (frames, done int64, busy bool) {
	return checkpointOn(db.pin, mode, db.writes.record)
}

// checkpointOn runs one checkpoint of the given mode on q and returns the
// WAL's frames, how many of them are now in the database file, and whether
// the checkpoint could not do all its mode asks: another checkpoint was
// under way, or a FULL, RESTART or TRUNCATE one gave up waiting for
// readers or the writer, or it failed. Errors are otherwise ignored: the
// next tick retries, and a checkpoint that fails leaves the database as it
// was.
func checkpointOn(q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, mode string, record func(error)) (frames, done int64, busy bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var blocked int64
	if err := q.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&blocked, &frames, &done); err != nil {
		record(err) // copying pages into a file that cannot grow fails too
		return 0, 0, true
	}
	return frames, done, blocked != 0
}
