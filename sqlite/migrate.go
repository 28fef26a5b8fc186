package sqlite

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Migrations are applied in version order, each in its own transaction, and
// recorded in schema_migrations. They are never edited once released: a
// change is a new file. Every open checks that the schema is the one its
// recorded versions make (checkSchema), so a database whose schema is
// something else is refused before anything in it is changed.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// withdrawn are migrations that shipped and were then taken back; sql is
// what undoes each. A database that recorded one has it undone, in a
// transaction of its own, before any migration is applied, and its version
// is never used again.
//
// Version 4 kept cached API-key answers across commits that changed no key
// or customer, by triggers moving a counter (commits a3828c9 to 305a0a2,
// reverted in c441dea): a revocation must not depend on triggers firing,
// which a connection can switch off.
var withdrawn = []migration{{
	version: 4,
	name:    "0004_auth_epoch.sql",
	sql: `DROP TRIGGER IF EXISTS api_keys_inserted_epoch;
DROP TRIGGER IF EXISTS api_keys_updated_epoch;
DROP TRIGGER IF EXISTS api_keys_deleted_epoch;
DROP TRIGGER IF EXISTS customers_inserted_epoch;
DROP TRIGGER IF EXISTS customers_updated_epoch;
DROP TRIGGER IF EXISTS customers_deleted_epoch;
DROP TABLE IF EXISTS auth_epoch;`,
}}

// isWithdrawn reports whether version v was withdrawn.
func isWithdrawn(v int) bool {
	for _, m := range withdrawn {
		if m.version == v {
			return true
		}
	}
	return false
}

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
		if isWithdrawn(v) {
			return nil, fmt.Errorf("sqlite: migration %s: version %d was withdrawn and is not used again", base, v)
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
// newerSchema is the refusal of a database that a newer QuantumLock has
// migrated: most often met after going back to an older binary.
func newerSchema(newest, latest int) error {
	return fmt.Errorf("sqlite: database schema version %d is newer than this binary's %d: a newer QuantumLock migrated it; run that one, or restore a backup made before the upgrade", newest, latest)
}

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
		recorded, err := recordedVersions(ctx, w)
		if err != nil {
			return err
		}
		// A database migrated by a newer binary may have a schema this
		// one does not understand; refuse it rather than write rows it
		// would misread.
		if newest := newestUnknown(recorded, latest); newest > 0 {
			return newerSchema(newest, latest)
		}
		if err := checkSchema(ctx, w, ms, recorded); err != nil {
			return err
		}
		pending := 0
		for _, m := range withdrawn {
			if recorded[m.version] {
				pending++
			}
		}
		for _, m := range ms {
			if !recorded[m.version] {
				pending++
			}
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

// recordedVersions returns the versions recorded in schema_migrations, none
// for an empty database. A database some other program made (ours) is an
// error: migrating it would add this schema's tables to another
// application's file.
func recordedVersions(ctx context.Context, q *sql.DB) (map[int]bool, error) {
	empty, err := ours(ctx, q)
	if err != nil || empty {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	defer rows.Close()
	recorded := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("sqlite: read schema version: %w", err)
		}
		recorded[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	return recorded, nil
}

// newestUnknown returns the newest recorded version past latest that is
// not a withdrawn one (a newer binary's), or 0.
func newestUnknown(recorded map[int]bool, latest int) int {
	newest := 0
	for v := range recorded {
		if v > latest && !isWithdrawn(v) {
			newest = max(newest, v)
		}
	}
	return newest
}

// checkSchema checks that the schema of the database behind q is what the
// versions of ms it records make: the first n migrations recorded, none
// after a gap, and every table, index, trigger and view they create there
// with the statement that created it (tables, indexes, triggers and views
// of the operator's own may stand beside them). Anything else, a file written by
// a development build whose migration differed, or one changed by hand,
// is refused, naming the first object that differs, before any migration
// would add to it what the rest of this binary then cannot use.
func checkSchema(ctx context.Context, q *sql.DB, ms []migration, recorded map[int]bool) error {
	n := 0
	for n < len(ms) && recorded[ms[n].version] {
		n++
	}
	for _, m := range ms[n:] {
		if recorded[m.version] {
			return fmt.Errorf("sqlite: the database records schema version %d without version %d before it; it is left as it is", m.version, ms[n].version)
		}
	}
	if n == 0 {
		return nil
	}
	refs, err := referenceSchemas(ms)
	if err != nil {
		return err
	}
	have, err := schemaObjects(ctx, q)
	if err != nil {
		return err
	}
	want := refs[n-1]
	// Tables first: a table missing or different is the cause, its
	// indexes and triggers only the consequence.
	rank := func(k string) int {
		if strings.HasPrefix(k, "table ") {
			return 0
		}
		return 1
	}
	keys := slices.SortedFunc(maps.Keys(want), func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b))
	})
	for _, k := range keys {
		what := "is missing"
		if got, ok := have[k]; ok {
			if got == want[k] {
				continue
			}
			what = "differs"
		}
		return fmt.Errorf("sqlite: the database's schema is not version %d as this binary makes it: %s %s (written by a development build, or changed by hand?); it is left as it is", ms[n-1].version, k, what)
	}
	return nil
}

// schemaObjects returns the tables, indexes, triggers and views of the
// database behind q, "type name" to the statement that created each, its
// runs of white space made one space. SQLite's own objects, and the
// indexes it makes for UNIQUE and PRIMARY KEY constraints (which have no
// statement), are left out, and so is schema_migrations, which ours checks.
func schemaObjects(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_schema
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name != 'schema_migrations'`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read schema: %w", err)
	}
	defer rows.Close()
	objs := map[string]string{}
	for rows.Next() {
		var typ, name, stmt string
		if err := rows.Scan(&typ, &name, &stmt); err != nil {
			return nil, fmt.Errorf("sqlite: read schema: %w", err)
		}
		objs[typ+" "+name] = strings.Join(strings.Fields(stmt), " ")
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read schema: %w", err)
	}
	return objs, nil
}

// references caches referenceSchemas by the migrations' text.
var references struct {
	sync.Mutex
	m map[[sha256.Size]byte][]map[string]string
}

// referenceSchemas returns, for each n, the schema objects (schemaObjects)
// that the first n+1 of ms make in an empty database: the schema a
// database recording those versions must have. They are made once per set
// of migrations, in memory.
func referenceSchemas(ms []migration) ([]map[string]string, error) {
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%d\x00%s\x00", m.version, m.sql)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	references.Lock()
	defer references.Unlock()
	if refs, ok := references.m[sum]; ok {
		return refs, nil
	}
	ctx := context.Background()
	mem, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return nil, fmt.Errorf("sqlite: reference schema: %w", err)
	}
	defer mem.Close()
	conn, err := mem.Conn(ctx) // one connection: each has its own in-memory database
	if err != nil {
		return nil, fmt.Errorf("sqlite: reference schema: %w", err)
	}
	defer conn.Close()
	refs := make([]map[string]string, len(ms))
	for i, m := range ms {
		if _, err := conn.ExecContext(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("sqlite: reference schema: migration %s: %w", m.name, err)
		}
		if refs[i], err = schemaObjects(ctx, conn); err != nil {
			return nil, err
		}
	}
	if references.m == nil {
		references.m = map[[sha256.Size]byte][]map[string]string{}
	}
	references.m[sum] = refs
	return refs, nil
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
	for _, m := range withdrawn {
		if err := undo(ctx, w, m); err != nil {
			return err
		}
	}
	for _, m := range ms {
		if err := apply(ctx, w, m, ms[len(ms)-1].version); err != nil {
			return err
		}
	}
	return nil
}

// undo undoes the withdrawn migration m if the database records it, in one
// IMMEDIATE transaction that also forgets its version.
func undo(ctx context.Context, w *sql.DB, m migration) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: undo withdrawn migration %s: %w", m.name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?1`, m.version).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: undo withdrawn migration %s: %w", m.name, err)
	}
	if n == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: undo withdrawn migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = ?1`, m.version); err != nil {
		return fmt.Errorf("sqlite: undo withdrawn migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: undo withdrawn migration %s: %w", m.name, err)
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
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	recorded := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		recorded[v] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if newest := newestUnknown(recorded, latest); newest > 0 {
		return newerSchema(newest, latest)
	}
	if recorded[m.version] {
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
