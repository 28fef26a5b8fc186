package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/quantumlock/quantumlock"
)

func keyNotFound() error {
	return quantumlock.Errorf(quantumlock.ENOTFOUND, "Key not found.")
}

// keyVersionsSQL selects keys joined with their versions, ordered so that
// collectKeys can group them in one pass. Every key has a version, so the
// inner join loses none.
const keyVersionsSQL = `SELECT k.id, k.customer_id, k.algorithm, k.purpose, k.exportable, k.label, k.created_at,
		v.version, v.sealed, v.public_key, v.created_at
	FROM keys k JOIN key_versions v ON v.key_id = k.id`

func collectKeys(rows *sql.Rows) ([]*quantumlock.Key, error) {
	defer rows.Close()
	ks := []*quantumlock.Key{}
	for rows.Next() {
		var (
			k                quantumlock.Key
			v                quantumlock.KeyVersion
			kCreated, vCreat int64
		)
		if err := rows.Scan(&k.ID, &k.CustomerID, &k.Algorithm, &k.Purpose, &k.Exportable, &k.Label, &kCreated,
			&v.Version, &v.Sealed, &v.PublicKey, &vCreat); err != nil {
			return nil, err
		}
		v.CreatedAt = fromMicros(vCreat)
		if n := len(ks); n > 0 && ks[n-1].ID == k.ID {
			ks[n-1].Versions = append(ks[n-1].Versions, v)
			continue
		}
		k.CreatedAt = fromMicros(kCreated)
		k.Versions = []quantumlock.KeyVersion{v}
		ks = append(ks, &k)
	}
	return ks, rows.Err()
}

// countKeysSQL counts a customer's keys, by the keys_customer index.
const countKeysSQL = `SELECT count(*) FROM keys WHERE customer_id = ?1`

// CreateKey inserts k with its versions. ECONFLICT if the id exists,
// ENOTFOUND if the customer does not, EFORBIDDEN if the customer already
// has max keys (0: no limit).
func (db *DB) CreateKey(ctx context.Context, k *quantumlock.Key, max int) error {
	if len(k.Versions) == 0 {
		return quantumlock.Errorf(quantumlock.EINVALID, "A key needs at least one version.")
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, countKeysSQL, k.CustomerID).Scan(&n); err != nil {
				return fmt.Errorf("sqlite: count keys: %w", err)
			}
			if n >= max {
				return quantumlock.KeyLimitError(max)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO keys (id, customer_id, algorithm, purpose, exportable, label, created_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
			k.ID, k.CustomerID, k.Algorithm, k.Purpose, k.Exportable, k.Label, micros(k.CreatedAt))
		if err != nil {
			return insertError(err, "Key", "Customer")
		}
		for _, v := range k.Versions {
			if err := insertKeyVersion(ctx, tx, k.ID, v); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertKeyVersion(ctx context.Context, tx *sql.Tx, id string, v quantumlock.KeyVersion) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO key_versions (key_id, version, sealed, public_key, created_at)
		VALUES (?1, ?2, ?3, ?4, ?5)`, id, v.Version, v.Sealed, v.PublicKey, micros(v.CreatedAt))
	if err != nil {
		return insertError(err, "Key version", "Key")
	}
	return nil
}

// Key returns the customer's key with every version, or ENOTFOUND.
func (db *DB) Key(ctx context.Context, customerID, id string) (*quantumlock.Key, error) {
	rows, err := db.r.QueryContext(ctx, keyVersionsSQL+` WHERE k.id = ?1 AND k.customer_id = ?2 ORDER BY v.version`, id, customerID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: key: %w", err)
	}
	ks, err := collectKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: key: %w", err)
	}
	if len(ks) == 0 {
		return nil, keyNotFound()
	}
	return ks[0], nil
}

// Keys returns one page of the customer's keys, oldest first, each with
// its latest version only, and how many keys the customer has, both from
// one snapshot.
func (db *DB) Keys(ctx context.Context, customerID string, skip, limit int) ([]*quantumlock.Key, int64, error) {
	var (
		ks    []*quantumlock.Key
		total int64
	)
	err := db.read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, countKeysSQL, customerID).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT k.id, k.customer_id, k.algorithm, k.purpose, k.exportable, k.label, k.created_at,
				v.version, v.sealed, v.public_key, v.created_at
			FROM (SELECT rowid AS r, * FROM keys WHERE customer_id = ?1 ORDER BY created_at, rowid LIMIT ?2 OFFSET ?3) k
			JOIN key_versions v ON v.key_id = k.id
				AND v.version = (SELECT max(version) FROM key_versions WHERE key_id = k.id)
			ORDER BY k.created_at, k.r`, customerID, limit, skip)
		if err != nil {
			return err
		}
		ks, err = collectKeys(rows)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: keys: %w", err)
	}
	return ks, total, nil
}

// AddKeyVersion appends v to the customer's key if v.Version is one more
// than its latest, else ECONFLICT; ENOTFOUND if there is no such key. The
// check and the insert share one IMMEDIATE transaction, so of concurrent
// rotations exactly one wins.
func (db *DB) AddKeyVersion(ctx context.Context, customerID, id string, v quantumlock.KeyVersion) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		var latest sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT (SELECT max(version) FROM key_versions WHERE key_id = k.id)
			FROM keys k WHERE k.id = ?1 AND k.customer_id = ?2`, id, customerID).Scan(&latest)
		if errors.Is(err, sql.ErrNoRows) {
			return keyNotFound()
		} else if err != nil {
			return fmt.Errorf("sqlite: add key version: %w", err)
		}
		if int64(v.Version) != latest.Int64+1 {
			return quantumlock.Errorf(quantumlock.ECONFLICT, "Key version %d is not the next one.", v.Version)
		}
		return insertKeyVersion(ctx, tx, id, v)
	})
}

// DeleteKey removes the customer's key and, by cascade, its versions, or
// returns ENOTFOUND.
func (db *DB) DeleteKey(ctx context.Context, customerID, id string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM keys WHERE id = ?1 AND customer_id = ?2`, id, customerID)
	db.writes.record(err)
	if err != nil {
		return fmt.Errorf("sqlite: delete key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete key: %w", err)
	} else if n == 0 {
		return keyNotFound()
	}
	return nil
}
