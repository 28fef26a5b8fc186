package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A "-wal" left beside the database by another database (one that stopped
// uncleanly, its file then replaced by hand) is refused at open, before
// anything can checkpoint it into the file: both files are left as they
// are, and with the "-wal" moved away the database opens with every
// license it had. A database's own "-wal", left by a crash, opens with
// every commit in it.
func TestOpenRefusesAnotherDatabasesWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()

	pathA := filepath.Join(dir, "a.db")
	keys := closedWithLicenses(t, pathA, "cust_00000000000a", 200)

	// B, still open: its -wal holds its newest commits, as after a crash.
	dbB, wal, keysB := openWALOf(t, filepath.Join(dir, "b.db"), "cust_00000000000b", 50)

	if err := os.WriteFile(pathA+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}
	if !openRefused(t, pathA, "belongs to another database") {
		t.FailNow()
	}
	if after, _ := os.ReadFile(pathA); string(after) != string(before) {
		t.Error("the refused open changed the database file")
	}
	if got, _ := os.ReadFile(pathA + "-wal"); string(got) != string(wal) {
		t.Error("the refused open changed the -wal")
	}

	os.Remove(pathA + "-wal")
	os.Remove(pathA + "-shm")
	opensWithLicenses(t, pathA, "cust_00000000000a", keys)

	// B's own -wal beside a copy of B's file as it was when the -wal was
	// taken: a crash, whose commits are all there.
	pathC := filepath.Join(dir, "c.db")
	if err := os.WriteFile(pathC, dbB, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pathC+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, pathC)
	if err != nil {
		t.Fatalf("Open after a crash, with the database's own -wal: %v", err)
	}
	defer c.Close()
	for _, k := range keysB {
		if _, err := c.License(ctx, "cust_00000000000b", k); err != nil {
			t.Fatalf("license %s, committed to the -wal before the crash: %v", k, err)
		}
	}
}

// openWALOf makes a database at path whose customer has n licenses (1000
// on), and returns its file and its -wal as they were while it was open,
// the newest commits in the -wal alone, as after a crash, and the keys.
func openWALOf(t *testing.T, path, customerID string, n int) (file, wal []byte, keys []string) {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newCustomer(t, db, customerID)
	defer holdWAL(t, path)()
	for i := 1000; i < 1000+n; i++ {
		keys = append(keys, createLicense(t, db, c.ID, i).Key)
	}
	if wal, err = os.ReadFile(path + "-wal"); err != nil || len(wal) == 0 {
		t.Fatalf("no WAL: %d bytes, %v", len(wal), err)
	}
	if file, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return file, wal, keys
}

// holdWAL holds a read transaction on the database at path, begun now,
// until the function it returns is called: the store's checkpointer then
// cannot start the -wal over, so what is written meanwhile stays in one
// generation of it, whenever the checkpointer's ticks fall (under load, a
// restart near the end of a batch left only its last commits in the -wal).
func holdWAL(t *testing.T, path string) (release func()) {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM customers`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return func() {
		tx.Rollback()
		raw.Close()
	}
}

// A database from before identities, or one whose "-wal" holds no copy of
// page 1, is checked by what a mismatch breaks: another database's newest
// pages laid over this file break its structure, which SQLite's quick
// check finds.
func TestOpenRefusesAnotherDatabasesWALByItsRows(t *testing.T) {
	t.Parallel()
	pathA, keys := withoutIdentityUnderForeignWAL(t)
	if !openRefused(t, pathA, "do not make a sound database") {
		t.FailNow()
	}
	os.Remove(pathA + "-wal")
	os.Remove(pathA + "-shm")
	opensWithLicenses(t, pathA, "cust_00000000000a", keys)
}

// withoutIdentityUnderForeignWAL makes a database without an identity (as
// before identities were given), of a customer and 200 licenses, closed
// cleanly, and puts beside it the -wal of another database that was
// checkpointed and then written to again, so that the -wal holds only the
// other's newest pages. It returns the path and the licenses' keys.
func withoutIdentityUnderForeignWAL(t *testing.T) (string, []string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	pathA := filepath.Join(dir, "a.db")
	keys := closedWithLicenses(t, pathA, "cust_00000000000a", 200)
	raw, err := sql.Open("sqlite", pathA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA user_version = 0`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := os.Stat(pathA + "-wal"); err == nil {
		t.Fatal("a -wal stayed beside a")
	}

	pathB := filepath.Join(dir, "b.db")
	b, err := Open(ctx, pathB)
	if err != nil {
		t.Fatal(err)
	}
	cb := newCustomer(t, b, "cust_00000000000b")
	for i := 1000; i < 1300; i++ {
		createLicense(t, b, cb.ID, i)
	}
	b.Close()
	if b, err = Open(ctx, pathB); err != nil {
		t.Fatal(err)
	}
	createLicense(t, b, cb.ID, 2000)
	release := holdWAL(t, pathB)
	for i := 2001; i < 2050; i++ {
		createLicense(t, b, cb.ID, i)
	}
	wal, err := os.ReadFile(pathB + "-wal")
	if err != nil || len(wal) == 0 {
		t.Fatalf("no WAL: %d bytes, %v", len(wal), err)
	}
	release()
	b.Close()
	if err := os.WriteFile(pathA+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	return pathA, keys
}

// Open gives a database its identity once, and keeps it.
func TestDatabaseIdentity(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	id := func() int64 {
		t.Helper()
		var v int64
		if err := db.w.QueryRowContext(t.Context(), `PRAGMA user_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := id()
	if first == 0 {
		t.Fatal("a new database has no identity")
	}
	db.Close()
	var err error
	if db, err = Open(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if again := id(); again != first {
		t.Errorf("identity %d, then %d", first, again)
	}
}

// closedWithLicenses makes a database at path with a customer of the id
// given and n licenses, closes it cleanly (no -wal left), and returns the
// licenses' keys.
func closedWithLicenses(t *testing.T, path, customerID string, n int) []string {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newCustomer(t, db, customerID)
	keys := make([]string, n)
	for i := range n {
		keys[i] = createLicense(t, db, c.ID, i+1).Key
	}
	return keys
}

// opensWithLicenses opens the database at path and checks that the customer has
// each license of keys.
func opensWithLicenses(t *testing.T, path, customerID string, keys []string) {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, k := range keys {
		if _, err := db.License(context.Background(), customerID, k); err != nil {
			t.Fatalf("license %s after moving the -wal away: %v", k, err)
		}
	}
}

// crashedCopy returns the path of a copy of a database taken while a store
// has it open, with its -wal: what a crash leaves.
func crashedCopy(t *testing.T) (path string, keys []string, customerID string) {
	t.Helper()
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src.db")
	db, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // its identity checkpointed into the file
	if db, err = Open(ctx, src); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newCustomer(t, db, "cust_0000000000cr")
	for i := 1; i <= 60; i++ {
		keys = append(keys, createLicense(t, db, c.ID, i).Key)
	}
	return crashImage(t, src), keys, c.ID
}

// appendPage1Frame appends to the WAL at path a frame holding page 1 with
// another identity, checksummed as SQLite would (valid) or not, marked as
// ending a transaction or not.
func appendPage1Frame(t *testing.T, path string, valid, commit bool) {
	t.Helper()
	wal, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if binary.BigEndian.Uint32(wal[0:4])&1 == 1 {
		order = binary.BigEndian
	}
	pageSize := int(binary.BigEndian.Uint32(wal[8:12]))
	// The frame is chained after the last one SQLite's recovery reads: a
	// checkpoint while the copy was live may have started the WAL over,
	// leaving an older generation's frames past the current ones.
	s0, s1 := binary.BigEndian.Uint32(wal[24:28]), binary.BigEndian.Uint32(wal[28:32])
	n := 0
	for off := 32; off+24+pageSize <= len(wal); off += 24 + pageSize {
		f := wal[off : off+24+pageSize]
		if !bytes.Equal(f[8:16], wal[16:24]) {
			break
		}
		c0, c1 := walChecksum(order, f[:8], s0, s1)
		c0, c1 = walChecksum(order, f[24:], c0, c1)
		if c0 != binary.BigEndian.Uint32(f[16:20]) || c1 != binary.BigEndian.Uint32(f[20:24]) {
			break
		}
		s0, s1, n = c0, c1, n+1
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 24+pageSize)
	binary.BigEndian.PutUint32(frame[0:4], 1)
	if commit {
		binary.BigEndian.PutUint32(frame[4:8], uint32(len(page)/pageSize))
	}
	copy(frame[8:16], wal[16:24])
	copy(frame[24:], page[:pageSize])
	binary.BigEndian.PutUint32(frame[24+60:], 12345)
	s0, s1 = walChecksum(order, frame[:8], s0, s1)
	s0, s1 = walChecksum(order, frame[24:], s0, s1)
	if !valid {
		s0++
	}
	binary.BigEndian.PutUint32(frame[16:20], s0)
	binary.BigEndian.PutUint32(frame[20:24], s1)
	if err := os.WriteFile(path+"-wal", append(wal[:32+n*(24+pageSize)], frame...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A crash leaves frames past the last transaction SQLite will read: a
// write torn mid-frame, a transaction never committed. Their page 1, with
// whatever identity its bytes hold, is not the database's, and the open
// goes on with every committed license. A committed page 1 of another
// identity, checksummed as SQLite's own, is refused.
func TestLeftWALReadAsSQLiteReadsIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		valid, commit bool
		refused       bool
	}{
		{"torn", false, true, false},
		{"uncommitted", true, false, false},
		{"committed", true, true, true},
	} {
		path, keys, customerID := crashedCopy(t)
		fileID := func() uint32 {
			b, err := os.ReadFile(path)
			if err != nil || len(b) < 100 {
				t.Fatalf("%v, %d bytes", err, len(b))
			}
			return binary.BigEndian.Uint32(b[60:64])
		}
		if fileID() == 0 {
			t.Fatalf("%s: the copied file has no identity yet", tc.name)
		}
		appendPage1Frame(t, path, tc.valid, tc.commit)
		db, err := Open(ctx, path)
		if tc.refused {
			if err == nil || !strings.Contains(err.Error(), "belongs to another database") {
				t.Errorf("%s: Open: %v", tc.name, err)
			}
			if err == nil {
				db.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Open after a crash: %v", tc.name, err)
			continue
		}
		for _, k := range keys {
			if _, err := db.License(ctx, customerID, k); err != nil {
				t.Errorf("%s: license %s: %v", tc.name, k, err)
				break
			}
		}
		db.Close()
	}
}

// Through a symbolic link the -wal looked at is the one SQLite reads:
// beside the file the link leads to.
func TestLeftWALThroughLink(t *testing.T) {
	t.Parallel()
	path, _, _ := crashedCopy(t)
	appendPage1Frame(t, path, true, true)
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	openRefused(t, link, "belongs to another database")
}

// Another process checking the -wal (the lock file held exclusive) is
// waited for, and the check made again, rather than the -wal taken for a
// live one: two opens at once must not let one fold in what the other
// refuses. A process that has the database open (the lock held shared)
// makes the -wal live, and it is not checked.
func TestLeftWALCheckWaitsForAnotherCheck(t *testing.T) {
	t.Parallel()
	path, _ := withoutIdentityUnderForeignWAL(t)
	other, err := openFileLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()
	if ok, err := other.try(true); err != nil || !ok {
		t.Skip("no exclusive file locks here:", ok, err)
	}
	done := make(chan error, 1)
	go func() { done <- checkLeftWAL(t.Context(), path) }()
	select {
	case err := <-done:
		t.Fatalf("the check went on under another process's exclusive lock: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	other.unlock()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "do not make a sound database") {
		t.Errorf("once the other check ended: %v", err)
	}

	// Open elsewhere: a live -wal, whose structure is not checked.
	if ok, err := other.try(false); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := checkLeftWAL(t.Context(), path); err != nil {
		t.Errorf("with the database open elsewhere: %v", err)
	}
	other.unlock()
}

// The identity is compared even while another process has the database
// open, so that no moment of the locking lets another database's -wal
// through on it.
func TestLeftWALIdentityWhateverTheLock(t *testing.T) {
	t.Parallel()
	path, _, _ := crashedCopy(t)
	appendPage1Frame(t, path, true, true)
	other, err := openFileLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()
	if ok, err := other.try(false); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := checkLeftWAL(t.Context(), path); err == nil || !strings.Contains(err.Error(), "belongs to another database") {
		t.Errorf("with the lock held shared: %v", err)
	}
}

// A -wal header's page size of 1 is no page size: SQLite ignores such a
// -wal (it writes 65536 as itself there, unlike in the file's header), and
// so does the identity check.
func TestLeftWALPageSizeOne(t *testing.T) {
	t.Parallel()
	// A database of 64 KiB pages with an identity in its file, and a
	// -wal of committed frames, copied while open, as a crash leaves it.
	src := filepath.Join(t.TempDir(), "big.db")
	execAll(t, rawDB(t, src), `PRAGMA page_size = 65536`, `PRAGMA user_version = 777`,
		`CREATE TABLE t (x)`, `PRAGMA journal_mode = WAL`)
	w := rawDB(t, src)
	execAll(t, w, `PRAGMA wal_autocheckpoint = 0`, `INSERT INTO t VALUES (randomblob(200000))`)
	path := crashImage(t, src)
	appendPage1Frame(t, path, true, true)
	if id, err := walPage1ID(path + "-wal"); err != nil || id != 12345 {
		t.Fatalf("walPage1ID of the -wal as written: %d, %v", id, err)
	}
	wal, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(wal[8:12]) != 65536 {
		t.Fatalf("the -wal header gives page size %d", binary.BigEndian.Uint32(wal[8:12]))
	}
	// Page size 1, with the header's checksum, and so every frame's,
	// made again: a -wal whose only fault is that field.
	binary.BigEndian.PutUint32(wal[8:12], 1)
	order := binary.ByteOrder(binary.LittleEndian)
	if binary.BigEndian.Uint32(wal[0:4])&1 == 1 {
		order = binary.BigEndian
	}
	s0, s1 := walChecksum(order, wal[:24], 0, 0)
	binary.BigEndian.PutUint32(wal[24:28], s0)
	binary.BigEndian.PutUint32(wal[28:32], s1)
	for off := 32; off+24+65536 <= len(wal); off += 24 + 65536 {
		s0, s1 = walChecksum(order, wal[off:off+8], s0, s1)
		s0, s1 = walChecksum(order, wal[off+24:off+24+65536], s0, s1)
		binary.BigEndian.PutUint32(wal[off+16:], s0)
		binary.BigEndian.PutUint32(wal[off+20:], s1)
	}
	if err := os.WriteFile(path+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	if id, err := walPage1ID(path + "-wal"); err != nil || id != 0 {
		t.Errorf("walPage1ID of a -wal with page size 1: %d, %v", id, err)
	}
}

// A restore over a database whose "-wal" belongs to another database
// keeps both as they were: the "-wal" is not folded into the file, which
// would mix the two in the live database before it is replaced (and leave
// it so, were the replacement to fail).
func TestRestoreKeepsAnotherDatabasesWALApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	pathA := filepath.Join(dir, "a.db")
	keysA := closedWithLicenses(t, pathA, "cust_00000000000a", 20)

	_, wal, _ := openWALOf(t, filepath.Join(dir, "b.db"), "cust_00000000000b", 30)
	if err := os.WriteFile(pathA+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	fileA, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}

	pathC := filepath.Join(dir, "c.db")
	keysC := closedWithLicenses(t, pathC, "cust_00000000000c", 5)
	info, err := Restore(ctx, backupOf(t, pathC), pathA)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(info.Previous); string(got) != string(fileA) {
		t.Error("the kept database is not the file as it was: the other database's -wal was folded into it")
	}
	if got, _ := os.ReadFile(info.Previous + anotherDatabasesWAL); string(got) != string(wal) {
		t.Error("the other database's -wal was not kept as it was")
	}
	if _, err := os.Stat(info.Previous + "-wal"); err == nil {
		t.Error("the other database's -wal was kept where SQLite reads it as the kept copy's")
	}
	opensWithLicenses(t, pathA, "cust_00000000000c", keysC)
	// A restore from the kept copy brings A back, and A alone.
	pathD := filepath.Join(dir, "d.db")
	if _, err := Restore(ctx, info.Previous, pathD); err != nil {
		t.Fatal(err)
	}
	opensWithLicenses(t, pathD, "cust_00000000000a", keysA)
	if hasLicenses(t, pathD, "cust_00000000000b", 1000)[0] {
		t.Error("the database restored from the kept copy holds the other database's licenses")
	}

	// A backup given to restore with another database's -wal beside it
	// is refused, both left as they are: reading it would fold the -wal
	// in.
	pathE := filepath.Join(dir, "e.db")
	if err := os.WriteFile(pathE, fileA, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pathE+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, pathE, filepath.Join(dir, "f.db")); err == nil || !strings.Contains(err.Error(), "belongs to another database") {
		t.Errorf("restore from a file under another database's -wal: %v", err)
	}
	if got, _ := os.ReadFile(pathE); string(got) != string(fileA) {
		t.Error("the refused restore changed its source")
	}
}

// A backup named through a symbolic link, with another database's -wal
// beside the file the link leads to, where SQLite reads it from, is
// refused as one named directly is, and nothing is folded into it.
func TestRestoreFromLinkRefusesAnotherDatabasesWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	backup, before := underAnotherDatabasesWAL(t, dir, "e.db")
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(backup, link); err != nil {
		t.Skip(err)
	}
	_, err := Restore(ctx, link, filepath.Join(dir, "f.db"))
	if err == nil || !strings.Contains(err.Error(), "belongs to another database") {
		t.Errorf("restore through a link: %v, want refused", err)
	}
	leftAsTheyWere(t, backup, before)
	if err == nil && hasLicenses(t, filepath.Join(dir, "f.db"), "cust_00000000000b", 1000)[0] {
		t.Error("the restored database holds the other database's licenses")
	}
}

// backup of a file under another database's -wal, which Open refuses, is
// refused too: reading the file would fold that -wal into the live
// database, and the next serve would open the mixture without a word.
func TestBackupRefusesAnotherDatabasesWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	live, before := underAnotherDatabasesWAL(t, dir, "a.db")
	openRefused(t, live, "belongs to another database")
	bk := filepath.Join(dir, "bk.db")
	if _, err := Backup(ctx, live, bk); err == nil || !strings.Contains(err.Error(), "belongs to another database") {
		t.Errorf("backup of a file under another database's -wal: %v, want refused", err)
	}
	leftAsTheyWere(t, live, before)
	if _, err := os.Lstat(bk); err == nil {
		t.Error("a backup was written")
	}
	openRefused(t, live, "belongs to another database")
}

// backup and restore refuse a file under another database's -wal that
// the identity cannot tell (a database without one), as Open does, by
// reading the two through a connection that cannot checkpoint: neither
// folds the -wal in.
func TestBackupAndRestoreRefuseAnotherDatabasesWALByItsRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, _ := withoutIdentityUnderForeignWAL(t)
	before, _ := os.ReadFile(path)
	wal, _ := os.ReadFile(path + "-wal")
	dir := filepath.Dir(path)
	if _, err := Backup(ctx, path, filepath.Join(dir, "bk.db")); err == nil || !strings.Contains(err.Error(), "do not make a sound database") {
		t.Errorf("backup: %v, want refused", err)
	}
	if _, err := Restore(ctx, path, filepath.Join(dir, "f.db")); err == nil || !strings.Contains(err.Error(), "do not make a sound database") {
		t.Errorf("restore from it: %v, want refused", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(before) {
		t.Error("the file was changed")
	}
	if got, _ := os.ReadFile(path + "-wal"); string(got) != string(wal) {
		t.Error("the -wal was changed or removed")
	}
	for _, name := range []string{"bk.db", "f.db"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s was written", name)
		}
	}
}

// underAnotherDatabasesWAL makes, in dir, a database named name holding a
// customer's 20 licenses, closed cleanly, and puts beside it the -wal of
// another database (b.db, another customer's 30 licenses): a file put
// over the name by hand after an unclean stop. It returns the path and
// the file's bytes.
func underAnotherDatabasesWAL(t *testing.T, dir, name string) (path string, file []byte) {
	t.Helper()
	path = filepath.Join(dir, name)
	closedWithLicenses(t, path, "cust_00000000000a", 20)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, wal, _ := openWALOf(t, filepath.Join(dir, "b.db"), "cust_00000000000b", 30)
	if err := os.WriteFile(path+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, file
}

// leftAsTheyWere checks that the file at path still holds file, and that
// the -wal beside it is still there: nothing folded it in.
func leftAsTheyWere(t *testing.T, path string, file []byte) {
	t.Helper()
	if got, _ := os.ReadFile(path); string(got) != string(file) {
		t.Errorf("%s was changed: the -wal beside it was folded in", path)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("the -wal beside %s is gone: %v", path, err)
	}
}

// A left-WAL check stopped by its context fails with the context's error,
// not SQLite's "interrupted", so that backup and restore can say what
// they left.
func TestLeftWALCheckStoppedNamesTheContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file, wal, _ := openWALOf(t, filepath.Join(dir, "live.db"), "cust_00000000000a", 30)
	crashed := filepath.Join(dir, "crashed.db")
	if err := os.WriteFile(crashed, file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crashed+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := checkWALRows(ctx, crashed); !errors.Is(err, context.Canceled) {
		t.Errorf("a stopped check: %v, want context.Canceled", err)
	}
	if _, err := Backup(ctx, crashed, filepath.Join(dir, "bk.db")); !errors.Is(err, context.Canceled) {
		t.Errorf("a stopped backup: %v, want context.Canceled", err)
	}
}
