package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
// (SQLite does not sync what VACUUM INTO writes). The copy is written
// under a name of its own beside dst (dst + ".partial-" + random), synced
// and checked (PRAGMA quick_check), and only then given the name dst, by a
// hard link, which never replaces a file: so dst names a whole, checked
// backup or nothing, and a backup killed partway (SIGKILL, a power loss)
// leaves only the partial file, never a file under the backup's name that
// is not one. src is not migrated: a newer binary backs up the schema as
// it is. Backup holds the lock file shared while it reads, as a store does
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
	case !fi.Mode().IsRegular():
		// A FIFO or a device: reading one can wait forever.
		return info, fmt.Errorf("sqlite: backup: %s is not a regular file, so not a database file", src)
	}
	// Reading src through a connection that can write folds the "-wal"
	// beside it into it when no server has it open: another database's
	// too (a file put over the name by hand after an unclean stop), which
	// would mix the two in the live file. So it is checked as Open checks
	// it; a live server's own "-wal" passes at once.
	if err := checkLeftWAL(ctx, src); err != nil {
		return info, openHint(src, err)
	}
	switch lock, err := openFileLock(src); {
	case err == nil:
		defer lock.close()
		if ok, err := lock.wait(ctx, false, time.Now().Add(sharedWait)); err != nil {
			return info, fmt.Errorf("sqlite: lock file: %w", err)
		} else if !ok {
			return info, fmt.Errorf("sqlite: backup: another process has had the database to itself (a migration or a restore) for more than %v", sharedWait)
		}
	case readOnlyFS(src):
		// A read-only file system without the lock file (a snapshot
		// mounted to back up from): nothing can migrate under the backup.
	default:
		return info, err
	}

	exists := fmt.Errorf("sqlite: backup: %s exists; a backup never overwrites a file", dst)
	if _, err := os.Lstat(dst); err == nil {
		return info, exists // a file, or a link to one
	} else if !errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	// CreateTemp makes the file 0600 with O_EXCL; VACUUM INTO accepts an
	// empty file.
	f, err := os.CreateTemp(filepath.Dir(dst), partialPrefix(dst))
	if err != nil {
		return info, fmt.Errorf("sqlite: backup: %w", err)
	}
	partial := f.Name()
	f.Close()
	defer os.Remove(partial) // a second name once linked

	if err := vacuumInto(ctx, "backup", src, partial); err != nil {
		return info, err
	}
	if info, _, err = checkBackup(ctx, partial, false); err != nil {
		return info, err
	}
	if testHookBackupChecked != nil {
		testHookBackupChecked(partial)
	}
	if err := os.Link(partial, dst); errors.Is(err, fs.ErrExist) {
		return info, exists // made meanwhile
	} else if err != nil {
		// No hard links here (some network and FAT file systems): a
		// rename, which would replace a file made since the check
		// above, so it is made again just before.
		if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
			return info, exists
		}
		if err := os.Rename(partial, dst); err != nil {
			return info, fmt.Errorf("sqlite: backup: %w", err)
		}
	}
	syncDir(filepath.Dir(dst))
	return info, nil
}

// partialPrefix is the pattern (os.CreateTemp's) of the name a file is
// written under before it is given the name dst: dst's own name and
// ".partial-", with dst's name cut (at a character) so that the whole
// stays within the 255 bytes file systems allow a name, whatever number
// CreateTemp adds.
func partialPrefix(dst string) string {
	base := filepath.Base(dst)
	if len(base) > 200 {
		base = strings.ToValidUTF8(base[:200], "")
	}
	return base + ".partial-*"
}

// testHookBackupChecked, when set by a test, sees the whole, checked copy
// under its partial name, before Backup gives it the backup's name.
var testHookBackupChecked func(partial string)

// vacuumInto writes a compacted copy of the database at src, as of one
// read transaction, into the empty or missing file dst and syncs it. op
// names the operation in errors.
func vacuumInto(ctx context.Context, op, src, dst string) error {
	// Not query_only, which VACUUM INTO counts as writing; this
	// connection runs nothing else.
	source, err := sql.Open("sqlite", existing(src, fmt.Sprintf("_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds())))
	if err != nil {
		return fmt.Errorf("sqlite: %s from %s: %w", op, src, err)
	}
	defer source.Close()
	if _, err := source.ExecContext(ctx, `VACUUM INTO ?1`, dst); err != nil {
		// Both places named, since either may be at fault (a full disk
		// is the target's), with what to check where SQLite's words
		// point elsewhere (a read-only source: "unable to open").
		return fmt.Errorf("sqlite: %s from %s into %s: %w", op, src, filepath.Dir(dst), openHint(src, err))
	}
	if err := syncFile(dst); err != nil {
		return fmt.Errorf("sqlite: %s: sync: %w", op, err)
	}
	return nil
}

// syncFile syncs the file at path and the directory that holds it, so
// that the file and its name survive a power loss. The file is opened for
// writing to be synced, which Windows needs.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir syncs the directory dir, so that the names made or changed in
// it survive a power loss, where the system can: Windows cannot sync a
// directory, and does not need to.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// checkBackup runs SQLite's quick check on the backup at path and reads
// its schema version (the newest recorded) and size. With judge, a schema
// this binary knows must also be the one its versions make (checkSchema);
// a backup is made of the schema as it is, a restore puts in place only
// what the next Open accepts. newer is the newest version of a newer
// binary that it records (newestUnknown), or 0.
func checkBackup(ctx context.Context, path string, judge bool) (info BackupInfo, newer int, err error) {
	// SQLite would fold a "-wal" beside the file into it as this reading
	// closes, another database's too (one put there by hand): it is
	// checked first, as Open checks one.
	if err := checkLeftWAL(ctx, path); err != nil {
		return info, 0, err
	}
	b, err := sql.Open("sqlite", path+"?_pragma=query_only(ON)")
	if err != nil {
		return info, 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	defer b.Close()
	var result string
	if err := b.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&result); err != nil {
		return info, 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	if result != "ok" {
		return info, 0, fmt.Errorf("sqlite: check %s: %s", path, result)
	}
	if empty, err := ours(ctx, b); err != nil {
		return info, 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	} else if empty {
		return info, 0, fmt.Errorf("sqlite: check %s: an empty database, not a QuantumLock backup", path)
	}
	recorded, err := recordedVersions(ctx, b)
	if err != nil {
		return info, 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	for v := range recorded {
		info.SchemaVersion = max(info.SchemaVersion, v)
	}
	ms, err := migrations()
	if err != nil {
		return info, 0, err
	}
	// A newer binary's schema is not judged here (Restore refuses it).
	if newer = newestUnknown(recorded, ms[len(ms)-1].version); newer == 0 && judge {
		if err := checkSchema(ctx, b, ms, recorded); err != nil {
			return info, 0, fmt.Errorf("sqlite: check %s: %w", path, err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return info, 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	info.Bytes = fi.Size()
	return info, newer, nil
}

// RestoreInfo describes a restore Restore made.
type RestoreInfo struct {
	BackupInfo // of the database now at the path
	// Previous is the name under which what the database left is kept:
	// the replaced file, and beside it ("-wal", "-journal") those of its
	// files SQLite would still read. "" if there was nothing.
	Previous string
}

// sideFiles are the files beside a database that SQLite reads as part of
// it: a WAL, or a rollback journal left by a crash.
var sideFiles = []string{"-wal", "-journal"}

// anotherDatabasesWAL is the suffix a restore keeps a "-wal" under when it
// belongs to another database (see keepPrevious): a name SQLite never
// reads as the kept copy's.
const anotherDatabasesWAL = "-wal.another-database"

// Restore puts a copy of the backup at from in place of the database at
// path. No other QuantumLock process may have the database open: Restore
// holds the lock file exclusive throughout (see fileLock), and refuses at
// once if a server or CLI command has it. (A process that does not take
// the lock, the sqlite3 shell say, is not seen.)
//
// The backup is checked first (PRAGMA quick_check) and refused if its
// schema is newer than this binary's; an older one is migrated by the
// next Open. The copy is made by VACUUM INTO into a new 0600 file beside
// path, given the old file's mode and, run as root, its owner, synced,
// checked in its turn, and renamed over path, so that a crash leaves path holding either the
// old database or the new one (the old one without its last commits only
// if its WAL could not be folded in, and then they are in the kept
// copy's "-wal"). Nothing is deleted: the database it replaces, its WAL
// folded in where that can be done, and any WAL or journal left beside
// path, are kept under path + ".before-restore-" + the time
// (RestoreInfo.Previous). Through a symbolic link, the file the link
// leads to is replaced, where SQLite keeps the other files; the link
// stays.
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
	} else if !fi.Mode().IsRegular() {
		// A FIFO or a device: reading one can wait forever.
		return info, fmt.Errorf("sqlite: restore: %s is not a regular file, so not a backup", from)
	}
	if same(from, path) {
		return info, fmt.Errorf("sqlite: restore: %s is the database itself", from)
	}
	_, newer, err := checkBackup(ctx, from, true)
	if err != nil {
		return info, err
	}
	ms, err := migrations()
	if err != nil {
		return info, err
	}
	if latest := ms[len(ms)-1].version; newer > 0 {
		return info, fmt.Errorf("sqlite: restore: the backup's schema version %d is newer than this binary's %d", newer, latest)
	}

	// The lock file needs a file to stand beside: a missing database is
	// made empty first, as Open would make it (through a symbolic link
	// to a file yet to be made, too). Only the restore that made it
	// removes it again, if it fails before its copy is in place, and
	// while it still holds the lock. The lock file stays: another
	// process may be waiting on it, and it is harmless.
	made, err := makeMissing(path)
	if err != nil {
		return info, err
	}
	path = realPath(path)
	if err := plainPath(path); err != nil {
		return info, fmt.Errorf("sqlite: restore: the database's real path: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return info, fmt.Errorf("sqlite: restore: %s is a directory, not a database file", path)
	} else if err == nil && !fi.Mode().IsRegular() {
		// A FIFO or a device (a mistyped /dev/null): never replaced.
		return info, fmt.Errorf("sqlite: restore: %s is not a regular file, so not a database file", path)
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
	if made {
		defer func() {
			if err != nil {
				os.Remove(path)
			}
		}()
	}
	old, err := os.Stat(path)
	if err != nil {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	}

	// The working copy has a name of its own, so that it never is the
	// backup given (a copy an interrupted restore left, say). It is
	// private before anything is written to it, and takes the old file's
	// mode and owner once written.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".restoring-*")
	if err != nil {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	}
	next := f.Name()
	f.Close()
	defer os.Remove(next) // gone already once renamed
	if err := vacuumInto(ctx, "restore", from, next); err != nil {
		return info, err
	}
	if err := takeModeAndOwner(next, old); err != nil {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	}
	// A withdrawn migration the backup records is undone in the copy,
	// as the next Open would: the restored file is then one that the
	// binaries of this schema, older ones too, open.
	if err := undoWithdrawn(ctx, next); err != nil {
		return info, fmt.Errorf("sqlite: restore: %w", err)
	}
	// The copy is checked before it replaces anything.
	if info.BackupInfo, _, err = checkBackup(ctx, next, true); err != nil {
		return info, err
	}

	// From here on the restore runs to its end: an interrupt would leave
	// the operator guessing which database is in place.
	ctx = context.WithoutCancel(ctx)
	previous, err := keepPrevious(ctx, path, old.Size() > 0)
	if err != nil {
		return info, err
	}
	if putBack, err := swapIn(next, path); err != nil {
		if putBack {
			removeKept(previous)
		} else {
			info.Previous = previous // the only whole copy may be this one
		}
		return info, err
	}
	info.Previous = previous
	syncDir(filepath.Dir(path)) // the copy itself was synced when written
	return info, nil
}

// undoWithdrawn undoes, in the database at path, which no other process
// has open, every withdrawn migration it records.
func undoWithdrawn(ctx context.Context, path string) error {
	w, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer w.Close()
	for _, m := range withdrawn {
		if err := undo(ctx, w, m); err != nil {
			return err
		}
	}
	return w.Close()
}

// makeMissing makes an empty file at path, as Open would, if there is
// none, and reports whether it made it. Two processes may race to make
// it; only the one whose O_EXCL create succeeds made it. A symbolic link
// to a file yet to be made makes that file.
func makeMissing(path string) (made bool, err error) {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	flags := os.O_RDONLY | os.O_CREATE | os.O_EXCL
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		flags &^= os.O_EXCL // O_EXCL refuses any link, even to nothing
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: restore: %w", err)
	}
	f.Close()
	return true, nil
}

// takeModeAndOwner gives the file at path the mode of old and, when the
// process runs as root, its owner, so that the server's own user can still
// open a database that root restored.
func takeModeAndOwner(path string, old os.FileInfo) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Chmod(old.Mode().Perm()); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	matchOwner(f, fi, old)
	return nil
}

// keepPrevious copies what the database at path (which no other process
// has open) would be read from, under path + ".before-restore-" + the
// time, and returns that name ("" if there was nothing to keep): the file
// itself (hasDB), with its WAL folded in first where that can be done (a
// damaged database, or a reader outside QuantumLock, may not let it), and
// any WAL or rollback journal still beside it. A "-wal" that belongs to
// another database (see checkLeftWAL) is not folded in, which would mix
// the two in the live file: it is kept as it was, under the copy's name +
// anotherDatabasesWAL, where SQLite never reads it as the copy's. They
// are copies, synced, and the live database is left as it was: an
// interrupted restore leaves it in use and the kept copy apart.
func keepPrevious(ctx context.Context, path string, hasDB bool) (string, error) {
	old := path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	for _, side := range append([]string{"", anotherDatabasesWAL}, sideFiles...) {
		if _, err := os.Lstat(old + side); err == nil {
			return "", fmt.Errorf("sqlite: restore: %s exists; try again in a second", old+side)
		}
	}
	var kept []string
	foreign := false
	if hasDB {
		if foreign = foreignWAL(path) != nil; !foreign {
			if c, err := sql.Open("sqlite", path+fmt.Sprintf("?_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds())); err == nil {
				c.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
				c.Close()
			}
		}
		kept = append(kept, "")
	}
	for _, side := range sideFiles {
		if fi, err := os.Stat(path + side); err == nil && fi.Size() > 0 {
			kept = append(kept, side)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("sqlite: restore: %w", err)
		}
	}
	if len(kept) == 0 {
		return "", nil
	}
	// The database file is copied last: once the kept name holds it, the
	// WAL or journal it needs is beside it.
	if kept[0] == "" {
		kept = append(kept[1:], "")
	}
	for _, side := range kept {
		// Another database's "-wal" is kept under a name of its own:
		// beside the kept copy under its own name, SQLite would fold it
		// into that copy at its first reading (a restore from it, say).
		to := old + side
		if side == "-wal" && foreign {
			to = old + anotherDatabasesWAL
		}
		if err := copyFile(path+side, to); err != nil {
			removeKept(old)
			return "", fmt.Errorf("sqlite: restore: keep the old database: %w", err)
		}
	}
	syncDir(filepath.Dir(old))
	return old, nil
}

// removeKept removes what keepPrevious kept under old, for a restore that
// fails after it.
func removeKept(old string) {
	if old == "" {
		return
	}
	for _, side := range append([]string{"", anotherDatabasesWAL}, sideFiles...) {
		os.Remove(old + side)
	}
}

// swapIn puts the file next in place of the database at path, whose files
// keepPrevious has copied: the old WAL index goes, the old WAL and journal
// are moved aside (SQLite would read a WAL or journal left beside the name
// as the new file's), then next is renamed over path, so that path names
// the old database or the new one at every moment, and what was moved
// aside goes. Should the rename fail, the WAL and journal are moved back,
// the same files with their owner and mode; if that fails too, the error
// says where they are and putBack is false. (A crash between moving them
// aside and the rename leaves the old database at path without them:
// only when its WAL could not be folded in does that lose commits, and
// the kept copy has them.)
func swapIn(next, path string) (putBack bool, err error) {
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, fmt.Errorf("sqlite: restore: %w", err)
	}
	// Named after no database: SQLite never reads them as anyone's.
	stash := next + ".stash"
	var moved []string
	back := func() bool {
		ok := true
		for _, side := range moved {
			if err := os.Rename(stash+side, path+side); err != nil {
				ok = false
			}
		}
		return ok
	}
	for _, side := range sideFiles {
		if err := os.Rename(path+side, stash+side); err == nil {
			moved = append(moved, side)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return back(), fmt.Errorf("sqlite: restore: %w", err)
		}
	}
	if err := os.Rename(next, path); err != nil {
		if !back() {
			return false, fmt.Errorf("sqlite: restore: %w; the database's %v could not be moved back from %s", err, moved, stash)
		}
		return true, fmt.Errorf("sqlite: restore: %w", err)
	}
	for _, side := range moved {
		os.Remove(stash + side)
	}
	return true, nil
}

// copyFile copies the file at src to a new file dst, mode 0600, synced.
// The copy is written under a name of its own beside dst (dst +
// ".partial-" + random) and renamed to dst once whole and synced, so that
// dst names a whole copy or nothing: a process killed while it copies (by
// SIGKILL, or a power loss) leaves only the partial file. It refuses a dst
// that exists.
func copyFile(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s exists", dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	// CreateTemp makes the file 0600 with O_EXCL.
	out, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".partial-*")
	if err != nil {
		return err
	}
	partial := out.Name()
	_, err = io.Copy(out, in)
	if serr := out.Sync(); err == nil {
		err = serr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// The restore holds the database's lock exclusive, so no other
		// restore makes dst meanwhile.
		err = os.Rename(partial, dst)
	}
	if err != nil {
		os.Remove(partial)
	}
	return err
}

// same reports whether a and b name the same existing file.
func same(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
