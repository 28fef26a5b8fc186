package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// BackupInfo describes a backup Backup made.
type BackupInfo struct {
	Bytes         int64 // the backup file's size
	SchemaVersion int   // the newest migration recorded in it
}

// Backup writes a copy of the database at src to a new file at dst while
// other connections and processes go on reading and writing src. The copy
// is SQLite's VACUUM INTO: it reads the database in one read transaction,
// so dst holds every transaction committed before that began and none
// after, compacted into one file with no "-wal" beside it.
//
// dst must not exist: a backup never overwrites a file. It is made 0600 on
// Unix, since it holds everything the database does, and synced to disk
// (SQLite does not sync what VACUUM INTO writes). The copy is checked
// (PRAGMA quick_check) before Backup returns; on any failure dst is
// removed. src is not migrated: a newer binary backs up the schema as it
// is. Backup holds the lock file shared while it reads, as a store does
// (see fileLock), so that no migration runs under it.
//
// Its read transaction keeps the WAL from starting over while it lasts,
// so the WAL grows meanwhile by what is written (docs/storage.md, Backup).
func Backup(ctx context.Context, src, dst string) (info BackupInfo, err error) {
	for _, p := range []string{src, dst} {
		if err := plainPath(p); err != nil {
			return info, err
		}
	}
	switch fi, err := os.Stat(src); {
	case errors.Is(err, fs.ErrNotExist):
		return info, fmt.Errorf("sqlite: backup: no database at %s", src)
	case err != nil:
		return info, fmt.Errorf("sqlite: backup: %w", err)
	case fi.IsDir():
		return info, fmt.Errorf("sqlite: backup: %s is a directory, not a database file", src)
	}
	lock, err := openFileLock(src)
	if err != nil {
		return info, err
	}
	defer lock.close()
	if ok, err := lock.wait(ctx, false, time.Now().Add(sharedWait)); err != nil {
		return info, fmt.Errorf("sqlite: lock file: %w", err)
	} else if !ok {
		return info, fmt.Errorf("sqlite: backup: another process has been migrating the database for more than %v", sharedWait)
	}

	// O_EXCL: an existing file, or a link to one, is refused, never
	// truncated. VACUUM INTO accepts an empty file.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return info, fmt.Errorf("sqlite: backup: %s exists; a backup never overwrites a file", dst)
	} else if err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			Remove(dst)
		}
	}()

	if err := vacuumInto(ctx, src, dst); err != nil {
		return info, err
	}
	if info, err = checkBackup(ctx, dst); err != nil {
		return info, err
	}
	return info, nil
}

// vacuumInto writes a compacted copy of the database at src, as of one
// read transaction, into the empty or missing file dst and syncs it.
func vacuumInto(ctx context.Context, src, dst string) error {
	// Not query_only, which VACUUM INTO counts as writing; this
	// connection runs nothing else.
	source, err := sql.Open("sqlite", src+fmt.Sprintf("?_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer source.Close()
	if _, err := source.ExecContext(ctx, `VACUUM INTO ?1`, dst); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := syncFile(dst); err != nil {
		return fmt.Errorf("sqlite: backup: sync: %w", err)
	}
	return nil
}

// syncFile syncs the file at path and the directory that holds it, so
// that the file and its name survive a power loss.
func syncFile(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		// Some systems cannot sync a directory (Windows): the file's
		// own sync is what matters there.
		if err != nil && p == path {
			return err
		}
	}
	return nil
}

// checkBackup runs SQLite's quick check on the backup at path and reads
// its schema version and size.
func checkBackup(ctx context.Context, path string) (info BackupInfo, err error) {
	b, err := sql.Open("sqlite", path+"?_pragma=query_only(ON)")
	if err != nil {
		return info, fmt.Errorf("sqlite: backup: check: %w", err)
	}
	defer b.Close()
	var result string
	if err := b.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&result); err != nil {
		return info, fmt.Errorf("sqlite: backup: check: %w", err)
	}
	if result != "ok" {
		return info, fmt.Errorf("sqlite: backup: check failed: %s", result)
	}
	if err := b.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&info.SchemaVersion); err != nil {
		return info, fmt.Errorf("sqlite: backup: check: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	info.Bytes = fi.Size()
	return info, nil
}

// RestoreInfo describes a restore Restore made.
type RestoreInfo struct {
	BackupInfo        // of the database now at the path
	Previous   string // where the database it replaced is kept; "" if there was none
}

// Restore puts a copy of the backup at from in place of the database at
// path. No other process may have the database open: Restore holds the
// lock file exclusive throughout (see fileLock), and refuses at once if a
// server or CLI command has it.
//
// The backup is checked first (PRAGMA quick_check) and refused if its
// schema is newer than this binary's; an older one is migrated by the
// next Open. The database it replaces is not deleted: its WAL is folded in
// where it can be, and it is kept, with its "-wal" if one is left, under
// path + ".before-restore-" + the time (RestoreInfo.Previous). The copy is
// written beside path, synced and renamed over it, so that a crash leaves
// path holding either the old database or the new one (the old one without
// its last commits only if its WAL could not be folded in, and then they
// are in the kept copy's "-wal").
func Restore(ctx context.Context, from, path string) (info RestoreInfo, err error) {
	for _, p := range []string{from, path} {
		if err := plainPath(p); err != nil {
			return info, err
		}
	}
	if fi, err := os.Stat(from); err != nil {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	} else if fi.IsDir() {
		return info, fmt.Errorf("sqlite: restore: %s is a directory, not a backup", from)
	}
	if same(from, path) {
		return info, fmt.Errorf("sqlite: restore: %s is the database itself", from)
	}
	// Through a symbolic link, the file it leads to is replaced, where
	// SQLite keeps the "-wal" and "-shm" files and Open the lock file;
	// the link stays.
	path = realPath(path)
	checked, err := checkBackup(ctx, from)
	if err != nil {
		return info, err
	}
	ms, err := migrations()
	if err != nil {
		return info, err
	}
	if latest := ms[len(ms)-1].version; checked.SchemaVersion > latest {
		return info, fmt.Errorf("sqlite: restore: the backup's schema version %d is newer than this binary's %d", checked.SchemaVersion, latest)
	}

	// The lock file needs a file to stand beside: a missing database
	// is made empty first, as Open would make it, and removed again if
	// the restore fails.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return info, fmt.Errorf("sqlite: restore: %w", err)
		}
		f.Close()
		defer func() {
			if err != nil {
				Remove(path)
			}
		}()
	}
	lock, err := openFileLock(path)
	if err != nil {
		return info, err
	}
	defer lock.close()
	if ok, err := lock.try(true); err != nil {
		return info, fmt.Errorf("sqlite: lock file: %w", err)
	} else if !ok {
		return info, fmt.Errorf("sqlite: restore: another process has %s open; stop the server (and any CLI command) first", path)
	}

	// A copy left by a restore that did not finish is replaced. The new
	// one is made 0600 before anything is written to it.
	next := path + ".restoring"
	if err := os.Remove(next); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	}
	f, err := os.OpenFile(next, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	}
	f.Close()
	defer os.Remove(next) // gone already once renamed
	if err := vacuumInto(ctx, from, next); err != nil {
		return info, err
	}

	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if info.Previous, err = keepPrevious(ctx, path); err != nil {
			return info, err
		}
	}
	// The WAL index of the old database must not be read as the new
	// one's; its WAL was folded in or kept with it.
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	}
	if err := os.Rename(next, path); err != nil {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	}
	if err := syncFile(path); err != nil {
		return info, fmt.Errorf("sqlite: restore: sync: %w", err)
	}
	if info.BackupInfo, err = checkBackup(ctx, path); err != nil {
		return info, err
	}
	return info, nil
}

// keepPrevious keeps the database at path, which no other process has
// open, under a new name and returns it: it folds the WAL into the file
// where it can (a damaged database may not let it), then links the file
// under the new name and moves a WAL still left there with it. path
// itself still names the old file when keepPrevious returns.
func keepPrevious(ctx context.Context, path string) (string, error) {
	old := path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	if _, err := os.Lstat(old); err == nil {
		return "", fmt.Errorf("sqlite: restore: %s exists; try again in a second", old)
	}
	if c, err := sql.Open("sqlite", path+fmt.Sprintf("?_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds())); err == nil {
		c.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		c.Close()
	}
	if err := os.Link(path, old); err != nil {
		return "", fmt.Errorf("sqlite: restore: keep the old database: %w", err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		if err := os.Rename(path+"-wal", old+"-wal"); err != nil {
			return "", fmt.Errorf("sqlite: restore: keep the old database's WAL: %w", err)
		}
	} else if err := os.Remove(path + "-wal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("sqlite: restore: %w", err)
	}
	if err := syncFile(old); err != nil {
		return "", fmt.Errorf("sqlite: restore: sync: %w", err)
	}
	return old, nil
}

// same reports whether a and b name the same existing file.
func same(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
