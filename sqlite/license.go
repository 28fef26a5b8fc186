package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/quantumlock/quantumlock"
	zs "zombiezen.com/go/sqlite"
)

const licenseColumns = `key, customer_id, end_customer_id, features, metadata, generated_at, valid_until,
	signature, quantum_verified, fidelity, security_level, entropy_source, revoked_at, revocation_reason`

// licenseInsertSQL takes the licenseColumns values as ?1–?14 and the key's
// id (keyID) as ?15, and numbers the license after the customer's newest
// (an index search on licenses_customer).
const licenseInsertSQL = `INSERT INTO licenses (id, seq, ` + licenseColumns + `)
	VALUES (?15, coalesce((SELECT max(seq) FROM licenses WHERE customer_id = ?2), 0) + 1,
		?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
	ON CONFLICT (id) DO NOTHING`

// keyID returns the 48-bit integer a license key QLOCK-XXXX-XXXX-XXXX
// stands for (hex digits in either case), and reports whether key has that
// form. It is the licenses table's primary key.
func keyID(key string) (int64, bool) {
	if len(key) != 20 || !strings.EqualFold(key[:6], "QLOCK-") || key[10] != '-' || key[15] != '-' {
		return 0, false
	}
	var id int64
	for i := 6; i < 20; i++ {
		var d byte
		switch c := key[i]; {
		case i == 10 || i == 15:
			continue
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		id = id<<4 | int64(d)
	}
	return id, true
}

// usageBumpSQL counts one license in the period unless the limit (?3, 0 for
// none) is already reached, in which case it changes nothing and returns no
// row. A new period's row starts at 1, which any positive limit allows.
const usageBumpSQL = `INSERT INTO license_usage (customer_id, period, count) VALUES (?1, ?2, 1)
	ON CONFLICT (customer_id, period) DO UPDATE SET count = count + 1 WHERE ?3 <= 0 OR count < ?3
	RETURNING count`

// licenseRow is a licenses row (licenseColumns) as stored, before the
// columns that need it are decoded.
type licenseRow struct {
	l               quantumlock.License
	features        string
	generated, till int64
	fidelity        sql.NullFloat64
	revoked         sql.NullInt64
}

func scanLicense(row interface{ Scan(...any) error }) (*quantumlock.License, error) {
	var r licenseRow
	l := &r.l
	err := row.Scan(&l.Key, &l.CustomerID, &l.EndCustomerID, &r.features, (*[]byte)(&l.Metadata), &r.generated, &r.till,
		&l.Signature, &l.QuantumVerified, &r.fidelity, &l.SecurityLevel, &l.EntropySource, &r.revoked, &l.RevocationReason)
	if err != nil {
		return nil, err
	}
	return r.license()
}

// readLicense is scanLicense for a point reader's statement on its row.
func readLicense(st *zs.Stmt) *licenseRow {
	r := &licenseRow{l: quantumlock.License{
		Key:              st.ColumnText(0),
		CustomerID:       st.ColumnText(1),
		EndCustomerID:    st.ColumnText(2),
		Signature:        st.ColumnText(7),
		QuantumVerified:  st.ColumnInt64(8) != 0,
		SecurityLevel:    st.ColumnText(10),
		EntropySource:    st.ColumnText(11),
		RevocationReason: st.ColumnText(13),
	}}
	r.features = st.ColumnText(3)
	if !st.ColumnIsNull(4) {
		r.l.Metadata = make([]byte, st.ColumnLen(4))
		st.ColumnBytes(4, r.l.Metadata)
	}
	r.generated, r.till = st.ColumnInt64(5), st.ColumnInt64(6)
	r.fidelity = sql.NullFloat64{Float64: st.ColumnFloat(9), Valid: !st.ColumnIsNull(9)}
	r.revoked = sql.NullInt64{Int64: st.ColumnInt64(12), Valid: !st.ColumnIsNull(12)}
	return r
}

// license decodes the row's features and times. A features column edited
// into something that is not an array of strings reads as no features, as
// one edited to null does: the license then fails verification (validate
// answers SIGNATURE_INVALID) instead of every read that meets the row
// failing.
func (r *licenseRow) license() (*quantumlock.License, error) {
	l := &r.l
	var err error
	if l.Features, err = decodeFeatures(r.features); err != nil {
		l.Features = nil
	}
	l.GeneratedAt = fromMicros(r.generated)
	l.ValidUntil = fromMicros(r.till)
	if r.fidelity.Valid {
		f := r.fidelity.Float64
		l.Fidelity = &f
	}
	l.RevokedAt = fromNullMicros(r.revoked)
	return l, nil
}

// decodeFeatures decodes the features column, a JSON array of strings as
// json.Marshal wrote it. Arrays of plain strings (no escapes, no control
// characters, which is what feature names are) are split directly; the
// JSON decoder, with its reflection, takes everything else. The result is
// the same either way (TestDecodeFeatures).
func decodeFeatures(s string) ([]string, error) {
	switch s {
	case "null":
		return nil, nil
	case "[]":
		return []string{}, nil
	}
	if fs, ok := splitPlainStrings(s); ok {
		return fs, nil
	}
	var fs []string
	err := json.Unmarshal([]byte(s), &fs)
	return fs, err
}

// splitPlainStrings decodes s if it is exactly ["a","b",...] with no
// whitespace and no backslash, control character or invalid UTF-8 inside
// the strings; ok is false otherwise.
func splitPlainStrings(s string) (fs []string, ok bool) {
	if len(s) < 4 || s[0] != '[' || s[len(s)-1] != ']' || !utf8.ValidString(s) {
		return nil, false
	}
	inner := s[1 : len(s)-1]
	fs = make([]string, 0, strings.Count(inner, `","`)+1)
	for {
		if len(inner) < 2 || inner[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(inner[1:], '"') + 1
		if end == 0 {
			return nil, false
		}
		v := inner[1:end]
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] == '\\' {
				return nil, false
			}
		}
		fs = append(fs, v)
		inner = inner[end+1:]
		if inner == "" {
			return fs, true
		}
		if inner[0] != ',' {
			return nil, false
		}
		inner = inner[1:]
	}
}

func licenseNotFound() error {
	return quantumlock.Errorf(quantumlock.ENOTFOUND, "License not found.")
}

// CreateLicense inserts l and counts it against q in an IMMEDIATE
// transaction: the check, the count and the insert cannot interleave with
// another writer's, in this process or another, so the quota is exact.
// Concurrent calls share transactions (see batchWriter).
func (db *DB) CreateLicense(ctx context.Context, l *quantumlock.License, q quantumlock.Quota) (int64, error) {
	features, err := json.Marshal(l.Features)
	if err != nil {
		return 0, fmt.Errorf("sqlite: encode features: %w", err)
	}
	var fidelity any
	if l.Fidelity != nil {
		fidelity = *l.Fidelity
	}
	var metadata any
	if l.Metadata != nil {
		metadata = []byte(l.Metadata)
	}
	id, ok := keyID(l.Key)
	if !ok {
		return 0, quantumlock.Errorf(quantumlock.EINVALID, "License key must have the form QLOCK-XXXX-XXXX-XXXX.")
	}
	op := &createOp{l: l, q: q, id: id, done: make(chan struct{}), args: []any{
		l.Key, l.CustomerID, l.EndCustomerID, string(features), metadata, micros(l.GeneratedAt), micros(l.ValidUntil),
		l.Signature, l.QuantumVerified, fidelity, l.SecurityLevel, l.EntropySource, nullMicros(l.RevokedAt), l.RevocationReason, id,
	}}
	// A caller already gone issues nothing: select picks among ready cases
	// at random, and would queue the insert about half the time.
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	select {
	case db.creates <- op:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-db.closing:
		return 0, errClosed
	}
	<-op.done
	return op.used, op.err
}

// License returns the customer's license with key, or ENOTFOUND. It runs on
// every validation: a point reader's statement on the primary key.
func (db *DB) License(ctx context.Context, customerID, key string) (*quantumlock.License, error) {
	id, ok := keyID(key)
	if !ok {
		return nil, licenseNotFound()
	}
	var (
		r     *licenseRow
		found bool
	)
	err := db.points.run(ctx, func(pc *pointConn) (err error) {
		st := pc.license
		st.BindInt64(1, id)
		st.BindText(2, customerID)
		found, err = query(st, func(st *zs.Stmt) { r = readLicense(st) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: license: %w", err)
	} else if !found {
		return nil, licenseNotFound()
	}
	l, err := r.license()
	if err != nil {
		return nil, fmt.Errorf("sqlite: license: %w", err)
	}
	return l, nil
}

// Licenses returns one page of the filter's licenses, newest first, and the
// total number matching, both from one snapshot. A Limit of 0 or less means
// no limit; an unknown Status is EINVALID.
func (db *DB) Licenses(ctx context.Context, f quantumlock.LicenseFilter) ([]*quantumlock.License, int64, error) {
	q, err := licenseListQueries(f)
	if err != nil {
		return nil, 0, err
	}
	page := []*quantumlock.License{}
	var total int64
	err = db.read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, q.count, q.args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, q.page, q.pageArgs...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanLicense(rows)
			if err != nil {
				return err
			}
			page = append(page, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: licenses: %w", err)
	}
	return page, total, nil
}

// licenseList is the two statements of a license list: the count of the
// matching licenses, and one page of them.
type licenseList struct {
	count    string
	args     []any // count's
	page     string
	pageArgs []any // page's: count's, then the limit and the offset
}

// licenseListQueries builds f's statements, or EINVALID for an unknown
// Status. Each walks one index (TestLicenseListPlans): the customer's, an
// end customer's, or for a status alone its partial index
// (licenses_unrevoked, licenses_revoked; migration 0002). Counts read index
// entries only, or for all of the customer's licenses the kept total
// (migration 0003); a page reads its own rows, and with an end customer the
// rows of that end customer's licenses, which tell their status.
func licenseListQueries(f quantumlock.LicenseFilter) (licenseList, error) {
	var cond strings.Builder
	cond.WriteString(`customer_id = ?1`)
	args := []any{f.CustomerID}
	if f.EndCustomerID != "" {
		args = append(args, f.EndCustomerID)
		fmt.Fprintf(&cond, ` AND end_customer_id = ?%d`, len(args))
	}
	// The index is named, not left to SQLite's planner: with no statistics
	// on the data it knows nothing of how many licenses an end customer
	// has, and picked licenses_unrevoked for an end customer's active
	// licenses, which reads the row of every active license of the
	// customer to compare its end customer.
	index := "licenses_customer"
	switch f.Status {
	case "":
	case quantumlock.StatusRevoked:
		index = "licenses_revoked"
		cond.WriteString(` AND revoked_at IS NOT NULL`)
	case quantumlock.StatusExpired:
		index = "licenses_unrevoked"
		args = append(args, micros(f.Now))
		fmt.Fprintf(&cond, ` AND revoked_at IS NULL AND valid_until <= ?%d`, len(args))
	case quantumlock.StatusActive:
		index = "licenses_unrevoked"
		args = append(args, micros(f.Now))
		fmt.Fprintf(&cond, ` AND revoked_at IS NULL AND valid_until > ?%d`, len(args))
	default:
		return licenseList{}, quantumlock.Errorf(quantumlock.EINVALID, "status must be one of active, expired, revoked.")
	}
	if f.EndCustomerID != "" {
		index = "licenses_end_customer"
	}
	where := ` FROM licenses INDEXED BY ` + index + ` WHERE ` + cond.String()
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	n := len(args)
	page := fmt.Sprintf(`SELECT %s%s ORDER BY seq DESC LIMIT ?%d OFFSET ?%d`, licenseColumns, where, n+1, n+2)
	if f.Status != "" && f.EndCustomerID == "" {
		// The page's ids are chosen from the status's partial index alone,
		// whose entries hold seq and what the status needs, and then only
		// their rows are read. Asked for whole rows, before the index was
		// named, SQLite walked the customer's index reading a row per
		// entry until it had the page: every row of the customer when few
		// match, 12 s for a page of revoked licenses among a million.
		page = fmt.Sprintf(`SELECT %s FROM licenses WHERE id IN (SELECT id%s ORDER BY seq DESC LIMIT ?%d OFFSET ?%d) ORDER BY seq DESC`,
			licenseColumns, where, n+1, n+2)
	}
	count := `SELECT count(*)` + where
	if f.Status == "" && f.EndCustomerID == "" {
		count = licenseTotalSQL
	}
	return licenseList{
		count:    count,
		args:     args,
		page:     page,
		pageArgs: append(slices.Clip(args), limit, max(f.Skip, 0)),
	}, nil
}

// RevokeLicense marks the customer's license revoked at t with reason,
// unless it already is, and returns it, or ENOTFOUND.
func (db *DB) RevokeLicense(ctx context.Context, customerID, key, reason string, t time.Time) (*quantumlock.License, error) {
	id, ok := keyID(key)
	if !ok {
		return nil, licenseNotFound()
	}
	var l *quantumlock.License
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE licenses SET revoked_at = ?3, revocation_reason = ?4
			WHERE id = ?1 AND customer_id = ?2 AND revoked_at IS NULL`, id, customerID, micros(t), reason); err != nil {
			return fmt.Errorf("sqlite: revoke license: %w", err)
		}
		var err error
		l, err = scanLicense(tx.QueryRowContext(ctx, `SELECT `+licenseColumns+` FROM licenses WHERE id = ?1 AND customer_id = ?2`, id, customerID))
		if errors.Is(err, sql.ErrNoRows) {
			return licenseNotFound()
		} else if err != nil {
			return fmt.Errorf("sqlite: revoke license: %w", err)
		}
		return nil
	})
	return l, err
}

// licenseTotal is the number of a customer's (?1) licenses, kept by
// triggers (migration 0003); licenseTotalSQL selects it alone.
const (
	licenseTotal    = `coalesce((SELECT total FROM license_counts WHERE customer_id = ?1), 0)`
	licenseTotalSQL = `SELECT ` + licenseTotal
)

// licenseStatsSQL returns a customer's (?1) number of licenses issued in a
// period (?2), of all its licenses, and of those active at ?3. The first
// two are kept as licenses are written; the last reads the entries of the
// unrevoked licenses (licenses_unrevoked) and no rows. Counted from their
// rows, as before that index, stats took 6 s among a million licenses.
const licenseStatsSQL = `SELECT
	coalesce((SELECT count FROM license_usage WHERE customer_id = ?1 AND period = ?2), 0),
	` + licenseTotal + `,
	(SELECT count(*) FROM licenses INDEXED BY licenses_unrevoked WHERE customer_id = ?1 AND revoked_at IS NULL AND valid_until > ?3)`

// LicenseUsage returns the customer's count for period from its usage row,
// 0 when it has none.
func (db *DB) LicenseUsage(ctx context.Context, customerID, period string) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT coalesce((SELECT count FROM license_usage WHERE customer_id = ?1 AND period = ?2), 0)`, customerID, period).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: license usage: %w", err)
	}
	return n, nil
}

// LicenseStats returns the customer's counts for period and at now, from
// one statement and therefore one snapshot.
func (db *DB) LicenseStats(ctx context.Context, customerID, period string, now time.Time) (quantumlock.LicenseStats, error) {
	var s quantumlock.LicenseStats
	err := db.r.QueryRowContext(ctx, licenseStatsSQL, customerID, period, micros(now)).Scan(&s.IssuedInPeriod, &s.Total, &s.Active)
	if err != nil {
		return s, fmt.Errorf("sqlite: license stats: %w", err)
	}
	return s, nil
}
