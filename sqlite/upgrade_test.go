package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rawDB opens path with no store around it, as another program would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func execAll(t *testing.T, w *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := w.Exec(s); err != nil {
			t.Fatalf("%.60s: %v", s, err)
		}
	}
}

// recordedIn returns the versions path records, in order.
func recordedIn(t *testing.T, path string) []int {
	t.Helper()
	rows, err := rawDB(t, path).Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// schemaOf returns path's schema objects.
func schemaOf(t *testing.T, path string) map[string]string {
	t.Helper()
	objs, err := schemaObjects(t.Context(), rawDB(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// A database whose recorded version 1 is not this binary's version 1 (its
// first migration as written before it was changed, keying licenses by a
// sequence) is refused before anything in it changes: no migration is
// added to a schema the rest of the binary cannot use, which would leave
// it refused by the binary that made it as well. So is one with a table
// of the schema missing, and a backup of either, at restore.
func TestOpenRefusesSchemaItDoesNotMake(t *testing.T) {
	t.Parallel()
	old, err := os.ReadFile("testdata/0001_init_before_integer_key.sql")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "old.db")
	execAll(t, rawDB(t, path), string(old),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, 0)`)
	before := schemaOf(t, path)

	db, err := Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a version 1 it does not make")
	}
	if !strings.Contains(err.Error(), "not version 1") || !strings.Contains(err.Error(), "licenses") {
		t.Errorf("Open: %v", err)
	}
	if vs := recordedIn(t, path); !slices.Equal(vs, []int{1}) {
		t.Errorf("after the refusal the database records %v, want [1]", vs)
	}
	if after := schemaOf(t, path); len(after) != len(before) {
		t.Errorf("the refusal changed the schema: %d objects, then %d", len(before), len(after))
	}
	if _, err := Restore(t.Context(), path, filepath.Join(dir, "restored.db")); err == nil || !strings.Contains(err.Error(), "not version 1") {
		t.Errorf("Restore of it: %v", err)
	}

	// A table the recorded versions make, dropped by hand.
	db, path = openTemp(t)
	db.Close()
	execAll(t, rawDB(t, path), `DROP TABLE keys`)
	openRefused(t, path, "keys is missing")

	// An index of the operator's own is theirs to add.
	db, path = openTemp(t)
	db.Close()
	execAll(t, rawDB(t, path), `CREATE INDEX mine ON licenses (end_customer_id)`)
	if db, err := Open(t.Context(), path); err != nil {
		t.Errorf("Open with an index of the operator's own: %v", err)
	} else {
		db.Close()
	}
}

// Versions are applied in order; a database that records one without
// those before it is refused as it is.
func TestOpenRefusesVersionGap(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	db.Close()
	execAll(t, rawDB(t, path), `DELETE FROM schema_migrations WHERE version = 2`)
	if !openRefused(t, path, "without version 2") {
		t.FailNow()
	}
	if vs := recordedIn(t, path); !slices.Equal(vs, []int{1, 3}) {
		t.Errorf("after the refusal the database records %v", vs)
	}
}

// A database that a binary with the withdrawn migration 4 (the auth epoch)
// served is opened: the migration is undone, its table and triggers
// dropped and its version forgotten, with the data as it was; and a backup
// of it restores. A version past 4 that this binary does not know is still
// a newer binary's, and refused.
func TestWithdrawnMigrationUndone(t *testing.T) {
	t.Parallel()
	epoch, err := os.ReadFile("testdata/0004_auth_epoch_withdrawn.sql")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, path := openTemp(t)
	c := newCustomer(t, db, "cust_0000000000w4")
	l := createLicense(t, db, c.ID, 1)
	db.Close()
	fresh := schemaOf(t, path)
	execAll(t, rawDB(t, path), string(epoch), `INSERT INTO schema_migrations VALUES (4, 0)`)

	// A backup reports the versions it holds; a restore undoes the
	// withdrawn one in its copy, so that what it reports is what the
	// restored file records, and binaries of schema 3 open it.
	backup := filepath.Join(t.TempDir(), "with-epoch.db")
	if info, err := Backup(ctx, path, backup); err != nil || info.SchemaVersion != 4 {
		t.Errorf("Backup of a database recording the withdrawn version: %+v %v", info, err)
	}
	restored := filepath.Join(t.TempDir(), "restored.db")
	if info, err := Restore(ctx, backup, restored); err != nil || info.SchemaVersion != 3 {
		t.Errorf("Restore of a backup with the withdrawn version: %+v %v", info, err)
	}
	if vs := recordedIn(t, restored); !slices.Equal(vs, []int{1, 2, 3}) {
		t.Errorf("the restored file records %v, want [1 2 3]", vs)
	}
	if objs := schemaOf(t, restored); len(objs) != len(fresh) {
		t.Errorf("the restored file has %d schema objects, want %d", len(objs), len(fresh))
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("Open with the withdrawn version 4: %v", err)
	}
	if got, err := db.License(ctx, c.ID, l.Key); err != nil || got.Key != l.Key {
		t.Errorf("the license after the undo: %v, %v", got, err)
	}
	db.Close()
	if vs := recordedIn(t, path); !slices.Equal(vs, []int{1, 2, 3}) {
		t.Errorf("records %v after the undo, want [1 2 3]", vs)
	}
	if after := schemaOf(t, path); len(after) != len(fresh) {
		t.Errorf("the undo left %d schema objects, want %d: %v", len(after), len(fresh), after)
	}

	// Version 5, not this binary's.
	execAll(t, rawDB(t, path), `INSERT INTO schema_migrations VALUES (5, 0)`)
	openRefused(t, path, "version 5 is newer")
}

// openRefused reports whether Open of path fails saying says, and fails
// the test when it does not.
func openRefused(t *testing.T, path, says string) bool {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Errorf("Open of %s succeeded; want it refused, saying %q", path, says)
		return false
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("Open of %s: %v; want it to say %q", path, err, says)
		return false
	}
	return true
}

// A backup is of the schema as it is: a database whose schema an operator
// changed by hand, which Open refuses, can still be backed up before it is
// mended; restoring that backup is refused, as opening it would be.
func TestBackupOfASchemaChangedByHand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := openTemp(t)
	db.Close()
	execAll(t, rawDB(t, path), `ALTER TABLE customers ADD COLUMN note TEXT`)
	backup := backupOf(t, path)
	if _, err := Restore(ctx, backup, filepath.Join(t.TempDir(), "r.db")); err == nil || !strings.Contains(err.Error(), "table customers differs") {
		t.Errorf("Restore of it: %v", err)
	}
}

// A backup's name may be as long as the file system allows: the name it is
// written under first is cut to fit.
func TestBackupLongName(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	db.Close()
	for _, name := range []string{strings.Repeat("b", 250) + ".db", strings.Repeat("é", 126) + ".db"} {
		dst := filepath.Join(t.TempDir(), name)
		if _, err := Backup(t.Context(), path, dst); err != nil {
			t.Errorf("Backup to a %d-byte name: %v", len(name), err)
		}
	}
}
