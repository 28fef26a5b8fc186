package sqlite

import (
	"context"
	"database/sql"
	"embed"
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

// migrate brings the schema of the database behind w up to date. Each step
// checks its version inside its IMMEDIATE transaction, so a server and a
// CLI starting together on a new file apply every migration exactly once.
func migrate(ctx context.Context, w *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := w.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	// A database migrated by a newer binary may have a schema this one does
	// not understand; refuse it rather than write rows it would misread.
	if latest := ms[len(ms)-1].version; newest.Valid && newest.Int64 > int64(latest) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary's %d", newest.Int64, latest)
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
