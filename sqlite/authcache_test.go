package sqlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// newAPIKey stores a key for customerID and returns its hash.
func newAPIKey(t testing.TB, db *DB, customerID, id string) []byte {
	t.Helper()
	h := sha256.Sum256([]byte("secret of " + id))
	k := &quantumlock.APIKey{ID: id, CustomerID: customerID, Hash: h[:], Hint: "ql_live_", CreatedAt: time.Now().UTC()}
	if err := db.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return h[:]
}

// authStats returns the cache's hit and miss counts, failing t if the
// cache is off.
func authStats(t *testing.T, db *DB) (hits, misses int64) {
	t.Helper()
	hits, misses, on := db.AuthCacheStats()
	if !on {
		t.Fatal("the authentication cache is off: the WAL index could not be read")
	}
	return hits, misses
}

// lookupTwice looks hash up twice on db, so the second lookup can be
// answered from the cache, and returns the cache's hit count.
func lookupTwice(t *testing.T, db *DB, hash []byte) int64 {
	t.Helper()
	for range 2 {
		if _, _, err := db.APIKeyByHash(t.Context(), hash); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := authStats(t, db)
	return h
}

// TestWALVersion checks the change signal itself: reads leave it alone,
// and every commit changes it, whichever handle (standing for whichever
// process) makes it.
func TestWALVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	server, cli := openTwo(t)

	v0, ok := server.wal.version()
	if !ok {
		t.Fatal("WAL index version not readable on a new database")
	}
	c := newCustomer(t, cli, "cust_000000000001")
	v1, _ := server.wal.version()
	if v1 == v0 {
		t.Fatal("a commit by another handle left the WAL index version unchanged")
	}
	for range 3 {
		if _, err := server.Customer(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if v, _ := cli.wal.version(); v != v1 {
			t.Fatal("a read changed the WAL index version")
		}
	}
	seen := map[walVersion]bool{v0: true, v1: true}
	for i := range 20 {
		db := []*DB{server, cli}[i%2]
		if _, err := db.CreateLicense(ctx, newLicense(c.ID, i), quantumlock.Quota{Period: "2026-03"}); err != nil {
			t.Fatal(err)
		}
		v, ok := server.wal.version()
		if !ok || seen[v] {
			t.Fatalf("commit %d: version ok=%v, repeated=%v; want a new one", i, ok, seen[v])
		}
		seen[v] = true
	}
	// A RESTART checkpoint starts the WAL over; the version must not come
	// back to one seen before.
	server.checkpoint("RESTART")
	newCustomer(t, cli, "cust_000000000002")
	if v, ok := server.wal.version(); !ok || seen[v] {
		t.Fatalf("after a WAL restart and a commit: version ok=%v, repeated=%v", ok, seen[v])
	}
}

// TestAuthCache checks that cached answers are served only until anything
// commits: a revocation or a plan change made through another handle is
// seen by the next lookup.
func TestAuthCache(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	server, cli := openTwo(t)
	c := newCustomer(t, cli, "cust_000000000001")
	hash := newAPIKey(t, cli, c.ID, "ak_000000000001")

	lookup := func() (*quantumlock.APIKey, *quantumlock.Customer) {
		t.Helper()
		k, cu, err := server.APIKeyByHash(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		return k, cu
	}
	wantMiss := func(step string, f func()) {
		t.Helper()
		h0, m0 := authStats(t, server)
		f()
		if h, m := authStats(t, server); h != h0 || m != m0+1 {
			t.Errorf("%s: %d hits and %d misses, want 0 and 1", step, h-h0, m-m0)
		}
	}
	wantHit := func(step string, f func()) {
		t.Helper()
		h0, m0 := authStats(t, server)
		f()
		if h, m := authStats(t, server); h != h0+1 || m != m0 {
			t.Errorf("%s: %d hits and %d misses, want 1 and 0", step, h-h0, m-m0)
		}
	}

	wantMiss("first lookup", func() { lookup() })
	wantHit("second lookup", func() {
		k, cu := lookup()
		if k.ID != "ak_000000000001" || cu.ID != c.ID || cu.Plan != quantumlock.PlanFree {
			t.Errorf("cached answer %+v %+v", k, cu)
		}
		// What a caller does with its copy is not seen by the next one.
		cu.Plan, k.Hash[0] = quantumlock.PlanEnterprise, k.Hash[0]^1
	})
	wantHit("lookup after changing the returned copies", func() {
		if k, cu := lookup(); cu.Plan != quantumlock.PlanFree || k.Hash[0] != hash[0] {
			t.Errorf("a caller's change reached the cache: %+v %+v", k, cu)
		}
	})

	pro := quantumlock.PlanBusiness
	if _, err := cli.UpdateCustomer(ctx, c.ID, quantumlock.CustomerUpdate{Plan: &pro}); err != nil {
		t.Fatal(err)
	}
	wantMiss("lookup after another handle changed the plan", func() {
		if _, cu := lookup(); cu.Plan != quantumlock.PlanBusiness {
			t.Errorf("plan %q after the update, want business", cu.Plan)
		}
	})
	// An unrelated commit by this handle also ends the cached answer.
	wantHit("lookup again", func() { lookup() })
	createLicense(t, server, c.ID, 1)
	wantMiss("lookup after an unrelated commit", func() { lookup() })

	if _, err := cli.RevokeAPIKey(ctx, "ak_000000000001", time.Now()); err != nil {
		t.Fatal(err)
	}
	wantMiss("lookup after another handle revoked the key", func() {
		if k, _ := lookup(); k.RevokedAt == nil {
			t.Error("revoked key not seen as revoked")
		}
	})
	// A revoked key is not cached: it is refused on the same path as an
	// unknown one, so its holder cannot tell by timing that it was valid.
	wantMiss("revoked key again", func() { lookup() })

	// Unknown keys are never cached, so they cannot fill the cache.
	other := sha256.Sum256([]byte("no such key"))
	for range 2 {
		wantMiss("unknown key", func() {
			if _, _, err := server.APIKeyByHash(ctx, other[:]); quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND {
				t.Errorf("unknown key: %v, want ENOTFOUND", err)
			}
		})
	}
	if n := len(server.auth.entries); n != 1 {
		t.Errorf("%d cache entries, want 1", n)
	}
}

// TestAuthCacheRevokeRace revokes a key through another handle while
// lookups run: every lookup that starts after the revocation returned must
// see it.
func TestAuthCacheRevokeRace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	server, cli := openTwo(t)
	c := newCustomer(t, cli, "cust_000000000001")
	for round := range 5 {
		id := "ak_00000000000" + string(rune('a'+round))
		hash := newAPIKey(t, cli, c.ID, id)
		var (
			revoked atomic.Bool
			stop    atomic.Bool
			wg      sync.WaitGroup
			stale   atomic.Int64
		)
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					after := revoked.Load()
					k, _, err := server.APIKeyByHash(ctx, hash)
					if err != nil {
						t.Error(err)
						return
					}
					if after && k.RevokedAt == nil {
						stale.Add(1)
					}
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := cli.RevokeAPIKey(ctx, id, time.Now()); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		time.Sleep(20 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if n := stale.Load(); n > 0 {
			t.Fatalf("round %d: %d lookups started after the revocation returned saw the key unrevoked", round, n)
		}
	}
	if h, _ := authStats(t, server); h == 0 {
		t.Error("no lookup was answered from the cache; the race was not exercised")
	}
}

// TestAuthCacheCommitAfterRowRead commits a revocation exactly in the
// window the race test above can only hope to hit: right after a lookup
// has read the row, before it caches it. The answer cached must not
// outlive that commit. (Were the WAL index version read after the row, the
// row from before the revocation would be cached with the version after
// it, and served as current.)
func TestAuthCacheCommitAfterRowRead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	server, cli := openTwo(t)
	c := newCustomer(t, cli, "cust_000000000001")
	hash := newAPIKey(t, cli, c.ID, "ak_000000000001")
	var once sync.Once
	server.afterRowRead = func() {
		once.Do(func() {
			if _, err := cli.RevokeAPIKey(ctx, "ak_000000000001", time.Now()); err != nil {
				t.Error(err)
			}
		})
	}
	for i := range 3 {
		k, _, err := server.APIKeyByHash(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && k.RevokedAt == nil {
			t.Fatalf("lookup %d after the revocation committed saw the key unrevoked", i+1)
		}
	}
	// The cache was on: a key nothing revokes is answered from it.
	other := newAPIKey(t, cli, c.ID, "ak_000000000002")
	for range 2 {
		if _, _, err := server.APIKeyByHash(ctx, other); err != nil {
			t.Fatal(err)
		}
	}
	if h, _ := authStats(t, server); h == 0 {
		t.Error("no lookup was answered from the cache; the cache was not exercised")
	}
}

// TestAuthCacheOtherProcess revokes a key from a separate process, as the
// CLI does while the server runs, and checks that the next lookup sees it.
func TestAuthCacheOtherProcess(t *testing.T) {
	if path := os.Getenv("QUANTUMLOCK_TEST_REVOKE_DB"); path != "" {
		// The child: revoke and exit.
		db, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.RevokeAPIKey(context.Background(), os.Getenv("QUANTUMLOCK_TEST_REVOKE_KEY"), time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Parallel()
	ctx := t.Context()
	server, path := openTemp(t)
	c := newCustomer(t, server, "cust_000000000001")
	hash := newAPIKey(t, server, c.ID, "ak_000000000001")
	if h := lookupTwice(t, server, hash); h != 1 {
		t.Fatalf("%d cache hits before the revocation, want 1", h)
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAuthCacheOtherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "QUANTUMLOCK_TEST_REVOKE_DB="+path, "QUANTUMLOCK_TEST_REVOKE_KEY=ak_000000000001")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	k, _, err := server.APIKeyByHash(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if k.RevokedAt == nil {
		t.Error("a key revoked by another process is still unrevoked here")
	}
}

// TestAuthCacheUnrecognised checks that while the WAL index header is not
// one this code knows, every lookup reads the database.
func TestAuthCacheUnrecognised(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTemp(t)
	c := newCustomer(t, db, "cust_000000000001")
	hash := newAPIKey(t, db, c.ID, "ak_000000000001")
	// A file of zeros stands for the index: no version number, not
	// initialised. The real one goes back before Close releases it.
	zeros := filepath.Join(t.TempDir(), "zeros")
	if err := os.WriteFile(zeros, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := openWALIndexFile(zeros)
	if err != nil {
		t.Fatal(err)
	}
	real := db.wal
	db.wal = w
	t.Cleanup(func() { db.wal = real; w.close() })

	for range 3 {
		if _, _, err := db.APIKeyByHash(ctx, hash); err != nil {
			t.Fatal(err)
		}
	}
	if h, m, _ := db.AuthCacheStats(); h != 0 || m != 0 {
		t.Errorf("with an unrecognised WAL index: %d hits, %d misses; want neither counted", h, m)
	}
	if _, err := db.RevokeAPIKey(ctx, "ak_000000000001", time.Now()); err != nil {
		t.Fatal(err)
	}
	if k, _, err := db.APIKeyByHash(ctx, hash); err != nil || k.RevokedAt == nil {
		t.Errorf("after revoking: %+v, %v", k, err)
	}
}

// TestWALIndexShared checks that stores on one file share one descriptor
// of its WAL index, and that closing one store leaves the process's SQLite
// locks on that file in place for the other: closing any descriptor of a
// file drops every POSIX lock the process holds on it.
func TestWALIndexShared(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "quantumlock.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.wal == nil || a.wal != b.wal {
		t.Fatalf("two stores on one file have WAL indexes %p and %p, want one shared", a.wal, b.wal)
	}
	locks := func() int {
		t.Helper()
		n, err := shmLocks(path + "-shm")
		if err != nil {
			t.Skipf("cannot read this process's locks: %v", err)
		}
		return n
	}
	if locks() == 0 {
		t.Fatal("no lock on the WAL index while two stores are open")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if locks() == 0 {
		t.Fatal("closing one store dropped the process's locks on the WAL index the other still uses")
	}
	// The other store goes on, cache included.
	c := newCustomer(t, b, "cust_000000000001")
	hash := newAPIKey(t, b, c.ID, "ak_000000000001")
	if h := lookupTwice(t, b, hash); h != 1 {
		t.Errorf("%d cache hits on the remaining store, want 1", h)
	}
}

// TestSyncDatabase checks the descriptor of the database file that the
// checkpointer syncs (see settle): it is the database file, it syncs while
// the store is open, and it is closed with the WAL index's last reference.
func TestSyncDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "quantumlock.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	w := db.wal
	if w == nil {
		db.Close()
		t.Skip("no WAL index on this file system")
	}
	want, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.main.Stat(); err != nil || !os.SameFile(got, want) {
		t.Fatalf("the descriptor to sync is not the database file: %v", err)
	}
	newCustomer(t, db, "cust_000000000001")
	if err := w.syncDatabase(); err != nil {
		t.Fatalf("sync while open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.syncDatabase(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("sync after Close: %v, want the descriptor closed", err)
	}
}

// A store opened through a symbolic link reads the WAL index SQLite uses,
// the one beside the file the link leads to, even with a stale "-shm"
// left beside the link: a revocation through another store on the real
// path is seen at once.
func TestAuthCacheThroughSymlink(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	real, link := filepath.Join(dir, "real.db"), filepath.Join(dir, "link.db")
	cli, err := Open(ctx, real)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c := newCustomer(t, cli, "cust_000000000001")
	hash := newAPIKey(t, cli, c.ID, "ak_000000000001")
	// A stale WAL index beside the link, as an unclean stop before the
	// file was moved and linked would leave.
	shm, err := os.ReadFile(real + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(link+"-shm", shm, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	server, err := Open(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	for range 2 { // the second from the cache
		if k, _, err := server.APIKeyByHash(ctx, hash); err != nil || k.RevokedAt != nil {
			t.Fatalf("before revoking: %+v, %v", k, err)
		}
	}
	authStats(t, server)
	if _, err := cli.RevokeAPIKey(ctx, "ak_000000000001", time.Now()); err != nil {
		t.Fatal(err)
	}
	if k, _, err := server.APIKeyByHash(ctx, hash); err != nil || k.RevokedAt == nil {
		t.Fatalf("after revoking through the real path: %+v, %v; want revoked", k, err)
	}
}

// The authentication cache holds at most authCacheSize keys and starts
// over when full (docs/storage.md), rather than grow with every key ever
// used.
func TestAuthCacheBounded(t *testing.T) {
	t.Parallel()
	c := newAuthCache()
	var v walVersion
	for i := range authCacheSize + 10 {
		k := &quantumlock.APIKey{ID: fmt.Sprint(i), Hash: []byte(fmt.Sprintf("hash-%d", i))}
		c.put(v, k, &quantumlock.Customer{ID: "cust_000000000001"})
	}
	if n := len(c.entries); n > authCacheSize {
		t.Errorf("cache holds %d entries, want at most %d", n, authCacheSize)
	}
}
