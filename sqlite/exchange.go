package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/quantumlock/quantumlock"
)

const exchangeColumns = `id, customer_id, algorithm, key_bits, public_key, sealed, peer_public_key, created_at, expires_at`

// deleteExpiredSessions deletes the sessions expired at ?1.
const deleteExpiredSessions = `DELETE FROM exchange_sessions WHERE expires_at <= ?1`

func exchangeNotFound() error {
	return quantumlock.Errorf(quantumlock.ENOTFOUND, "Key exchange session not found.")
}

// CreateExchangeSession inserts s, ECONFLICT if its id or public key
// exists. Sessions that expired before s was created are deleted in the same
// transaction: Take never returns them, so nothing else would.
func (db *DB) CreateExchangeSession(ctx context.Context, s *quantumlock.ExchangeSession) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, deleteExpiredSessions, micros(s.CreatedAt)); err != nil {
			return fmt.Errorf("sqlite: sweep exchange sessions: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO exchange_sessions (`+exchangeColumns+`) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`,
			s.ID, s.CustomerID, s.Algorithm, s.KeyBits, s.PublicKey, s.Sealed, s.PeerPublicKey, micros(s.CreatedAt), micros(s.ExpiresAt))
		if err != nil {
			return insertError(err, "Key exchange session", "Customer")
		}
		return nil
	})
}

// SetExchangePeer records peer on the unexpired, unanswered session whose
// public key is publicKey, and whose key bits are keyBits unless that is
// zero, and reports whether it did, with the key bits of the unexpired
// session with that public key, answered or not (zero if none). One
// conditional UPDATE records: of concurrent answers exactly one lands.
func (db *DB) SetExchangePeer(ctx context.Context, publicKey, peer []byte, keyBits int, now time.Time) (bits int, recorded bool, err error) {
	if len(peer) == 0 {
		return 0, false, quantumlock.Errorf(quantumlock.EINVALID, "The peer public key is empty.")
	}
	err = db.w.QueryRowContext(ctx, `UPDATE exchange_sessions SET peer_public_key = ?2
		WHERE public_key = ?1 AND peer_public_key IS NULL AND expires_at > ?3 AND (?4 = 0 OR key_bits = ?4)
		RETURNING key_bits`, publicKey, peer, micros(now), keyBits).Scan(&bits)
	db.writes.record(err)
	if err == nil {
		return bits, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("sqlite: set exchange peer: %w", err)
	}
	// Not recorded: answered already, or for other key bits, or no such
	// session. Its key bits, if it is there.
	err = db.r.QueryRowContext(ctx, `SELECT key_bits FROM exchange_sessions WHERE public_key = ?1 AND expires_at > ?2`,
		publicKey, micros(now)).Scan(&bits)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("sqlite: exchange session key bits: %w", err)
	}
	return bits, false, nil
}

// sessionByID and sessionByPeer select the customer's unexpired session
// by its id, or by the peer recorded on it (the oldest, should two have
// the same).
const (
	sessionByID   = `id = ?1 AND customer_id = ?2 AND expires_at > ?3`
	sessionByPeer = `id = (SELECT id FROM exchange_sessions
		WHERE customer_id = ?2 AND peer_public_key = ?1 AND expires_at > ?3
		ORDER BY created_at LIMIT 1)`
)

// ExchangeSession returns the session TakeExchangeSession would take,
// leaving it in place, or ENOTFOUND.
func (db *DB) ExchangeSession(ctx context.Context, customerID, id string, peer []byte, now time.Time) (*quantumlock.ExchangeSession, error) {
	return db.session(ctx, false, customerID, id, peer, now)
}

// TakeExchangeSession deletes and returns the customer's unexpired session
// with id, or when id is empty the one whose recorded peer is peer, or
// returns ENOTFOUND. DELETE … RETURNING makes the take a single statement:
// of concurrent calls exactly one gets the row.
func (db *DB) TakeExchangeSession(ctx context.Context, customerID, id string, peer []byte, now time.Time) (*quantumlock.ExchangeSession, error) {
	return db.session(ctx, true, customerID, id, peer, now)
}

// DeleteExpiredExchangeSessions deletes the sessions expired at now, and
// with them their sealed private values: an expired session can never be
// finished, and its private value should not outlive it in the file and
// its backups. The expiry index makes it one probe when nothing is due.
func (db *DB) DeleteExpiredExchangeSessions(ctx context.Context, now time.Time) error {
	if _, err := db.w.ExecContext(ctx, deleteExpiredSessions, micros(now)); err != nil {
		db.writes.record(err)
		return fmt.Errorf("sqlite: sweep exchange sessions: %w", err)
	}
	return nil
}

// session reads, or when take deletes, the customer's unexpired session
// of id, or of peer when id is empty, on the writer (so that a read after
// a take sees it).
func (db *DB) session(ctx context.Context, take bool, customerID, id string, peer []byte, now time.Time) (*quantumlock.ExchangeSession, error) {
	where, key := sessionByID, any(id)
	switch {
	case id != "":
	case len(peer) > 0:
		where, key = sessionByPeer, peer
	default:
		return nil, exchangeNotFound()
	}
	q := `SELECT ` + exchangeColumns + ` FROM exchange_sessions WHERE ` + where
	if take {
		q = `DELETE FROM exchange_sessions WHERE ` + where + ` RETURNING ` + exchangeColumns
	}
	row := db.w.QueryRowContext(ctx, q, key, customerID, micros(now))
	var (
		s                quantumlock.ExchangeSession
		created, expires int64
	)
	err := row.Scan(&s.ID, &s.CustomerID, &s.Algorithm, &s.KeyBits, &s.PublicKey, &s.Sealed, &s.PeerPublicKey, &created, &expires)
	if take {
		db.writes.record(err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, exchangeNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: exchange session: %w", err)
	}
	s.CreatedAt = fromMicros(created)
	s.ExpiresAt = fromMicros(expires)
	return &s, nil
}
