package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// A backup taken while licenses are being issued holds exactly those
// committed before it began reading: every one up to some point of the
// sequence, and none after.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTemp(t)
	c := newCustomer(t, db, "cust_000000000001")
	var committed atomic.Int64
	for n := range 200 {
		createLicense(t, db, c.ID, n)
		committed.Add(1)
	}
	stop := make(chan struct{})
	written := make(chan error, 1)
	go func() {
		for n := 200; ; n++ {
			select {
			case <-stop:
				written <- nil
				return
			default:
			}
			if _, err := db.CreateLicense(ctx, newLicense(c.ID, n), quantumlock.Quota{Period: "2026-01"}); err != nil {
				written <- err
				return
			}
			committed.Add(1)
		}
	}()

	dst := filepath.Join(t.TempDir(), "backup.db")
	before := committed.Load()
	info, err := Backup(ctx, path, dst)
	after := committed.Load()
	close(stop)
	if werr := <-written; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes != fi.Size() || info.SchemaVersion != ms[len(ms)-1].version {
		t.Errorf("info %+v; file %d bytes, newest migration %d", info, fi.Size(), ms[len(ms)-1].version)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(dst + side); err == nil {
			t.Errorf("%s left beside the backup", side)
		}
	}

	b, err := Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var n int64
	if err := b.r.QueryRowContext(ctx, `SELECT count(*) FROM licenses`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < before || n > after {
		t.Fatalf("backup holds %d licenses; %d were committed before it and %d after", n, before, after)
	}
	t.Logf("backup holds %d licenses; %d before it, %d after", n, before, after)
	for _, i := range []int64{0, n - 1} {
		if _, err := b.License(ctx, c.ID, newLicense(c.ID, int(i)).Key); err != nil {
			t.Errorf("license %d of the %d in the backup: %v", i, n, err)
		}
	}
	if _, err := b.License(ctx, c.ID, newLicense(c.ID, int(n)).Key); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
		t.Errorf("license %d, issued after the backup's snapshot: %v, want not found", n, err)
	}
}

// Backup refuses to overwrite a file or to back up what is not a database,
// and leaves nothing behind when it fails.
func TestBackupRefuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTemp(t)
	db.Close()
	dir := t.TempDir()

	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, path, existing); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup onto an existing file: %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was overwritten (%d bytes now)", len(b))
	}

	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"missing":     filepath.Join(dir, "missing.db"),
		"directory":   dir,
		"not a db":    notDB,
		"memory":      ":memory:",
		"URI":         "file:" + path,
		"with params": path + "?mode=ro",
	} {
		dst := filepath.Join(dir, "out-"+strings.ReplaceAll(name, " ", "-")+".db")
		if _, err := Backup(ctx, src, dst); err == nil {
			t.Errorf("%s: backup made", name)
		}
		for _, side := range []string{"", "-wal", "-shm", "-journal"} {
			if _, err := os.Stat(dst + side); err == nil {
				t.Errorf("%s: %s left behind", name, filepath.Base(dst+side))
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("backing up a missing database made one")
	}
}

// backupOf makes a backup of the database at path in a new directory.
func backupOf(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(t.Context(), path, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// wantHolds fails unless the database at path holds license 1 of
// customerID and, exactly when both, license 2; what names the database in
// the failure.
func wantHolds(t *testing.T, what, path, customerID string, both bool) {
	t.Helper()
	got := hasLicenses(t, path, customerID, 1, 2)
	if !got[0] || got[1] != both {
		want := "only 1"
		if both {
			want = "both"
		}
		t.Errorf("%s holds licenses 1, 2: %v; want %s", what, got, want)
	}
}

// hasLicenses reports, for each n, whether the store at path holds
// license n of customer.
func hasLicenses(t *testing.T, path, customer string, ns ...int) []bool {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	has := make([]bool, len(ns))
	for i, n := range ns {
		_, err := db.License(t.Context(), customer, newLicense(customer, n).Key)
		switch quantumlock.ErrorCode(err) {
		case "":
			has[i] = true
		case quantumlock.ENOTFOUND:
		default:
			t.Fatal(err)
		}
	}
	return has
}

// backedUp opens a store on a new file, issues license 1 of a customer c,
// backs the database up, then issues license 2: the backup holds license 1
// alone, the database both.
func backedUp(t *testing.T) (db *DB, path string, c *quantumlock.Customer, backup string) {
	t.Helper()
	db, path = openTemp(t)
	c = newCustomer(t, db, "cust_000000000001")
	createLicense(t, db, c.ID, 1)
	backup = backupOf(t, path)
	createLicense(t, db, c.ID, 2)
	return db, path, c, backup
}

// A restore puts the backup's contents in place and keeps the database it
// replaced, whole, beside it.
func TestRestore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, c, backup := backedUp(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := Restore(ctx, backup, path)
	if err != nil {
		t.Fatal(err)
	}
	wantHolds(t, "restored database", path, c.ID, false)
	if info.Previous == "" {
		t.Fatal("the replaced database was not kept")
	}
	wantHolds(t, "the kept database", info.Previous, c.ID, true)
	if fi, err := os.Stat(path); err != nil || info.Bytes != fi.Size() {
		t.Errorf("info %+v, file %v, %v", info, fi, err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("restored database mode %v, want 0600", fi.Mode().Perm())
	}
	if m, _ := filepath.Glob(path + ".restoring-*"); len(m) > 0 {
		t.Errorf("the restore's working copy was left behind: %v", m)
	}
}

// A restore where no database is yet makes it, and keeps nothing.
func TestRestoreMakesDatabase(t *testing.T) {
	t.Parallel()
	_, _, c, backup := backedUp(t)
	target := filepath.Join(t.TempDir(), "new.db")
	info, err := Restore(t.Context(), backup, target)
	if err != nil || info.Previous != "" {
		t.Fatalf("Restore = %+v, %v", info, err)
	}
	if got := hasLicenses(t, target, c.ID, 1); !got[0] {
		t.Error("the restored database lacks the backup's license")
	}
}

// A restore is refused while a store has the database open, and for a
// backup that is damaged or from a newer binary; the database stays as
// it was and a missing one is not made.
func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, c, backup := backedUp(t)

	if _, err := Restore(ctx, backup, path); err == nil || !strings.Contains(err.Error(), "open") {
		t.Errorf("restore under an open store: %v", err)
	}
	if _, err := db.License(ctx, c.ID, newLicense(c.ID, 2).Key); err != nil {
		t.Errorf("the open store after a refused restore: %v", err)
	}
	db.Close()
	if _, err := Restore(ctx, path, path); err == nil || !strings.Contains(err.Error(), "itself") {
		t.Errorf("restore of the database onto itself: %v", err)
	}

	dir := t.TempDir()
	damaged := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(damaged, []byte(strings.Repeat("not a database ", 300)), 0o600); err != nil {
		t.Fatal(err)
	}
	newer := backupOf(t, path)
	w := openWriter(t, newer)
	if _, err := w.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, '2027-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// The next version too, the first this binary cannot know.
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	next := backupOf(t, path)
	w = openWriter(t, next)
	if _, err := w.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, '2027-01-01T00:00:00Z')`, unusedVersion(ms)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for name, from := range map[string]string{"damaged": damaged, "newer schema": newer, "next schema": next, "missing": filepath.Join(dir, "missing.db"), "directory": dir} {
		if _, err := Restore(ctx, from, path); err == nil {
			t.Errorf("%s: restored", name)
		}
		missing := filepath.Join(dir, "none.db")
		if _, err := Restore(ctx, from, missing); err == nil {
			t.Errorf("%s: restored into a new file", name)
		}
		if m, _ := filepath.Glob(missing + "*"); len(m) > 0 {
			t.Errorf("%s: %v left behind", name, m)
		}
	}
	wantHolds(t, "after refused restores the database", path, c.ID, true)
	if matches, _ := filepath.Glob(path + ".*"); len(matches) > 0 {
		t.Errorf("refused restores left %v", matches)
	}
}

// A store that opened its writer on a file a restore then replaced, before
// the store had the lock file, notices and refuses rather than work on two
// files at once.
func TestOpenNoticesReplacedFile(t *testing.T) {
	if !fileLocking {
		t.Skip("no file lock on this system")
	}
	t.Parallel()
	ctx := t.Context()
	db, path := openTemp(t)
	newCustomer(t, db, "cust_000000000001")
	backup := backupOf(t, path)
	db.Close()

	// Stand in for a restore: hold the lock exclusive, let Open start,
	// and put another file in place once its writer has opened the old
	// one (SQLite then makes the "-shm" file, which Close removed).
	lk := openLock(t, path)
	if ok, err := lk.try(true); !ok || err != nil {
		t.Fatalf("exclusive lock: %v, %v", ok, err)
	}
	opened := make(chan error, 1)
	go func() {
		db, err := Open(ctx, path)
		if err == nil {
			db.Close()
		}
		opened <- err
	}()
	for deadline := time.Now().Add(time.Minute); ; {
		if _, err := os.Stat(path + "-shm"); err == nil {
			break
		}
		select {
		case err := <-opened: // Open ended before it made the file
			t.Fatalf("Open before it made %s-shm: %v", path, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Open made no -shm file within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	if err := os.Rename(backup, path); err != nil {
		t.Fatal(err)
	}
	lk.unlock()
	if err := <-opened; err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("Open across a replaced file: %v", err)
	}
}

// The database a restore replaces is kept whole even when what it last
// committed is still only in its WAL, as after a crash.
func TestRestoreKeepsUnfoldedWAL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, live := openTemp(t)
	db.Close()
	backup := backupOf(t, live)
	crashed := commitOnlyInWAL(t, live)

	info, err := Restore(ctx, backup, crashed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(info.Previous + "-wal"); err == nil {
		t.Error("the WAL was kept beside the copy instead of folded into it")
	}
	if err := metaHas(t, info.Previous, "only-in-wal"); err != nil {
		t.Errorf("the kept database lost its last commit: %v", err)
	}
}

// Through a symbolic link, a restore replaces the file the link leads to,
// beside which SQLite keeps its other files, and the link stays.
func TestRestoreThroughLink(t *testing.T) {
	t.Parallel()
	db, real, c, backup := backedUp(t)
	db.Close()
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	info, err := Restore(t.Context(), backup, link)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil {
		t.Error(err)
	} else if fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file (mode %v)", fi.Mode())
	}
	wantHolds(t, "the file behind the link", real, c.ID, false)
	if filepath.Dir(info.Previous) != filepath.Dir(real) {
		t.Errorf("the replaced database was kept at %s, not beside %s", info.Previous, real)
	}
}

// crashImage copies the database at live and its WAL, as a crash or a cp
// of a database in use leaves them, to a new directory.
func crashImage(t *testing.T, live string) string {
	t.Helper()
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	for _, side := range []string{"", "-wal"} {
		b, err := os.ReadFile(live + side)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+side, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return crashed
}

// commitOnlyInWAL commits the meta row "only-in-wal" to the database at
// live on a connection that never checkpoints, and returns a crash's image
// of it (crashImage) taken while that commit is in the WAL alone.
func commitOnlyInWAL(t *testing.T, live string) string {
	t.Helper()
	w, err := sql.Open("sqlite", live+"?_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.ExecContext(t.Context(), `INSERT INTO meta (key, value) VALUES ('only-in-wal', 'yes')`); err != nil {
		t.Fatal(err)
	}
	crashed := crashImage(t, live)
	if fi, err := os.Stat(crashed + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the WAL is empty: nothing to test (%v)", err)
	}
	return crashed
}

// holdWALBack commits the meta row "last-commit" to the database at path
// while a reader outside any store (the sqlite3 shell, say) holds an older
// snapshot, so that no checkpoint can fold the commit in until release
// (or t's end).
func holdWALBack(t *testing.T, path string) (release func()) {
	t.Helper()
	w := openWriter(t, path)
	reader, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := reader.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	release = func() { tx.Rollback(); reader.Close() }
	t.Cleanup(release)
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM licenses`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO meta (key, value) VALUES ('last-commit', 'yes')`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return release
}

// metaHas reports whether the database at path has the meta row key.
func metaHas(t *testing.T, path, key string) error {
	t.Helper()
	d, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var v string
	return d.QueryRowContext(t.Context(), `SELECT value FROM meta WHERE key = ?1`, key).Scan(&v)
}

// A WAL left beside a missing database (moved aside by hand, say) is not
// read as the restored database's, and is kept, not deleted.
func TestRestoreIgnoresOrphanWAL(t *testing.T) {
	t.Parallel()
	db, live, c, backup := backedUp(t)
	crashed := crashImage(t, live)
	db.Close()
	if err := os.Rename(crashed, crashed+".broken"); err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(crashed + "-wal")
	if err != nil || len(wal) == 0 {
		t.Fatalf("no WAL to leave behind: %d bytes, %v", len(wal), err)
	}
	info, err := Restore(t.Context(), backup, crashed)
	if err != nil {
		t.Fatal(err)
	}
	wantHolds(t, "restored database", crashed, c.ID, false)
	if kept, err := os.ReadFile(info.Previous + "-wal"); err != nil || !bytes.Equal(kept, wal) {
		t.Errorf("the orphan WAL was not kept as %s-wal: %d bytes, %v", info.Previous, len(kept), err)
	}
}

// The database a restore replaces is kept whole when its WAL cannot be
// folded in: a reader outside any store (the sqlite3 shell, say) holds a
// snapshot, the checkpoint gives up, and the WAL moves with the file.
func TestRestoreKeepsWALItCannotFold(t *testing.T) {
	t.Parallel()
	db, path, c, backup := backedUp(t)
	db.Close()
	release := holdWALBack(t, path)

	info, err := Restore(t.Context(), backup, path)
	release()
	if err != nil {
		t.Fatal(err)
	}
	if err := metaHas(t, info.Previous, "last-commit"); err != nil {
		t.Errorf("the kept database lost its last commit: %v", err)
	}
	wantHolds(t, "restored database", path, c.ID, false)
}

// A restore into a missing database that fails after making the empty
// file removes it again: an empty file there would let the next serve
// start on a new, empty database. (The lock file stays: another process
// may be waiting on it.)
func TestRestoreFailureLeavesNoDatabase(t *testing.T) {
	t.Parallel()
	_, _, _, backup := backedUp(t)
	target := filepath.Join(t.TempDir(), "new.db")
	// Something Restore cannot clear where the old WAL index would be.
	if err := os.MkdirAll(filepath.Join(target+"-shm", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(t.Context(), backup, target); err == nil {
		t.Fatal("restored")
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the failed restore left the database it made")
	}
	if m, _ := filepath.Glob(target + ".*"); len(m) > 0 {
		t.Errorf("the failed restore left %v", m)
	}
}

// Through a symbolic link to a file yet to be made, a restore makes the
// file the link leads to, as Open does.
func TestRestoreThroughDanglingLink(t *testing.T) {
	t.Parallel()
	_, _, c, backup := backedUp(t)
	dir := t.TempDir()
	real, link := filepath.Join(dir, "real.db"), filepath.Join(dir, "link.db")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if _, err := Restore(t.Context(), backup, link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced (%v)", err)
	}
	if got := hasLicenses(t, real, c.ID, 1); !got[0] {
		t.Error("the file behind the link lacks the backup's license")
	}
}

// A backup waits for a migration, which holds the lock file exclusive,
// to end.
func TestBackupWaitsForMigration(t *testing.T) {
	if !fileLocking {
		t.Skip("no file lock on this system")
	}
	t.Parallel()
	db, path := openTemp(t)
	db.Close()
	lk := openLock(t, path)
	if ok, err := lk.try(true); !ok || err != nil {
		t.Fatalf("exclusive lock: %v, %v", ok, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	dst := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(ctx, path, dst); err == nil {
		t.Fatal("backup made while the lock file was held exclusive")
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("a backup file was left")
	}
}

// A restore may be given, as its backup, a working copy an interrupted
// restore left beside the database; it must not destroy it.
func TestRestoreFromLeftoverWorkingCopy(t *testing.T) {
	t.Parallel()
	db, path, c, backup := backedUp(t)
	db.Close()
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	leftover := path + ".restoring-123"
	if err := os.WriteFile(leftover, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(t.Context(), leftover, path); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(leftover); err != nil || len(got) != len(b) {
		t.Errorf("the restore destroyed its backup: %d bytes left, %v", len(got), err)
	}
	wantHolds(t, "restored database", path, c.ID, false)
}

// A restore that fails at the swap leaves the database as it was, its WAL
// included, and keeps nothing.
func TestRestoreFailedSwapLeavesDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, live, c, backup := backedUp(t)
	crashed := commitOnlyInWAL(t, live)
	db.Close()
	// Something Restore cannot remove where the old WAL index goes.
	if err := os.MkdirAll(filepath.Join(crashed+"-shm", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	info, err := Restore(ctx, backup, crashed)
	if err == nil {
		t.Fatal("restored")
	}
	if info.Previous != "" {
		t.Errorf("the failed restore reports a kept database, %s", info.Previous)
	}
	if m, _ := filepath.Glob(crashed + ".*"); len(m) > 0 {
		t.Errorf("the failed restore left %v", m)
	}
	os.RemoveAll(crashed + "-shm")
	wantHolds(t, "after the failed restore the database", crashed, c.ID, true)
	if err := metaHas(t, crashed, "only-in-wal"); err != nil {
		t.Errorf("the failed restore lost the database's last commit: %v", err)
	}
}

// A restore that dies between keeping the old database and the swap (kill
// -9, power loss) leaves the database in use as it was, and the kept copy
// apart from it: what the next serve writes does not change the copy.
func TestRestoreKeptCopyIsApart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, c, _ := backedUp(t)
	db.Close()
	kept, err := keepPrevious(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	// The restore dies here. The next serve issues license 3.
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	createLicense(t, s, c.ID, 3)
	s.Close()
	if got := hasLicenses(t, kept, c.ID, 1, 2, 3); !got[0] || !got[1] || got[2] {
		t.Errorf("the kept copy holds licenses 1, 2, 3: %v; want 1 and 2", got)
	}
	if got := hasLicenses(t, path, c.ID, 1, 2, 3); !got[0] || !got[1] || !got[2] {
		t.Errorf("the database holds licenses 1, 2, 3: %v; want all", got)
	}
}

// Two restores at once into a missing database: one wins, the other is
// refused, and the winner's database and its lock file are there after.
func TestTwoRestoresIntoMissingDatabase(t *testing.T) {
	t.Parallel()
	_, _, c, backup := backedUp(t)
	for round := range 10 {
		target := filepath.Join(t.TempDir(), "new.db")
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := Restore(t.Context(), backup, target)
				errs <- err
			}()
		}
		e1, e2 := <-errs, <-errs
		if e1 != nil && e2 != nil {
			t.Fatalf("round %d: both restores failed: %v; %v", round, e1, e2)
		}
		for _, side := range []string{"", "-lock"} {
			if _, err := os.Stat(target + side); err != nil {
				t.Fatalf("round %d: restores %v / %v, then %v", round, e1, e2, err)
			}
		}
		if got := hasLicenses(t, target, c.ID, 1); !got[0] {
			t.Errorf("round %d: the restored database lacks the backup's license", round)
		}
	}
}

// A backup that opens and reads but fails quick_check (its header
// miscounts the free pages, which quick_check reports as a row, not an
// error) is refused, and the database stays as it was.
func TestRestoreRefusesBackupFailingQuickCheck(t *testing.T) {
	t.Parallel()
	db, path, c, backup := backedUp(t)
	db.Close()
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(b[36:], 7) // free pages: there are none
	if err := os.WriteFile(backup, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(t.Context(), backup, path); err == nil || !strings.Contains(err.Error(), "check") {
		t.Errorf("restore of a backup failing quick_check: %v", err)
	}
	wantHolds(t, "after the refused restore the database", path, c.ID, true)
}

// A symbolic link whose target's name SQLite would read as a URI's query
// is refused, as Open refuses such a name, and nothing changes.
func TestRestoreRefusesLinkToQueryName(t *testing.T) {
	t.Parallel()
	db, live, c, backup := backedUp(t)
	db.Close()
	dir := filepath.Join(t.TempDir(), "data?v1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "q.db")
	for _, side := range []string{"", "-lock"} {
		if err := os.Rename(live+side, real+side); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	if _, err := Restore(t.Context(), backup, link); err == nil {
		t.Fatal("restored")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "data*")); len(m) != 1 {
		t.Errorf("beside the data directory: %v", m)
	}
	wantHolds(t, "after the refused restore the database", link, c.ID, true)
}

// A restore does not overwrite a kept database of an earlier restore in
// the same second: it refuses, and both stay.
func TestRestoreKeepsEarlierKeptDatabase(t *testing.T) {
	t.Parallel()
	db, path, c, backup := backedUp(t)
	db.Close()
	now := time.Now().UTC()
	var earlier []string
	for i := range 3 {
		name := path + ".before-restore-" + now.Add(time.Duration(i)*time.Second).Format("20060102T150405Z")
		if err := os.WriteFile(name, []byte("an earlier restore's"), 0o600); err != nil {
			t.Fatal(err)
		}
		earlier = append(earlier, name)
	}
	if _, err := Restore(t.Context(), backup, path); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("restore beside an earlier kept database of the same second: %v", err)
	}
	for _, name := range earlier {
		if b, err := os.ReadFile(name); err != nil || string(b) != "an earlier restore's" {
			t.Errorf("%s: %q, %v", filepath.Base(name), b, err)
		}
	}
	wantHolds(t, "after the refused restore the database", path, c.ID, true)
}

// Restore refuses a SQLite file of another application, even one that
// keeps a schema_migrations table of its own (golang-migrate's here):
// accepted, it would replace the database with one no server can open.
func TestRestoreRefusesForeignDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path, c, _ := backedUp(t)
	db.Close()

	foreign := filepath.Join(t.TempDir(), "other-app.db")
	w := openWriter(t, foreign)
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, false)`,
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`,
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	info, err := Restore(ctx, foreign, path)
	if err == nil {
		t.Errorf("Restore of another application's database succeeded (previous %q)", info.Previous)
		if s, err := Open(ctx, path); err != nil {
			t.Errorf("and the restored database cannot be opened: %v", err)
		} else {
			s.Close()
		}
		return
	}
	wantHolds(t, "after the refused restore the database", path, c.ID, true)
}

// The backup's name appears only once the copy is whole and checked: until
// then it is written under a partial name, so a backup killed partway
// leaves no file under the backup's name that is not a backup (and would
// block the next try, which never overwrites). A file made under the
// backup's name meanwhile is kept, and the copy dropped. Not parallel: it
// sets the package's hook.
func TestBackupNamedOnceWhole(t *testing.T) {
	ctx := t.Context()
	db, path := openTemp(t)
	c := newCustomer(t, db, "cust_0000000000bk")
	createLicense(t, db, c.ID, 1)
	db.Close()
	dir := t.TempDir()
	dst := filepath.Join(dir, "b.db")

	var seen string
	testHookBackupChecked = func(partial string) {
		seen = partial
		if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists before the copy is whole: %v", dst, err)
		}
		if !strings.HasPrefix(filepath.Base(partial), "b.db.partial-") {
			t.Errorf("the copy is written as %s", partial)
		}
	}
	t.Cleanup(func() { testHookBackupChecked = nil })
	if _, err := Backup(ctx, path, dst); err != nil {
		t.Fatal(err)
	}
	if seen == "" {
		t.Fatal("the hook did not run")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*partial*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if info, _, err := checkBackup(ctx, dst, true); err != nil || info.SchemaVersion == 0 {
		t.Errorf("the backup: %+v %v", info, err)
	}

	// A file made under the name while the copy was written.
	dst2 := filepath.Join(dir, "b2.db")
	testHookBackupChecked = func(string) {
		if err := os.WriteFile(dst2, []byte("made meanwhile"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Backup(ctx, path, dst2); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup onto a file made meanwhile: %v", err)
	}
	if b, _ := os.ReadFile(dst2); string(b) != "made meanwhile" {
		t.Errorf("the file made meanwhile was replaced (%d bytes)", len(b))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*partial*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
