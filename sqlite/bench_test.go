package sqlite

import (
	"context"
	"crypto/sha256"
	"fmt"
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

// seedLicenses inserts n licenses of the customer, keyed as newLicense
// keys them, in one statement: seeding a million through CreateLicense
// would take a minute and measure nothing new.
func seedLicenses(b *testing.B, db *DB, customerID string, n int) []string {
	b.Helper()
	tmpl := newLicense(customerID, 0)
	_, err := db.w.ExecContext(context.Background(), `WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x + 1 < ?1)
		INSERT INTO licenses (id, seq, `+licenseColumns+`)
		SELECT x, x + 1, printf('QLOCK-%04X-%04X-%04X', (x >> 32) & 65535, (x >> 16) & 65535, x & 65535),
			?2, 'end-customer-' || (x % 1000), '["pro","export"]', ?3, ?4, ?5, printf('%0128x', x), 0, NULL, ?6, ?7, NULL, ''
		FROM i`, n, customerID, []byte(tmpl.Metadata), micros(tmpl.GeneratedAt), micros(tmpl.ValidUntil), tmpl.SecurityLevel, tmpl.EntropySource)
	if err != nil {
		b.Fatal(err)
	}
	// Fold the bulk insert into the main file, as a long-running server's
	// checkpoints would have, so lookups do not go through a huge WAL.
	if _, err := db.w.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = newLicense(customerID, i).Key
	}
	return keys
}

// BenchmarkLicenseGet looks licenses up among a thousand and among a
// million: the B-tree makes the difference a few page reads.
func BenchmarkLicenseGet(b *testing.B) {
	for _, size := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("Licenses=%d", size), func(b *testing.B) {
			db, _ := openTemp(b)
			c := newCustomer(b, db, "cust_000000000001")
			ctx := context.Background()
			keys := seedLicenses(b, db, c.ID, size)
			if _, err := db.License(ctx, c.ID, keys[size-1]); err != nil {
				b.Fatal(err)
			}
			// A fixed stride visits keys all over the index, as real
			// validations would, not neighbours that share cached pages.
			const stride = 7919
			var n atomic.Int64
			b.Run("Serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := db.License(ctx, c.ID, keys[n.Add(stride)%int64(size)]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := db.License(ctx, c.ID, keys[n.Add(stride)%int64(size)]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
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
