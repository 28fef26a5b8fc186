package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/storetest"
)

// openTemp opens a store on a new file in t's temporary directory and
// closes it when t ends.
func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "quantumlock.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// openTwo opens two stores on one new file, as the server and the CLI do
// from two processes, and closes both when t ends.
func openTwo(t testing.TB) (server, cli *DB) {
	t.Helper()
	server, path := openTemp(t)
	cli, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return server, cli
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) quantumlock.Store {
		db, err := Open(t.Context(), filepath.Join(t.TempDir(), "quantumlock.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db // Run closes it
	})
}

func TestOpen(t *testing.T) {
	t.Parallel()
	t.Run("Pragmas", func(t *testing.T) {
		t.Parallel()
		db, _ := openTemp(t)
		for _, tc := range []struct {
			pool         string
			pragma, want string
		}{
			{"writer", "journal_mode", "wal"},
			{"writer", "foreign_keys", "1"},
			{"writer", "synchronous", "1"}, // NORMAL
			{"writer", "busy_timeout", "5000"},
			{"reader", "journal_mode", "wal"},
			{"reader", "query_only", "1"},
			{"reader", "busy_timeout", "5000"},
		} {
			p := db.w
			if tc.pool == "reader" {
				p = db.r
			}
			var got string
			if err := p.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", tc.pool, tc.pragma, got, tc.want)
			}
		}
	})
	t.Run("ReadersCannotWrite", func(t *testing.T) {
		t.Parallel()
		db, _ := openTemp(t)
		if _, err := db.r.ExecContext(t.Context(), `INSERT INTO meta (key, value) VALUES ('x', 'y')`); err == nil {
			t.Error("a read connection wrote")
		}
	})
	t.Run("NewFileOwnerOnly", func(t *testing.T) {
		t.Parallel()
		if runtime.GOOS == "windows" {
			t.Skip("no Unix file modes here")
		}
		// With a umask that already keeps others out, this would pass
		// without the service's doing.
		probe := filepath.Join(t.TempDir(), "probe")
		if f, err := os.Create(probe); err != nil {
			t.Fatal(err)
		} else {
			f.Close()
		}
		if fi, err := os.Stat(probe); err != nil || fi.Mode().Perm()&0o044 == 0 {
			t.Skip("the umask already makes new files private")
		}
		db, path := openTemp(t)
		// Something to write, so that the WAL exists.
		newCustomer(t, db, "cust_0000000000m1")
		for _, name := range []string{path, path + "-wal", path + "-shm", path + "-lock"} {
			if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, %v; want 0600", filepath.Base(name), fi.Mode(), err)
			}
		}
		// An existing file keeps its mode.
		db.Close()
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		again, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		again.Close()
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("reopened: %v, %v; want 0640 kept", fi.Mode(), err)
		}
		// Through a symbolic link to a file yet to be made.
		target := filepath.Join(t.TempDir(), "target.db")
		link := filepath.Join(t.TempDir(), "link.db")
		if err := os.Symlink(target, link); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
		viaLink, err := Open(t.Context(), link)
		if err != nil {
			t.Fatal(err)
		}
		viaLink.Close()
		if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("made through a link: %v, %v; want 0600", fi.Mode(), err)
		}
	})
	t.Run("ErrPath", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{
			"", ":memory:", "file:x.db", "x.db?mode=ro", t.TempDir(),
			filepath.Join(t.TempDir(), "missing", "dir", "x.db"),
		} {
			if db, err := Open(t.Context(), path); err == nil {
				db.Close()
				t.Errorf("Open(%q) succeeded", path)
			}
		}
	})
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	// Versions run 1, 2, 3… without gaps, but for withdrawn ones, which
	// are never used again.
	next := 1
	for _, m := range ms {
		for isWithdrawn(next) {
			next++
		}
		if m.version != next {
			t.Fatalf("migration %s has version %d, want %d: versions must run 1, 2, 3… without gaps but for withdrawn ones", m.name, m.version, next)
		}
		next++
	}

	ctx := t.Context()
	db, path := openTemp(t)
	applied := func(db *DB) map[int]int64 {
		t.Helper()
		rows, err := db.r.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[int]int64{}
		for rows.Next() {
			var v int
			var at int64
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatal(err)
			}
			got[v] = at
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := applied(db)
	if len(first) != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", len(first), len(ms))
	}
	for _, m := range ms {
		if first[m.version] == 0 {
			t.Errorf("migration %s not recorded", m.name)
		}
	}

	t.Run("ReopenIsNoOp", func(t *testing.T) {
		db.Close()
		again, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		second := applied(again)
		if fmt.Sprint(second) != fmt.Sprint(first) {
			t.Errorf("reopening changed schema_migrations from %v to %v", first, second)
		}
	})

	// A database made before migration 2 (and so 3) gets its indexes built
	// over the licenses it holds.
	t.Run("StatusIndexesOnUpgrade", func(t *testing.T) {
		db, path := openTemp(t)
		c := newCustomer(t, db, "cust_0000000000u2")
		for i := range 3 {
			createLicense(t, db, c.ID, i+1)
		}
		if _, err := db.RevokeLicense(ctx, c.ID, newLicense(c.ID, 2).Key, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`DROP INDEX licenses_unrevoked`, `DROP INDEX licenses_revoked`,
			`DROP TRIGGER licenses_counted`, `DROP TRIGGER licenses_uncounted`, `DROP TABLE license_counts`, // 0003
			`DELETE FROM schema_migrations WHERE version >= 2`} {
			if _, err := db.w.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		again, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		for _, c := range []struct {
			status string
			want   int64
		}{{quantumlock.StatusRevoked, 1}, {quantumlock.StatusActive, 2}, {quantumlock.StatusExpired, 0}} {
			page, total, err := again.Licenses(ctx, quantumlock.LicenseFilter{CustomerID: "cust_0000000000u2", Status: c.status, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if total != c.want || int64(len(page)) != c.want {
				t.Errorf("%s after the upgrade: %d licenses, total %d; want %d", c.status, len(page), total, c.want)
			}
		}
	})

	t.Run("ErrNewerSchema", func(t *testing.T) {
		db, path := openTemp(t)
		if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)`, unusedVersion(ms)); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if db, err := Open(ctx, path); err == nil {
			db.Close()
			t.Error("Open accepted a database migrated by a newer binary")
		}
	})

	t.Run("ErrNewerSchemaWhileMigrating", func(t *testing.T) {
		// A newer binary migrating between migrate's first check and a
		// step: the step's own transaction sees it and refuses.
		db, _ := openTemp(t)
		if _, err := db.w.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = ?1`, ms[len(ms)-1].version); err != nil {
			t.Fatal(err)
		}
		if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)`, unusedVersion(ms)); err != nil {
			t.Fatal(err)
		}
		if err := apply(ctx, db.w, ms[len(ms)-1], ms[len(ms)-1].version); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
			t.Errorf("apply under a newer schema: %v", err)
		}
	})
}

// unusedVersion returns the version a newer binary's next migration would
// have: past ms, and past every withdrawn version.
func unusedVersion(ms []migration) int {
	v := ms[len(ms)-1].version
	for _, m := range withdrawn {
		v = max(v, m.version)
	}
	return v + 1
}

func newCustomer(t testing.TB, db *DB, id string) *quantumlock.Customer {
	t.Helper()
	c := &quantumlock.Customer{ID: id, Name: "Vendor", Email: "vendor@example.com", Plan: quantumlock.PlanFree, CreatedAt: time.Now().UTC()}
	if err := db.CreateCustomer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// createLicense issues newLicense(customerID, n) under a quota with no
// limit and returns it.
func createLicense(t testing.TB, db *DB, customerID string, n int) *quantumlock.License {
	t.Helper()
	l := newLicense(customerID, n)
	if _, err := db.CreateLicense(context.Background(), l, quantumlock.Quota{Period: "2026-01"}); err != nil {
		t.Fatal(err)
	}
	return l
}

func newLicense(customerID string, n int) *quantumlock.License {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &quantumlock.License{
		Key:           fmt.Sprintf("QLOCK-%04X-%04X-%04X", n>>32&0xffff, n>>16&0xffff, n&0xffff),
		CustomerID:    customerID,
		EndCustomerID: "end-customer",
		Features:      []string{"pro"},
		Metadata:      []byte(`{"seats":5}`),
		GeneratedAt:   now,
		ValidUntil:    now.Add(365 * 24 * time.Hour),
		Signature:     fmt.Sprintf("%0128x", n),
		SecurityLevel: quantumlock.SecurityCryptographic,
		EntropySource: quantumlock.SourceCryptographic,
	}
}

// TestRestart checks that what one process wrote is there for the next.
func TestRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTemp(t)
	c := newCustomer(t, db, "cust_000000000001")
	l := newLicense(c.ID, 1)
	q := quantumlock.Quota{Period: "2026-03", Limit: 2}
	if _, err := db.CreateLicense(ctx, l, q); err != nil {
		t.Fatal(err)
	}
	if err := db.BindMasterKey(ctx, "fp"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.License(ctx, c.ID, l.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != l.Key || !got.ValidUntil.Equal(l.ValidUntil) || string(got.Metadata) != string(l.Metadata) {
		t.Errorf("after restart: %+v, want %+v", got, l)
	}
	if used, err := db.CreateLicense(ctx, newLicense(c.ID, 2), q); err != nil || used != 2 {
		t.Errorf("after restart: CreateLicense = %d, %v; want 2, nil (the counter survives)", used, err)
	}
	if code := quantumlock.ErrorCode(db.BindMasterKey(ctx, "other")); code != quantumlock.EMASTERKEY {
		t.Errorf("after restart: BindMasterKey(other) code %q, want %q", code, quantumlock.EMASTERKEY)
	}
}

// TestTwoHandles stands for the CLI writing while the server writes: two
// *DB on one file, each with its own writer connection, contend for the
// write lock. busy_timeout must make them queue, and the quota must stay
// exact across them.
func TestTwoHandles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	server, cli := openTwo(t)
	c := newCustomer(t, server, "cust_000000000001")

	const limit, perHandle = 30, 40
	q := quantumlock.Quota{Period: "2026-03", Limit: limit}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		ok, quota int
	)
	for h, db := range []*DB{server, cli} {
		for i := range perHandle {
			wg.Go(func() {
				_, err := db.CreateLicense(ctx, newLicense(c.ID, h*perHandle+i), q)
				mu.Lock()
				defer mu.Unlock()
				switch quantumlock.ErrorCode(err) {
				case "":
					ok++
				case quantumlock.ERATELIMIT:
					quota++
				default:
					t.Errorf("handle %d: CreateLicense: %v", h, err)
				}
			})
		}
		// The CLI's other writes interleave with the server's licenses.
		wg.Go(func() {
			for i := range 10 {
				k := &quantumlock.APIKey{ID: fmt.Sprintf("ak_%d_%d", h, i), CustomerID: c.ID, Hash: []byte(fmt.Sprintf("hash %d %d", h, i)), Hint: "ql_live_", CreatedAt: time.Now().UTC()}
				if err := db.CreateAPIKey(ctx, k); err != nil {
					t.Errorf("handle %d: CreateAPIKey: %v", h, err)
				}
			}
		})
	}
	wg.Wait()
	if ok != limit || quota != 2*perHandle-limit {
		t.Errorf("%d licenses created and %d refused across two handles; want %d and %d", ok, quota, limit, 2*perHandle-limit)
	}
	for name, db := range map[string]*DB{"server": server, "cli": cli} {
		stats, err := db.LicenseStats(ctx, c.ID, q.Period, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if stats.IssuedInPeriod != limit || stats.Total != limit {
			t.Errorf("%s sees %+v, want %d issued and %d total", name, stats, limit, limit)
		}
		keys, err := db.APIKeys(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 20 {
			t.Errorf("%s sees %d API keys, want 20", name, len(keys))
		}
	}
}

// TestTimePrecision checks that times keep their microseconds, come back in
// UTC whatever zone they went in with, and that finer digits are dropped
// rather than rounded.
func TestTimePrecision(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	in := time.Date(2026, 3, 14, 20, 39, 26, 535897999, zone)
	c := &quantumlock.Customer{ID: "cust_000000000001", Name: "V", Email: "v@example.com", Plan: quantumlock.PlanFree, CreatedAt: in}
	if err := db.CreateCustomer(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	got, err := db.Customer(t.Context(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want)
	}
}

func TestCreateLicenseAfterClose(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	ctx := context.Background()
	c := &quantumlock.Customer{ID: "cust_00000000000a", Name: "a", Email: "a@b.example", Plan: quantumlock.PlanFree, CreatedAt: time.Now()}
	if err := db.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l := &quantumlock.License{Key: "QLOCK-0000-0000-0001", CustomerID: c.ID, Features: []string{}, Signature: "00"}
	done := make(chan error, 1)
	go func() {
		_, err := db.CreateLicense(ctx, l, quantumlock.Quota{Period: "2026-01"})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("CreateLicense on a closed store succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CreateLicense on a closed store hangs")
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]int64{
		"QLOCK-0000-0000-0000": 0,
		"QLOCK-0000-0000-0001": 1,
		"QLOCK-7A3F-9B2C-4E1D": 0x7a3f9b2c4e1d,
		"qlock-7a3f-9b2c-4e1d": 0x7a3f9b2c4e1d,
		"QLOCK-FFFF-FFFF-FFFF": 1<<48 - 1,
	} {
		if got, ok := keyID(key); !ok || got != want {
			t.Errorf("keyID(%q) = %x, %v; want %x", key, got, ok, want)
		}
	}
	for _, bad := range []string{"", "QLOCK-0000-0000-000", "QLOCK-0000-0000-000G", "QLOCK_0000-0000-0000", "QLOCK-0000+0000-0000", "XLOCK-0000-0000-0000", "QLOCK-0000-0000-00000"} {
		if _, ok := keyID(bad); ok {
			t.Errorf("keyID(%q) accepted", bad)
		}
	}
}

// TestCheckpointer checks that, with automatic checkpoints off on the
// writer, the background checkpointer still folds the WAL into the file.
func TestCheckpointer(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	ctx := context.Background()
	c := &quantumlock.Customer{ID: "cust_00000000000a", Name: "a", Email: "a@b.example", Plan: quantumlock.PlanFree, CreatedAt: time.Now()}
	if err := db.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := st.Size()
	for i := range 500 {
		l := &quantumlock.License{Key: fmt.Sprintf("QLOCK-0000-%04X-%04X", i>>16, i&0xffff), CustomerID: c.ID, Features: []string{}, Signature: strings.Repeat("a", 128)}
		if _, err := db.CreateLicense(ctx, l, quantumlock.Quota{Period: "2026-01"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes: the WAL was never checkpointed", st.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadPoolClosesIdleConnections checks that an idle read connection is
// closed, handing its pages of the process-wide page cache back to the
// point readers (see Open and docs/storage.md, where the effect on page
// reads per lookup is measured among a million licenses).
func TestReadPoolClosesIdleConnections(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	if _, err := db.Customers(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(readerMaxIdle + 3*time.Second)
	for {
		st := db.r.Stats()
		if st.OpenConnections == 0 && st.MaxIdleTimeClosed > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read pool after %v idle: %d open, %d closed for idleness", readerMaxIdle+3*time.Second, st.OpenConnections, st.MaxIdleTimeClosed)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWALWrapsUnderSustainedIssuing checks that the WAL starts over from
// its beginning while licenses are issued without a pause, instead of
// growing for as long as issuing goes on (see checkpointer).
func TestWALWrapsUnderSustainedIssuing(t *testing.T) {
	t.Parallel()
	db := openWrapping(t, math.MaxInt64) // the writer's catch-ups alone
	n := issueWithoutPause(t, db, newCustomer(t, db, "cust_00000000000b"))
	wraps, peak := walRestarts(db, 3, 20*time.Second)
	if wraps < 3 {
		t.Fatalf("the WAL started over %d times in 20 s of issuing (%d licenses); it reached %d frames", wraps, n.Load(), peak)
	}
	t.Logf("%d licenses, the WAL started over %d times, at most %d frames", n.Load(), wraps, peak)
}

// TestWALWrapsUnderOverlappingReads checks the checkpointer's fallback: a
// WAL that readers never stop using, because two long reads overlap so
// that one of them always holds a snapshot older than the last commit,
// cannot start over at the writer's catch-ups, and a RESTART checkpoint
// makes it, once the WAL passes eight times the threshold.
func TestWALWrapsUnderOverlappingReads(t *testing.T) {
	t.Parallel()
	db := openWrapping(t, 512)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for i := range 2 {
		wg.Go(func() {
			// Each read lasts 20 ms, the second starting 10 ms after the
			// first.
			time.Sleep(time.Duration(i) * 10 * time.Millisecond)
			for ctx.Err() == nil {
				tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				if err != nil {
					return
				}
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM licenses`).Scan(&n); err == nil {
					time.Sleep(20 * time.Millisecond)
				}
				tx.Rollback()
			}
		})
	}
	n := issueWithoutPause(t, db, newCustomer(t, db, "cust_00000000000c"))
	wraps, peak := walRestarts(db, 2, 20*time.Second)
	if wraps < 2 {
		t.Fatalf("the WAL started over %d times in 20 s of issuing under overlapping reads (%d licenses); it reached %d frames", wraps, n.Load(), peak)
	}
	t.Logf("%d licenses, the WAL started over %d times, at most %d frames", n.Load(), wraps, peak)
}

// TestCatchUpRetriesAfterAnotherCheckpoint checks that a writer's catch-up
// that finds another process's checkpoint under way is tried again after
// the next batch instead of being forgotten (see catchUpWAL): otherwise
// the WAL would grow on until the checkpointer's next request. The other
// process is a connection of the test's own on the same file, running a
// FULL checkpoint that holds SQLite's checkpoint lock while it waits for a
// reader still on an older snapshot.
func TestCatchUpRetriesAfterAnotherCheckpoint(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	ctx := context.Background()
	c := newCustomer(t, db, "cust_00000000000d")
	createLicense(t, db, c.ID, 1)

	// A reader on the snapshot before the next commit, which a FULL
	// checkpoint must wait for.
	reader, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	var n int
	if err := reader.QueryRowContext(ctx, `SELECT count(*) FROM licenses`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	createLicense(t, db, c.ID, 2)

	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	full := make(chan error, 1)
	go func() {
		// A FULL checkpoint does not wait for the checkpoint lock itself:
		// while another connection holds it (the probe below, the
		// store's own checkpointer) it reports busy at once, with no
		// frames, and is tried again.
		for {
			var busy, frames, done int64
			err := other.QueryRowContext(ctx, `PRAGMA wal_checkpoint(FULL)`).Scan(&busy, &frames, &done)
			if err != nil || frames >= 0 {
				full <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	// Wait until the FULL checkpoint holds the lock: a PASSIVE one on
	// another connection then reports it busy, twice 20 ms apart (the
	// store's own checkpointer holds it for well under a millisecond).
	probe, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	held := func() bool {
		_, _, busy := checkpointOn(probe, "PASSIVE", func(error) {})
		return busy
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if held() {
			time.Sleep(20 * time.Millisecond)
			if held() {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the other connection's FULL checkpoint never held the checkpoint lock")
		}
	}

	db.wrapWAL.Store(true)
	db.catchUpWAL()
	if !db.wrapWAL.Load() {
		t.Fatal("a catch-up that found another checkpoint under way was dropped, not kept for the next batch")
	}

	// Once the reader is gone the other checkpoint finishes, and the
	// catch-up asked for goes through.
	reader.Rollback()
	select {
	case err := <-full:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the other connection's FULL checkpoint did not finish")
	}
	db.catchUpWAL()
	if db.wrapWAL.Load() {
		t.Fatal("the catch-up was still pending after a checkpoint that could run")
	}
}

// openWrapping opens a store whose checkpointer asks the writer to catch
// up past 64 frames of WAL and tries a RESTART checkpoint past restart.
func openWrapping(t *testing.T, restart int64) *DB {
	t.Helper()
	db, _ := openTemp(t)
	if db.wal == nil {
		t.Skip("no WAL index on this file system")
	}
	db.wrapFrames.Store(64)
	db.restartFrames.Store(restart)
	return db
}

// issueWithoutPause starts four goroutines that issue licenses of c until
// t ends, also when it fails: they stop before the store closes. It
// returns the count of licenses asked for.
func issueWithoutPause(t *testing.T, db *DB, c *quantumlock.Customer) *atomic.Int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := db.CreateLicense(context.Background(), newLicense(c.ID, int(n.Add(1))), quantumlock.Quota{Period: "2026-01"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	return &n
}

// walRestarts counts how often the WAL starts over, until it has done so
// want times or within has passed, and returns the count and the most
// frames seen. It watches the last valid frame in the WAL index header
// (mxFrame, bytes 16–19 of the header, https://sqlite.org/walformat.html),
// which falls only when the WAL restarts. A header being written (its two
// copies differ) is skipped.
func walRestarts(db *DB, want int, within time.Duration) (wraps int, peak uint32) {
	var last uint32
	for deadline := time.Now().Add(within); wraps < want && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		v, ok := db.wal.version()
		if !ok {
			continue
		}
		f := binary.NativeEndian.Uint32(v[16:20])
		if f < last {
			wraps++
		}
		last, peak = f, max(peak, f)
	}
	return wraps, peak
}

// Close waits for a write transaction still running on the writer pool:
// closing the WAL index's descriptors under it would drop the process's
// locks, and another process could write under it. Its commit, made
// while Close waits, is on disk afterwards.
func TestCloseWaitsForRunningTransaction(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	c := newCustomer(t, db, "cust_00000000000c")
	tx, err := db.w.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE customers SET name = 'renamed while closing' WHERE id = ?`, c.ID); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a transaction was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	db2, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	got, err := db2.Customer(context.Background(), c.ID)
	if err != nil || got.Name != "renamed while closing" {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
}

// The sweep of expired nonces forgets only those whose time has passed: a
// nonce still within its retention stays consumed across it.
func TestNonceSweep(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	c := newCustomer(t, db, "cust_00000000non1")
	ctx := t.Context()
	consume := func(nonce string, expires time.Time) bool {
		t.Helper()
		fresh, err := db.ConsumeNonce(ctx, c.ID, []byte(nonce), expires)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	now := time.Now()
	if !consume("live", now.Add(time.Hour)) || !consume("gone", now.Add(-time.Second)) {
		t.Fatal("new nonces were not fresh")
	}
	db.nonceSweep.Store(0) // the next call sweeps
	if !consume("other", now.Add(time.Hour)) {
		t.Fatal("a new nonce was not fresh")
	}
	if consume("live", now.Add(time.Hour)) {
		t.Error("the sweep forgot a nonce still within its retention: a replay was accepted")
	}
	if !consume("gone", now.Add(time.Hour)) {
		t.Error("the sweep kept a nonce whose time had passed")
	}
}

// A deleted key's sealed material is overwritten in the database file,
// not left in its free space, whether it fitted its row's page or (RSA's
// size) spilled onto overflow pages.
func TestDeletedKeyOverwritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, size := range []int{64, 3000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "quantumlock.db")
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			c := newCustomer(t, db, "cust_secure")
			sealed := make([]byte, size)
			rand.Read(sealed)
			now := time.Now().UTC()
			k := &quantumlock.Key{ID: "key_gone", CustomerID: c.ID, Algorithm: "AES-256-GCM", Purpose: quantumlock.PurposeEncryption,
				CreatedAt: now, Versions: []quantumlock.KeyVersion{{Version: 1, Sealed: sealed, CreatedAt: now}}}
			if err := db.CreateKey(ctx, k, 10); err != nil {
				t.Fatal(err)
			}
			// Closing checkpoints the WAL into the file and removes it.
			reopen := func() {
				t.Helper()
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				if db, err = Open(ctx, path); err != nil {
					t.Fatal(err)
				}
			}
			// Its first and last 32 bytes: of a large row, one in the
			// row's page and one on an overflow page.
			inFile := func() (head, tail bool) {
				t.Helper()
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return bytes.Contains(b, sealed[:32]), bytes.Contains(b, sealed[size-32:])
			}
			reopen()
			if head, tail := inFile(); !head || !tail {
				t.Fatalf("the sealed material is not in the file to begin with: %v, %v", head, tail)
			}
			if err := db.DeleteKey(ctx, c.ID, k.ID); err != nil {
				t.Fatal(err)
			}
			reopen()
			defer db.Close()
			if head, tail := inFile(); head || tail {
				t.Fatalf("a deleted key's sealed material is still in the database file: %v, %v", head, tail)
			}
		})
	}
}

// Open refuses another application's SQLite file rather than add this
// schema's tables to it: one with tables but no schema_migrations, and one
// with a schema_migrations table of another tool's columns.
func TestOpenRefusesForeignDatabase(t *testing.T) {
	t.Parallel()
	for name, stmts := range map[string][]string{
		"no schema_migrations": {`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`},
		"another schema_migrations": {
			`CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
			`INSERT INTO schema_migrations VALUES (1, false)`,
		},
		"version 1 without its tables": {
			`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
			`INSERT INTO schema_migrations VALUES (1, 0)`,
		},
		"version 1 with some of its tables": {
			`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
			`INSERT INTO schema_migrations VALUES (1, 0)`,
			`CREATE TABLE customers (id TEXT PRIMARY KEY)`,
		},
	} {
		path := filepath.Join(t.TempDir(), "other.db")
		w := openWriter(t, path)
		for _, q := range stmts {
			if _, err := w.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		db, err := Open(t.Context(), path)
		if err == nil {
			db.Close()
			t.Errorf("%s: Open migrated another application's database", name)
		} else if !strings.Contains(err.Error(), "not a QuantumLock database") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The check that refuses other programs' files accepts every state this
// binary or an older one leaves a database in, and Open migrates each.
func TestOpenAcceptsItsOwnDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, prep func(path string)) {
		path := filepath.Join(t.TempDir(), "q.db")
		prep(path)
		db, err := Open(ctx, path)
		if err != nil {
			t.Errorf("%s: Open refused: %v", name, err)
			return
		}
		db.Close()
	}
	mk("empty file", func(p string) { os.WriteFile(p, nil, 0o600) })
	mk("schema_migrations only (crash before 0001)", func(p string) {
		w := openWriter(t, p)
		if _, err := w.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
			t.Fatal(err)
		}
		w.Close()
	})
	for n := 1; n < len(ms); n++ {
		mk("migrations up to "+ms[n-1].name, func(p string) {
			w := openWriter(t, p)
			if err := applyAll(ctx, w, ms[:n]); err != nil {
				t.Fatal(err)
			}
			w.Close()
		})
	}
	mk("analyzed (sqlite_stat1)", func(p string) {
		w := openWriter(t, p)
		if err := applyAll(ctx, w, ms); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Exec(`ANALYZE`); err != nil {
			t.Fatal(err)
		}
		w.Close()
	})
}

// A backup made by an older binary (migration 0001 only) passes the check.
func TestCheckBackupOfAnOlderSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms, _ := migrations()
	p := filepath.Join(t.TempDir(), "old.db")
	w := openWriter(t, p)
	if err := applyAll(ctx, w, ms[:1]); err != nil {
		t.Fatal(err)
	}
	w.Close()
	info, _, err := checkBackup(ctx, p, true)
	if err != nil || info.SchemaVersion != 1 {
		t.Errorf("checkBackup of a 0001-only database: %+v %v", info, err)
	}
}

// Open refuses another application's SQLite file before it changes
// anything: its journal mode stays as it was (the writer's connection
// would make it WAL for good), and no lock, WAL or shared-memory file is
// left beside it.
func TestRefusedForeignFileUntouched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "other-app.db")
	w, err := sql.Open("sqlite", path) // rollback journal, as most applications use
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	w.Close()

	if db, err := Open(t.Context(), path); err == nil {
		db.Close()
		t.Fatal("Open accepted another application's file")
	}
	for _, s := range []string{"-lock", "-wal", "-shm"} {
		if _, err := os.Stat(path + s); err == nil {
			t.Errorf("Open left %s beside the refused file", filepath.Base(path+s))
		}
	}
	r, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := r.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if mode != "delete" {
		t.Errorf("the refused file's journal mode is now %q, was \"delete\"", mode)
	}
}

// RemoveUnused removes a new database only while no store has it open and
// it holds nothing a store wrote; else it leaves it, and says so.
func TestRemoveUnused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	gone := func(path string) bool {
		_, err := os.Stat(path)
		return errors.Is(err, fs.ErrNotExist)
	}
	dir := t.TempDir()

	// Open in another store, before it has written anything.
	held := filepath.Join(dir, "held.db")
	db, err := Open(ctx, held)
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := RemoveUnused(held); removed || err != nil || gone(held) {
		t.Errorf("a database a store holds: removed %v, %v", removed, err)
	}
	db.Close()
	// Closed, its schema there and nothing in it: removed.
	if removed, err := RemoveUnused(held); !removed || err != nil || !gone(held) {
		t.Errorf("an unused empty database: removed %v, %v", removed, err)
	}

	// Bound to a master key, with no customer yet.
	bound := filepath.Join(dir, "bound.db")
	db, err = Open(ctx, bound)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.BindMasterKey(ctx, "fingerprint"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if removed, _ := RemoveUnused(bound); removed || gone(bound) {
		t.Error("a database bound to a master key was removed")
	}

	// Half a schema: not this package's to judge.
	half := filepath.Join(dir, "half.db")
	w := openWriter(t, half)
	if _, err := w.Exec(`CREATE TABLE customers (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if removed, _ := RemoveUnused(half); removed || gone(half) {
		t.Error("a database with half a schema was removed")
	}
}

// Open waits out another process's lock on the file while it checks whose
// file it is, as its own connections do, rather than fail at once: here a
// connection holds the database exclusively for a moment.
func TestOpenWaitsForALockedFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	other, err := sql.Open("sqlite", path+"?_pragma=locking_mode(EXCLUSIVE)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec(`BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	release := time.AfterFunc(300*time.Millisecond, func() {
		other.Exec(`COMMIT`)
		other.Close()
	})
	defer release.Stop()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("Open beside a lock held for 300 ms: %v", err)
	}
	db.Close()
}

// TestFileDeletedUnderTheStore: a database file deleted by hand while
// the store has it open is told by Ping, and a read connection opened
// afterwards (the read pool reopens them after readerMaxIdle) fails
// rather than make an empty database under the name.
func TestFileDeletedUnderTheStore(t *testing.T) {
	t.Parallel()
	db, path := openTemp(t)
	ctx := t.Context()
	newCustomer(t, db, "cust_00000000000a")
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + side); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	if err := db.Ping(ctx); err == nil || !strings.Contains(err.Error(), "no longer the file this server opened") {
		t.Errorf("Ping after the file was deleted: %v", err)
	}
	// Every read connection idle past readerMaxIdle is closed; the next
	// read opens a new one.
	deadline := time.Now().Add(readerMaxIdle + 3*time.Second)
	for db.r.Stats().OpenConnections > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the read pool kept its connections")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := db.Customers(ctx); err == nil {
		t.Error("a read through a new connection found a database")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was made under the deleted database's name: %v", err)
	}
	// A file put in its place is not the one the store has open either.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err == nil {
		t.Error("Ping with another file under the name succeeded")
	}
}

// TestOpenPathWithPercent: the connections name the file by a URI, in
// which % begins an escape; a path holding one still names one file.
func TestOpenPathWithPercent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a%20b.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newCustomer(t, db, "cust_00000000000a")
	if cs, err := db.Customers(t.Context()); err != nil || len(cs) != 1 {
		t.Errorf("customers through the read pool: %d, %v", len(cs), err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "a b.db")); err == nil {
		t.Error("a second file was made under the unescaped name")
	}
}

// Open's refusals name the path once: as their subject, or first; also a
// path that is a word the message holds anyway ("data" in "database").
func TestOpenRefusalNamesPath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("sqlite", 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), "sqlite"); err == nil || err.Error() != "sqlite: sqlite is a directory, not a database file" {
		t.Errorf("Open of the directory sqlite: %v", err)
	}
	// A database a newer binary migrated: "sqlite: database schema
	// version ..." holds "data" but does not name it.
	db, err := Open(t.Context(), "data")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "data")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, '2027-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if db, err := Open(t.Context(), "data"); err == nil {
		db.Close()
		t.Error("Open of a newer schema succeeded")
	} else if !strings.HasPrefix(err.Error(), "data: ") {
		t.Errorf("Open(%q): %v; want it to begin with %q", "data", err, "data: ")
	}
}
