package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// newerMigrations returns the embedded migrations and one more, as a newer
// binary would have them.
func newerMigrations(t *testing.T) []migration {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	next := unusedVersion(ms)
	return append(ms, migration{version: next, name: "9999_newer.sql", sql: `CREATE TABLE newer (x INTEGER)`})
}

// openWriter opens a writer connection on path the way Open does, for
// driving migrate directly.
func openWriter(t *testing.T, path string) *sql.DB {
	t.Helper()
	w, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	t.Cleanup(func() { w.Close() })
	return w
}

func openLock(t *testing.T, path string) *fileLock {
	t.Helper()
	lk, err := openFileLock(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lk.close() })
	return lk
}

func hasTable(t *testing.T, w *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := w.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// A newer binary does not migrate the schema while a store has the
// database open: it waits, refuses and changes nothing, and migrates once
// the store is closed.
func TestMigrateRefusedWhileOpenElsewhere(t *testing.T) {
	if !fileLocking {
		t.Skip("no file lock on this system")
	}
	t.Parallel()
	ctx := t.Context()
	running, path := openTemp(t)
	newer := newerMigrations(t)
	w, lk := openWriter(t, path), openLock(t, path)

	start := time.Now()
	err := migrate(ctx, w, lk, newer, time.Second, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "another process has the database open") {
		t.Fatalf("migrate under an open store: %v", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("migrate gave up after %v, before its wait of 200ms", waited)
	}
	if hasTable(t, w, "newer") {
		t.Fatal("the refused migration ran")
	}
	// The running store still writes and reads.
	c := newCustomer(t, running, "cust_00000000lock")
	createLicense(t, running, c.ID, 1)

	// Closed, it no longer stands in the way.
	if err := running.Close(); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, w, lk, newer, time.Second, 5*time.Second); err != nil {
		t.Fatalf("migrate once the store is closed: %v", err)
	}
	if !hasTable(t, w, "newer") {
		t.Fatal("the migration did not run")
	}
	// migrate returned holding the lock shared: this binary's store opens
	// beside it, and refuses the newer schema, naming the file and what
	// to do.
	if db, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer than this binary") ||
		!strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), "restore a backup made before the upgrade") {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open on the newer schema: %v", err)
	}
}

// A store waits for one that is migrating, and opens once it is done.
func TestOpenWaitsForMigration(t *testing.T) {
	if !fileLocking {
		t.Skip("no file lock on this system")
	}
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "quantumlock.db")
	w := openWriter(t, path)
	if err := w.Ping(); err != nil { // creates the file
		t.Fatal(err)
	}
	lk := openLock(t, path)
	if ok, err := lk.try(true); !ok || err != nil {
		t.Fatalf("exclusive lock on a new file: %v, %v", ok, err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, openWriter(t, path), openLock(t, path), ms, 100*time.Millisecond, time.Second); err == nil || !strings.Contains(err.Error(), "migrating") {
		t.Fatalf("migrate while another holds the lock exclusive: %v", err)
	}

	opened := make(chan error, 1)
	go func() {
		db, err := Open(ctx, path)
		if err == nil {
			err = db.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned while another store was migrating: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := applyAll(ctx, w, ms); err != nil {
		t.Fatal(err)
	}
	if err := lk.unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("Open after the migration: %v", err)
	}
}

// Stores opening a new file at once all open, and each migration runs
// once.
func TestOpenTogether(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "quantumlock.db")
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: %v", i, err)
			continue
		}
		defer dbs[i].Close()
	}
	if t.Failed() {
		return
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var rows, distinct int
	if err := dbs[0].r.QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || distinct != len(ms) {
		t.Errorf("schema_migrations has %d rows of %d versions, want %d", rows, distinct, len(ms))
	}
}

// The lock file sits beside the file a symbolic link leads to, so a store
// opened through the link and one opened by the file's own name share it.
func TestLockFileThroughLink(t *testing.T) {
	if !fileLocking {
		t.Skip("no file lock on this system")
	}
	t.Parallel()
	db, real := openTemp(t)
	link := filepath.Join(t.TempDir(), "linked.db")
	if err := os.Symlink(real, link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	viaLink := openLock(t, link)
	if viaLink.f.Name() != real+"-lock" {
		t.Errorf("lock file through the link is %s, want %s", viaLink.f.Name(), real+"-lock")
	}
	if ok, err := viaLink.try(true); ok || err != nil {
		t.Errorf("exclusive lock through the link while a store has the file open: %v, %v", ok, err)
	}
	if _, err := os.Stat(link + "-lock"); !os.IsNotExist(err) {
		t.Errorf("a lock file beside the link: %v", err)
	}
	db.Close()
	if ok, err := viaLink.try(true); !ok || err != nil {
		t.Errorf("exclusive lock through the link after Close: %v, %v", ok, err)
	}
}

// Two newer binaries starting together on a database that needs their
// migration: one migrates, the other then finds nothing to do, and both
// open.
func TestMigrateTogether(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	db.Close()
	newer := newerMigrations(t)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		w, lk := openWriter(t, path), openLock(t, path)
		wg.Go(func() { errs[i] = migrate(t.Context(), w, lk, newer, 10*time.Second, 10*time.Second) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("binary %d: %v", i, err)
		}
	}
	w := openWriter(t, path)
	var n int
	if err := w.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = ?1`, newer[len(newer)-1].version).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 || !hasTable(t, w, "newer") {
		t.Errorf("the newer migration recorded %d times", n)
	}
}

// An Open that fails lets go of the lock file: a database left at a newer
// version does not keep a migrating binary waiting.
func TestFailedOpenReleasesLock(t *testing.T) {
	if !fileLocking {
		t.Skip("no file lock on this system")
	}
	t.Parallel()
	db, path := openTemp(t)
	if _, err := db.w.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(t.Context(), path); err == nil {
		db.Close()
		t.Fatal("Open accepted a newer schema")
	}
	if ok, err := openLock(t, path).try(true); !ok || err != nil {
		t.Errorf("exclusive lock after a failed Open: %v, %v", ok, err)
	}
}

// A new lock file has the database's permissions, whatever the umask, and
// one only readable still serves.
func TestLockFileMode(t *testing.T) {
	if !fileLocking || runtime.GOOS == "windows" {
		t.Skip("no Unix file modes here")
	}
	t.Parallel()
	db, path := openTemp(t)
	db.Close()
	for _, mode := range []os.FileMode{0o600, 0o664} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path + "-lock"); err != nil {
			t.Fatal(err)
		}
		db, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if fi, err := os.Stat(path + "-lock"); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("database %v: lock file %v, %v", mode, fi.Mode(), err)
		}
	}
	// A lock file the process may only read still serves. (Run as root,
	// the process may write it anyway, and this checks only that the mode
	// changes nothing.)
	if err := os.Chmod(path+"-lock", 0o444); err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open with a read-only lock file: %v", err)
	}
	defer db.Close()
	if ok, err := openLock(t, path).try(true); ok || err != nil {
		t.Errorf("exclusive lock through a read-only lock file while a store has it: %v, %v", ok, err)
	}
}
