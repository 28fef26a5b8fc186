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
// a tenth of a validate's CPU. The hash is not read back.
const apiKeyByHashSQL = `SELECT k.id, k.customer_id, k.hint, k.created_at, k.revoked_at,
	c.id, c.name, c.email, c.plan, c.licenses_per_month, c.requests_per_minute, c.created_at
	FROM api_keys k JOIN customers c ON c.id = k.customer_id WHERE k.hash = ?1`

// APIKeyByHash returns the key whose hash is hash, revoked or not, and its
// customer, or ENOTFOUND. One indexed lookup on a point reader, or
// none while nothing has committed since the same key was last read (see
// authCache).
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (*quantumlock.APIKey, *quantumlock.Customer, error) {
	// The version is read before the row, so a row cached with it is never
	// older than the version says.
	v, current := db.wal.version()
	if current && db.auth != nil {
		if k, c, ok := db.auth.get(hash, v); ok {
			return k, c, nil
		}
	}
	k, c, err := db.readAPIKeyByHash(ctx, hash)
	if db.afterRowRead != nil {
		db.afterRowRead()
	}
	// A revoked key is not kept: refused from memory, it would be refused
	// faster than an unknown key, and its holder could tell by timing
	// that it once was valid.
	if err == nil && current && db.auth != nil && k.RevokedAt == nil {
		db.auth.put(v, k, c)
	}
	return k, c, err
}

// readAPIKeyByHash is APIKeyByHash's database read.
func (db *DB) readAPIKeyByHash(ctx context.Context, hash []byte) (*quantumlock.APIKey, *quantumlock.Customer, error) {
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
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: api key by hash: %w", err)
	} else if !found {
		return nil, nil, apiKeyNotFound()
	}
	k.Hash = append([]byte(nil), hash...)
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromNullMicros(revoked)
	c.LicensesPerMonth = fromNullInt64(lpm)
	c.RequestsPerMinute = fromNullInt64(rpm)
	c.CreatedAt = fromMicros(cCreated)
	return &k, &c, nil
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
