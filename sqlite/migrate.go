package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are applied in version order, each in its own transaction, and
// recorded in schema_migrations. They are never edited once released: a
// change is a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. A file is
// named NNNN_description.sql; its version is NNNN.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s: name must start with a positive version and '_'", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("sqlite: migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		b, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// How long Open waits on the lock file (fileLock). sharedWait bounds the
// wait for another store's migrations to end: a migration over a large
// database may take a while. aloneWait bounds the wait for the other
// stores to close the database, when this one has migrations to apply: a
// running server never does, so past it the answer is to stop that one.
const (
	sharedWait = time.Minute
	aloneWait  = BusyTimeout
)

// migrate brings the schema of the database behind w up to the newest of
// ms and returns holding lk shared. Migrations run only while lk is held
// exclusive, which no store gets while another has the database open: a
// newer binary refuses to change the schema under a running older one, and
// says so, rather than leave it writing rows the new schema reads
// differently. Every round takes lk shared and reads the schema's state
// afresh, since another store may have migrated in between: two stores
// starting together on a file that needs migrating both want it alone,
// one gets it and migrates, and the other then finds nothing to do. Each
// step still checks its version inside its IMMEDIATE transaction (apply),
// so stores on a system without the lock apply every migration exactly
// once too.
func migrate(ctx context.Context, w *sql.DB, lk *fileLock, ms []migration, sharedWait, aloneWait time.Duration) error {
	latest := ms[len(ms)-1].version
	sharedBy := time.Now().Add(sharedWait)
	var aloneBy time.Time
	for {
		if ok, err := lk.wait(ctx, false, sharedBy); err != nil {
			return fmt.Errorf("sqlite: lock file: %w", err)
		} else if !ok {
			return fmt.Errorf("sqlite: another process has been migrating the database for more than %v", sharedWait)
		}
		newest, pending, err := schemaState(ctx, w, ms)
		if err != nil {
			return err
		}
		// A database migrated by a newer binary may have a schema this
		// one does not understand; refuse it rather than write rows it
		// would misread.
		if newest > latest {
			return fmt.Errorf("sqlite: database schema version %d is newer than this binary's %d", newest, latest)
		}
		if pending == 0 {
			return nil
		}
		if err := lk.unlock(); err != nil {
			return fmt.Errorf("sqlite: lock file: %w", err)
		}
		if aloneBy.IsZero() {
			aloneBy = time.Now().Add(aloneWait)
		}
		ok, err := lk.try(true)
		if err != nil {
			return fmt.Errorf("sqlite: lock file: %w", err)
		}
		if ok {
			err = applyAll(ctx, w, ms)
			if uerr := lk.unlock(); err == nil && uerr != nil {
				err = fmt.Errorf("sqlite: lock file: %w", uerr)
			}
			if err != nil {
				return err
			}
			continue
		}
		if !time.Now().Before(aloneBy) {
			return fmt.Errorf("sqlite: %d schema migration(s) to apply, but another process has the database open; stop it (an older QuantumLock must not run on the newer schema), then start this one", pending)
		}
		if err := pause(ctx); err != nil {
			return err
		}
	}
}

// schemaState returns the newest version recorded in schema_migrations
// and how many of ms are not recorded there. A database some other program
// made (ours) is an error: migrating it would add this schema's tables to
// another application's file.
func schemaState(ctx context.Context, w *sql.DB, ms []migration) (newest, pending int, err error) {
	empty, err := ours(ctx, w)
	if err != nil {
		return 0, 0, err
	}
	if empty {
		return 0, len(ms), nil
	}
	rows, err := w.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return 0, 0, fmt.Errorf("sqlite: read schema version: %w", err)
		}
		done[v] = true
		newest = max(newest, v)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	for _, m := range ms {
		if !done[m.version] {
			pending++
		}
	}
	return newest, pending, nil
}

// ours checks that the database behind q is one this package made, or is
// empty, and reports whether it is empty (no table at all). Ours has a
// schema_migrations table of this package's columns and, once version 1
// is recorded, that migration's tables. Anything else, another
// application's SQLite file with its own schema_migrations say, is
// refused, naming what is missing.
func ours(ctx context.Context, q *sql.DB) (empty bool, err error) {
	var tables, migrationsTable int
	if err := q.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE name = 'schema_migrations')
		FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&tables, &migrationsTable); err != nil {
		return false, fmt.Errorf("sqlite: read schema: %w", err)
	}
	switch {
	case tables == 0:
		return true, nil
	case migrationsTable == 0:
		return false, errors.New("sqlite: not a QuantumLock database: it has tables but no schema_migrations table")
	}
	var cols string
	if err := q.QueryRowContext(ctx, `SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_table_info('schema_migrations') ORDER BY cid)`).Scan(&cols); err != nil {
		return false, fmt.Errorf("sqlite: read schema: %w", err)
	}
	if cols != "version,applied_at" {
		return false, fmt.Errorf("sqlite: not a QuantumLock database: its schema_migrations table has columns %s, not version,applied_at", cols)
	}
	var first, have int
	if err := q.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM schema_migrations WHERE version = 1),
		(SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('customers', 'api_keys', 'licenses', 'meta'))`).Scan(&first, &have); err != nil {
		return false, fmt.Errorf("sqlite: read schema: %w", err)
	}
	if first == 1 && have != 4 {
		return false, errors.New("sqlite: not a QuantumLock database: schema version 1 is recorded but its tables are not all there")
	}
	return false, nil
}

// applyAll applies every migration of ms not yet applied, in order.
func applyAll(ctx context.Context, w *sql.DB, ms []migration) error {
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := apply(ctx, w, m, ms[len(ms)-1].version); err != nil {
			return err
		}
	}
	return nil
}

// apply runs m unless it has run, in one IMMEDIATE transaction that also
// checks again that no newer binary has migrated past latest since the
// check in migrate: one starting at the same moment could have.
func apply(ctx context.Context, w *sql.DB, m migration, latest int) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	defer tx.Rollback()
	var n int
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE version = ?1), max(version) FROM schema_migrations`, m.version).Scan(&n, &newest); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if newest.Valid && newest.Int64 > int64(latest) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary's %d", newest.Int64, latest)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)`,
		m.version, micros(time.Now())); err != nil {
		return fmt.Errorf("sqlite: record migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	return nil
}
