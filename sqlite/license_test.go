package sqlite

import (
	"context"
	"sync"
	"testing"

	"github.com/quantumlock/quantumlock"
)

// TestLicenseCounts checks the kept per-customer totals (migration 0003)
// against counting the rows: after inserts, a refused duplicate, deletes
// of either kind, and an upgrade of a database made before the totals.
func TestLicenseCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := openTemp(t)
	a := newCustomer(t, db, "cust_00000000c0a1")
	b := newCustomer(t, db, "cust_00000000c0b1")
	empty := newCustomer(t, db, "cust_00000000c0e1")
	check := func(db *DB, when string) {
		t.Helper()
		for _, id := range []string{a.ID, b.ID, empty.ID} {
			var kept, counted int64
			if err := db.r.QueryRowContext(ctx, licenseTotalSQL, id).Scan(&kept); err != nil {
				t.Fatal(err)
			}
			if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM licenses WHERE customer_id = ?1`, id).Scan(&counted); err != nil {
				t.Fatal(err)
			}
			if kept != counted {
				t.Errorf("%s: %s has %d licenses, and a kept total of %d", when, id, counted, kept)
			}
		}
	}
	for i := range 5 {
		createLicense(t, db, a.ID, i+1)
	}
	for i := range 2 {
		createLicense(t, db, b.ID, 100+i)
	}
	check(db, "after inserts")

	// The same key again inserts nothing.
	if _, err := db.CreateLicense(ctx, newLicense(a.ID, 1), quantumlock.Quota{Period: "2026-01"}); err == nil {
		t.Fatal("a duplicate key was issued")
	}
	check(db, "after a refused duplicate")

	if _, err := db.w.ExecContext(ctx, `DELETE FROM licenses WHERE id = ?1`, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM licenses WHERE customer_id = ?1`, b.ID); err != nil {
		t.Fatal(err)
	}
	check(db, "after deletes")

	// A database from before the totals gets them counted once.
	for _, q := range []string{`DROP TRIGGER licenses_counted`, `DROP TRIGGER licenses_uncounted`, `DROP TABLE license_counts`, `DELETE FROM schema_migrations WHERE version >= 3`} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	createLicense(t, db, b.ID, 200)
	db.Close()
	again, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	check(again, "after the upgrade")
	createLicense(t, again, a.ID, 300)
	check(again, "after an insert on the upgraded database")
}

// A generate whose client has already hung up (its context is done before
// the insert is queued) issues no license and spends no quota unit nobody
// would see: a select between the ready batch writer and the done context
// alone would queue about half of them.
func TestCreateLicenseCancelledIssuesNothing(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	c := newCustomer(t, db, "cust_000000000001")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	issued := 0
	for i := range 1000 {
		// Every tenth call, a live one first, so that the writer has just
		// been at work and is waiting for the next insert again: a
		// select would then find both it and the done context ready.
		if i%10 == 0 {
			if _, err := db.CreateLicense(context.Background(), newLicense(c.ID, 9000+i), quantumlock.Quota{Period: "2026-11", Limit: 1000}); err != nil {
				t.Fatal(err)
			}
		}
		l := newLicense(c.ID, 5000+i)
		_, err := db.CreateLicense(ctx, l, quantumlock.Quota{Period: "2026-11", Limit: 10000})
		if err == nil {
			issued++
		}
	}
	used, _ := db.LicenseUsage(context.Background(), c.ID, "2026-11")
	if issued > 0 || used != 100 {
		t.Errorf("with the caller's context already done: %d of 1,000 licenses issued, %d quota units spent; want 0 and 100 (the live ones)", issued, used)
	}
}

// A batch whose transaction fails as a whole (here an insert refused by
// something other than a missing customer, a duplicate key or the quota,
// a trigger) reports success to no one whose license it did not commit:
// every caller told "ok" has its license stored, every caller given an
// error has none, and the quota counts exactly the stored ones.
func TestFailedBatchAnswersEveryCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := openTemp(t)
	c := newCustomer(t, db, "cust_000000000001")
	w := openWriter(t, path)
	if _, err := w.Exec(`CREATE TRIGGER refuse_boom AFTER INSERT ON licenses WHEN NEW.end_customer_id = 'boom'
		BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	w.Close()

	type result struct {
		l   *quantumlock.License
		err error
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		res []result
	)
	for i := range 200 {
		wg.Go(func() {
			l := newLicense(c.ID, 1000+i)
			if i%10 == 0 {
				l.EndCustomerID = "boom"
			}
			_, err := db.CreateLicense(ctx, l, quantumlock.Quota{Period: "2026-11"})
			mu.Lock()
			res = append(res, result{l, err})
			mu.Unlock()
		})
	}
	wg.Wait()
	var ok, failed int
	for _, r := range res {
		_, gerr := db.License(ctx, c.ID, r.l.Key)
		stored := gerr == nil
		if gerr != nil && quantumlock.ErrorCode(gerr) != quantumlock.ENOTFOUND {
			t.Fatal(gerr)
		}
		switch {
		case r.err == nil && !stored:
			t.Errorf("license %s (end customer %q): CreateLicense said ok, but it is not stored", r.l.Key, r.l.EndCustomerID)
		case r.err != nil && stored:
			t.Errorf("license %s: CreateLicense failed (%v), but it is stored", r.l.Key, r.err)
		}
		if r.err == nil {
			ok++
		} else {
			failed++
		}
		if r.l.EndCustomerID == "boom" && r.err == nil {
			t.Errorf("license %s the trigger refuses: CreateLicense said ok", r.l.Key)
		}
	}
	used, err := db.LicenseUsage(ctx, c.ID, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if used != int64(ok) {
		t.Errorf("usage %d, successful callers %d", used, ok)
	}
	t.Logf("%d ok, %d failed", ok, failed)
}
