package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/quantumlock/quantumlock"
	zs "zombiezen.com/go/sqlite"
)

const customerColumns = `id, name, email, plan, licenses_per_month, requests_per_minute, created_at`

func scanCustomer(row interface{ Scan(...any) error }) (*quantumlock.Customer, error) {
	var (
		c        quantumlock.Customer
		lpm, rpm sql.NullInt64
		created  int64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.Email, &c.Plan, &lpm, &rpm, &created); err != nil {
		return nil, err
	}
	c.LicensesPerMonth = fromNullInt64(lpm)
	c.RequestsPerMinute = fromNullInt64(rpm)
	c.CreatedAt = fromMicros(created)
	return &c, nil
}

func customerNotFound() error {
	return quantumlock.Errorf(quantumlock.ENOTFOUND, "Customer not found.")
}

// execer runs a statement: the writer pool, or a transaction on it.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// CreateCustomer inserts c. ECONFLICT if the id exists.
func (db *DB) CreateCustomer(ctx context.Context, c *quantumlock.Customer) error {
	return insertCustomer(ctx, db.w, c)
}

func insertCustomer(ctx context.Context, ex execer, c *quantumlock.Customer) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO customers (`+customerColumns+`) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
		c.ID, c.Name, c.Email, string(c.Plan), nullInt64(c.LicensesPerMonth), nullInt64(c.RequestsPerMinute), micros(c.CreatedAt))
	if err != nil {
		return insertError(err, "Customer", "Customer")
	}
	return nil
}

// Customer returns the customer with id, or ENOTFOUND.
func (db *DB) Customer(ctx context.Context, id string) (*quantumlock.Customer, error) {
	c, err := scanCustomer(db.customerGet.QueryRowContext(pointRead(ctx), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, customerNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: customer: %w", err)
	}
	return c, nil
}

// Customers returns every customer, oldest first.
func (db *DB) Customers(ctx context.Context) ([]*quantumlock.Customer, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+customerColumns+` FROM customers ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: customers: %w", err)
	}
	defer rows.Close()
	cs := []*quantumlock.Customer{}
	for rows.Next() {
		c, err := scanCustomer(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: customers: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: customers: %w", err)
	}
	return cs, nil
}

// UpdateCustomer applies upd to the customer with id and returns it, or
// ENOTFOUND. One statement, so concurrent updates of different fields both
// land.
func (db *DB) UpdateCustomer(ctx context.Context, id string, upd quantumlock.CustomerUpdate) (*quantumlock.Customer, error) {
	var plan any
	if upd.Plan != nil {
		plan = string(*upd.Plan)
	}
	c, err := scanCustomer(db.w.QueryRowContext(ctx, `UPDATE customers SET
			plan = coalesce(?2, plan),
			licenses_per_month = CASE WHEN ?5 THEN NULL ELSE coalesce(?3, licenses_per_month) END,
			requests_per_minute = CASE WHEN ?6 THEN NULL ELSE coalesce(?4, requests_per_minute) END
		WHERE id = ?1 RETURNING `+customerColumns,
		id, plan, nullInt64(upd.LicensesPerMonth), nullInt64(upd.RequestsPerMinute),
		upd.ResetLicensesPerMonth, upd.ResetRequestsPerMinute))
	db.writes.record(err)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, customerNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: update customer: %w", err)
	}
	return c, nil
}

const apiKeyColumns = `id, customer_id, hash, hint, created_at, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (*quantumlock.APIKey, error) {
	var (
		k       quantumlock.APIKey
		created int64
		revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.CustomerID, &k.Hash, &k.Hint, &created, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromNullMicros(revoked)
	return &k, nil
}

func apiKeyNotFound() error {
	return quantumlock.Errorf(quantumlock.ENOTFOUND, "API key not found.")
}

// CreateAPIKey inserts k. ENOTFOUND if its customer does not exist,
// ECONFLICT if its id or hash exists.
func (db *DB) CreateAPIKey(ctx context.Context, k *quantumlock.APIKey) error {
	return insertAPIKey(ctx, db.w, k)
}

func insertAPIKey(ctx context.Context, ex execer, k *quantumlock.APIKey) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
		k.ID, k.CustomerID, k.Hash, k.Hint, micros(k.CreatedAt), nullMicros(k.RevokedAt))
	if err != nil {
		return insertError(err, "API key", "Customer")
	}
	return nil
}

// CreateCustomerWithKey inserts c and its first API key k in one
// transaction. ECONFLICT if c's id, or k's id or hash, exists; then
// neither is stored.
func (db *DB) CreateCustomerWithKey(ctx context.Context, c *quantumlock.Customer, k *quantumlock.APIKey) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if err := insertCustomer(ctx, tx, c); err != nil {
			return err
		}
		return insertAPIKey(ctx, tx, k)
	})
}

// apiKeyByHashSQL reads a key and its customer in one statement: it runs on
// every authenticated request, and one read transaction instead of two is
// a tenth of a validate's CPU. The hash is not read back. The last column
// is the auth epoch in the same snapshot, which the authentication cache
// keeps with the answer (see authCache); NULL if its row is missing.
const apiKeyByHashSQL = `SELECT k.id, k.customer_id, k.hint, k.created_at, k.revoked_at,
	c.id, c.name, c.email, c.plan, c.licenses_per_month, c.requests_per_minute, c.created_at,
	(SELECT n FROM auth_epoch WHERE id = 1)
	FROM api_keys k JOIN customers c ON c.id = k.customer_id WHERE k.hash = ?1`

// authEpochSQL reads the auth epoch, and schemaVersionSQL the schema's
// version, which every change to the schema moves on. (The pragma as a
// statement of its own costs a fraction of pragma_schema_version in a
// subquery, which made the epoch's read four times dearer.)
const (
	authEpochSQL     = `SELECT n FROM auth_epoch WHERE id = 1`
	schemaVersionSQL = `PRAGMA schema_version`
)

// authTriggersSQL counts the triggers that move the auth epoch on (migration
// 0004) as that migration made them: on their tables, with their
// statement. SQLite drops a table's triggers with the table, so rebuilding
// api_keys or customers the way SQLite documents for schema changes
// (create, copy, drop, rename) leaves changes to it unseen by the epoch.
const authTriggersSQL = `SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'
	AND ((tbl_name = 'api_keys' AND name IN ('api_keys_inserted_epoch', 'api_keys_updated_epoch', 'api_keys_deleted_epoch'))
	  OR (tbl_name = 'customers' AND name IN ('customers_inserted_epoch', 'customers_updated_epoch', 'customers_deleted_epoch')))
	AND sql LIKE '%UPDATE auth_epoch SET n = n + 1 WHERE id = 1;%'`

// authTriggerCount is how many triggers authTriggersSQL must count.
const authTriggerCount = 6

// APIKeyByHash returns the key whose hash is hash, revoked or not, and its
// customer, or ENOTFOUND. One indexed lookup on a point reader, or none
// while no key and no customer has changed since the same key was last
// read (see authCache).
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (*quantumlock.APIKey, *quantumlock.Customer, error) {
	// The version is read before anything else, so neither an epoch nor a
	// row is ever taken for older than it is.
	v, current := db.wal.version()
	cache := current && db.auth != nil
	if cache {
		if e := db.auth.entry(hash); e != nil {
			ch, ok := db.auth.checkedAt(v)
			if !ok {
				// Something committed since the last check: whether it
				// touched keys or customers is one small read, shared by
				// every lookup until the next commit. A failed read falls
				// through to the row's own read, which will say why.
				db.auth.epochReads.Add(1)
				if ch, ok = db.readAuthEpoch(ctx, v); ok {
					db.auth.check(ch)
				}
			}
			if ok && e.stamp == ch.stamp {
				db.auth.hits.Add(1)
				k, c := e.answer()
				return k, c, nil
			}
		}
		db.auth.misses.Add(1)
	}
	k, c, at, hasEpoch, err := db.readAPIKeyByHash(ctx, hash)
	if db.afterRowRead != nil {
		db.afterRowRead()
	}
	// A revoked key is not kept: refused from memory, it would be refused
	// faster than an unknown key, and its holder could tell by timing that
	// it once was valid. (The row's read checks no triggers, so it records
	// no check: the next lookup after it reads the epoch.)
	if err == nil && cache && hasEpoch && k.RevokedAt == nil {
		db.auth.put(at, k, c)
	}
	return k, c, err
}

// readAuthEpoch reads the auth epoch and the schema's version on a point
// reader, after the WAL index version v was read; ok is false if they
// could not be read, or if the epoch cannot be trusted.
//
// The epoch is trusted only while every trigger that moves it on is in
// place: they are counted again, in the same snapshot, whenever the
// schema's version differs from the one they were last counted at. An
// answer is kept only while the schema's version is the one it was read
// at too, so that a change made while the triggers were missing (dropped,
// then made again) is never hidden behind an epoch that did not move.
func (db *DB) readAuthEpoch(ctx context.Context, v walVersion) (ch epochCheck, ok bool) {
	ch.version = v
	err := db.points.run(ctx, func(pc *pointConn) error {
		found, err := query(pc.authEpoch, func(st *zs.Stmt) {
			ok = !st.ColumnIsNull(0)
			ch.epoch = st.ColumnInt64(0)
		})
		if err != nil || !found || !ok {
			ok = false
			return err
		}
		// In the same transaction, so of the same snapshot.
		if found, err = query(pc.schemaVersion, func(st *zs.Stmt) { ch.schema = st.ColumnInt64(0) }); err != nil || !found {
			ok = false
			return err
		}
		schema := ch.schema
		if tc := db.auth.triggers.Load(); tc != nil && tc.schema == schema {
			ok = tc.complete
			return nil
		}
		st, err := pc.conn.Prepare(authTriggersSQL) // cached by the connection
		if err != nil {
			ok = false
			return err
		}
		var n int64
		if _, err := query(st, func(st *zs.Stmt) { n = st.ColumnInt64(0) }); err != nil {
			ok = false
			return err
		}
		ok = n == authTriggerCount
		db.auth.triggers.Store(&triggerCheck{schema: schema, complete: ok})
		return nil
	})
	return ch, ok && err == nil
}

// readAPIKeyByHash is APIKeyByHash's database read, with the auth epoch
// and the schema's version it was made at. hasEpoch is false when the
// auth epoch's row is missing.
func (db *DB) readAPIKeyByHash(ctx context.Context, hash []byte) (_ *quantumlock.APIKey, _ *quantumlock.Customer, at stamp, hasEpoch bool, _ error) {
	var (
		k                 quantumlock.APIKey
		c                 quantumlock.Customer
		created, cCreated int64
		revoked, lpm, rpm sql.NullInt64
	)
	var found bool
	err := db.points.run(ctx, func(pc *pointConn) (err error) {
		st := pc.apiKey
		st.BindBytes(1, hash)
		found, err = query(st, func(st *zs.Stmt) {
			k.ID, k.CustomerID, k.Hint = st.ColumnText(0), st.ColumnText(1), st.ColumnText(2)
			created = st.ColumnInt64(3)
			revoked = sql.NullInt64{Int64: st.ColumnInt64(4), Valid: !st.ColumnIsNull(4)}
			c.ID, c.Name, c.Email, c.Plan = st.ColumnText(5), st.ColumnText(6), st.ColumnText(7), quantumlock.Plan(st.ColumnText(8))
			lpm = sql.NullInt64{Int64: st.ColumnInt64(9), Valid: !st.ColumnIsNull(9)}
			rpm = sql.NullInt64{Int64: st.ColumnInt64(10), Valid: !st.ColumnIsNull(10)}
			cCreated = st.ColumnInt64(11)
			at.epoch, hasEpoch = st.ColumnInt64(12), !st.ColumnIsNull(12)
		})
		if err != nil || !found || !hasEpoch {
			return err
		}
		// In the same transaction, so of the same snapshot.
		_, err = query(pc.schemaVersion, func(st *zs.Stmt) { at.schema = st.ColumnInt64(0) })
		return err
	})
	if err != nil {
		return nil, nil, stamp{}, false, fmt.Errorf("sqlite: api key by hash: %w", err)
	} else if !found {
		return nil, nil, stamp{}, false, apiKeyNotFound()
	}
	k.Hash = append([]byte(nil), hash...)
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromNullMicros(revoked)
	c.LicensesPerMonth = fromNullInt64(lpm)
	c.RequestsPerMinute = fromNullInt64(rpm)
	c.CreatedAt = fromMicros(cCreated)
	return &k, &c, at, hasEpoch, nil
}

// APIKeys returns the customer's keys, oldest first.
func (db *DB) APIKeys(ctx context.Context, customerID string) ([]*quantumlock.APIKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE customer_id = ?1 ORDER BY created_at, rowid`, customerID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: api keys: %w", err)
	}
	defer rows.Close()
	ks := []*quantumlock.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: api keys: %w", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: api keys: %w", err)
	}
	return ks, nil
}

// RevokeAPIKey marks the key revoked at t unless it already is, and
// returns it, or ENOTFOUND.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, t time.Time) (*quantumlock.APIKey, error) {
	var k *quantumlock.APIKey
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL`, id, micros(t)); err != nil {
			return fmt.Errorf("sqlite: revoke api key: %w", err)
		}
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return apiKeyNotFound()
		} else if err != nil {
			return fmt.Errorf("sqlite: revoke api key: %w", err)
		}
		return nil
	})
	return k, err
}
