package sqlite

import (
	"context"
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
	// checkpointRestartFrames is the WAL size (in frames, about 4 KiB
	// each) past which a PASSIVE checkpoint that could not catch up is
	// followed by a RESTART one, which waits briefly for readers so the
	// WAL starts over from its beginning instead of growing without end.
	checkpointRestartFrames = 16384
)

// checkpointer runs until Close.
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
			if frames, done := db.checkpoint("PASSIVE"); done < frames && frames > checkpointRestartFrames {
				db.checkpoint("RESTART")
			}
			db.points.resume()
		}
	}
}

// checkpoint runs one checkpoint of the given mode and returns the WAL's
// frames and how many of them are now in the database file. Errors are
// ignored: the next tick retries, and a checkpoint that fails leaves the
// database as it was.
func (db *DB) checkpoint(mode string) (frames, done int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var busy int64
	if err := db.pin.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &done); err != nil {
		return 0, 0
	}
	return frames, done
}
