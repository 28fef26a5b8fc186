package sqlite

import (
	"context"
	"fmt"
	"time"
)

// nonceSweepEvery bounds how often ConsumeNonce deletes expired nonces.
const nonceSweepEvery = time.Minute

// ConsumeNonce records nonce for the customer and reports whether it was
// new. The insert is one statement against the primary key, so of
// concurrent calls, in any process, exactly one succeeds.
//
// The interface gives no current time, so expired nonces are swept by the
// wall clock, at most once a minute: a record is only forgotten once its
// expiresAt has passed in real time, which the contract allows.
func (db *DB) ConsumeNonce(ctx context.Context, customerID string, nonce []byte, expiresAt time.Time) (bool, error) {
	if now := time.Now(); now.UnixNano()-db.nonceSweep.Load() >= int64(nonceSweepEvery) {
		db.nonceSweep.Store(now.UnixNano())
		if _, err := db.w.ExecContext(ctx, `DELETE FROM nonces WHERE expires_at <= ?1`, micros(now)); err != nil {
			db.writes.record(err)
			return false, fmt.Errorf("sqlite: sweep nonces: %w", err)
		}
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO nonces (customer_id, nonce, expires_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (customer_id, nonce) DO NOTHING`, customerID, nonce, micros(expiresAt))
	db.writes.record(err)
	if err != nil {
		return false, insertError(err, "Nonce", "Customer")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: consume nonce: %w", err)
	}
	return n == 1, nil
}
