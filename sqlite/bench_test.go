package sqlite

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// The hot paths of the service: issuing a license (one IMMEDIATE
// transaction: quota upsert and insert) and the two lookups every validation
// makes (API key by hash, license by key). Results and machine are written
// down in docs/storage.md.

func BenchmarkCreateLicense(b *testing.B) {
	db, _ := openTemp(b)
	c := newCustomer(b, db, "cust_000000000001")
	ctx := context.Background()
	// A limit that is checked but never reached: the path of a plan with a
	// quota.
	q := quantumlock.Quota{Period: "2026-03", Limit: 1 << 40}
	var n atomic.Int64
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.CreateLicense(ctx, newLicense(c.ID, int(n.Add(1))), q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.CreateLicense(ctx, newLicense(c.ID, int(n.Add(1))), q); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// seedLicenses inserts n licenses of the customer in one statement and
// returns their keys: seeding a million through CreateLicense would take
// minutes and measure nothing new. Their ids (the key's 48 bits) are
// random, as issued keys' are, so the table has the shape of a real one:
// leaves about two-thirds full from inserts all over the key space, and
// more interior pages than keys issued in order would make.
func seedLicenses(b testing.TB, db *DB, customerID string, n int) []string {
	b.Helper()
	ctx := context.Background()
	tmpl := newLicense(customerID, 0)
	// MATERIALIZED: otherwise random() runs once per use of id.
	_, err := db.w.ExecContext(ctx, `WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x + 1 < ?1),
		r(id, x) AS MATERIALIZED (SELECT random() & 281474976710655, x FROM i)
		INSERT OR IGNORE INTO licenses (id, seq, `+licenseColumns+`)
		SELECT id, x + 1, printf('QLOCK-%04X-%04X-%04X', (id >> 32) & 65535, (id >> 16) & 65535, id & 65535),
			?2, 'end-customer-' || (x % 1000), '["pro","export"]', ?3, ?4, ?5, printf('%0128x', x), 0, NULL, ?6, ?7, NULL, ''
		FROM r`, n, customerID, []byte(tmpl.Metadata), micros(tmpl.GeneratedAt), micros(tmpl.ValidUntil), tmpl.SecurityLevel, tmpl.EntropySource)
	if err != nil {
		b.Fatal(err)
	}
	// Fold the bulk insert into the main file, as a long-running server's
	// checkpoints would have, so lookups do not go through a huge WAL.
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT key FROM licenses WHERE customer_id = ?1`, customerID)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	keys := make([]string, 0, n)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			b.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	// Random order, so that a stride through keys visits the whole table.
	rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

// readSyscalls returns the process's read system calls so far (syscr in
// /proc/self/io), or -1 where that cannot be read.
func readSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// reportReads reports read system calls per operation since r0: at a
// million licenses, the page reads a lookup makes from the OS.
func reportReads(b *testing.B, r0 int64) {
	if r1 := readSyscalls(); r0 >= 0 && r1 >= 0 {
		b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/op")
	}
}

// eachSize runs fn as a sub-benchmark per table size, each on a new file
// holding that many licenses of one customer c, opened afresh after
// seeding; keys are theirs, in random order.
func eachSize(b *testing.B, fn func(b *testing.B, db *DB, c *quantumlock.Customer, keys []string)) {
	for _, size := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("Licenses=%d", size), func(b *testing.B) {
			db, path := openTemp(b)
			c := newCustomer(b, db, "cust_000000000001")
			keys := seedLicenses(b, db, c.ID, size)
			// Reading the keys back went through the read pool, whose
			// pages now crowd the process-wide page cache and leave the
			// point readers none of their own (docs/storage.md). A
			// server opens an existing file afresh: so do these.
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			db, err := Open(context.Background(), path)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			fn(b, db, c, keys)
		})
	}
}

// BenchmarkLicenseGet looks licenses up among a thousand and among a
// million: the B-tree makes the difference a few page reads.
func BenchmarkLicenseGet(b *testing.B) {
	eachSize(b, func(b *testing.B, db *DB, c *quantumlock.Customer, keys []string) {
		ctx := context.Background()
		m := int64(len(keys))
		if _, err := db.License(ctx, c.ID, keys[m-1]); err != nil {
			b.Fatal(err)
		}
		// A fixed stride through shuffled keys visits the whole table,
		// as real validations would, not neighbours that share cached
		// pages.
		const stride = 7919
		var n atomic.Int64
		b.Run("Serial", func(b *testing.B) {
			b.ReportAllocs()
			r0 := readSyscalls()
			for b.Loop() {
				if _, err := db.License(ctx, c.ID, keys[n.Add(stride)%m]); err != nil {
					b.Fatal(err)
				}
			}
			reportReads(b, r0)
		})
		b.Run("Parallel", func(b *testing.B) {
			b.ReportAllocs()
			r0 := readSyscalls()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := db.License(ctx, c.ID, keys[n.Add(stride)%m]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportReads(b, r0)
		})
	})
}

func BenchmarkAPIKeyByHash(b *testing.B) {
	db, _ := openTemp(b)
	ctx := context.Background()
	const customers, keysEach = 100, 3
	var hashes [][]byte
	for i := range customers {
		c := newCustomer(b, db, fmt.Sprintf("cust_%012x", i))
		for j := range keysEach {
			h := sha256.Sum256(fmt.Appendf(nil, "ql_live_%d_%d", i, j))
			k := &quantumlock.APIKey{ID: fmt.Sprintf("ak_%06x%06x", i, j), CustomerID: c.ID, Hash: h[:], Hint: "ql_live_", CreatedAt: time.Now().UTC()}
			if err := db.CreateAPIKey(ctx, k); err != nil {
				b.Fatal(err)
			}
			hashes = append(hashes, h[:])
		}
	}
	// Cached is the lookup as authentication makes it: answered from the
	// cache while nothing commits, after one WAL index read. Database is
	// the read the cache saves.
	for _, m := range []struct {
		name   string
		lookup func(context.Context, []byte) (*quantumlock.APIKey, *quantumlock.Customer, error)
	}{{"Cached", db.APIKeyByHash}, {"Database", db.readAPIKeyByHash}} {
		var n atomic.Int64
		b.Run(m.name+"/Serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.lookup(ctx, hashes[n.Add(1)%int64(len(hashes))]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(m.name+"/Parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := m.lookup(ctx, hashes[n.Add(1)%int64(len(hashes))]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkWALVersion is the check every cached answer costs.
func BenchmarkWALVersion(b *testing.B) {
	db, _ := openTemp(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := db.wal.version(); !ok {
			b.Fatal("WAL index not readable")
		}
	}
}

// BenchmarkLicenseLists is a page of a license list, with each filter, and
// stats, among a thousand and a million licenses of one customer, 2% of
// them revoked and 10% expired, spread over the table as random ids are.
func BenchmarkLicenseLists(b *testing.B) {
	eachSize(b, func(b *testing.B, db *DB, c *quantumlock.Customer, keys []string) {
		ctx := context.Background()
		now := time.Now()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`UPDATE licenses SET revoked_at = ?1 WHERE id % 50 = 0`, []any{micros(now)}},
			{`UPDATE licenses SET valid_until = ?1 WHERE id % 10 = 1`, []any{micros(now.Add(-time.Hour))}},
			{`PRAGMA wal_checkpoint(TRUNCATE)`, nil},
		} {
			if _, err := db.w.ExecContext(ctx, q.sql, q.args...); err != nil {
				b.Fatal(err)
			}
		}
		one, err := db.License(ctx, c.ID, keys[0])
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range []struct {
			name string
			f    quantumlock.LicenseFilter
		}{
			{"All", quantumlock.LicenseFilter{}},
			{"Active", quantumlock.LicenseFilter{Status: quantumlock.StatusActive}},
			{"ActiveSkip10000", quantumlock.LicenseFilter{Status: quantumlock.StatusActive, Skip: 10_000}},
			{"Expired", quantumlock.LicenseFilter{Status: quantumlock.StatusExpired}},
			{"Revoked", quantumlock.LicenseFilter{Status: quantumlock.StatusRevoked}},
			{"EndCustomer", quantumlock.LicenseFilter{EndCustomerID: one.EndCustomerID}},
		} {
			f.f.CustomerID, f.f.Now, f.f.Limit = c.ID, now, 100
			b.Run(f.name, func(b *testing.B) {
				for b.Loop() {
					if _, _, err := db.Licenses(ctx, f.f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run("Stats", func(b *testing.B) {
			for b.Loop() {
				if _, err := db.LicenseStats(ctx, c.ID, "2026-11", now); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
