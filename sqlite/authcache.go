package sqlite

import (
	"sync"
	"sync/atomic"

	"github.com/quantumlock/quantumlock"
)

// authCacheSize bounds the keys the cache holds. Only keys that exist are
// cached, so guessing secrets cannot fill it; when it is full it starts
// over.
const authCacheSize = 4096

// authCache remembers APIKeyByHash answers. An answer stays good while no
// API key and no customer has changed since it was read, by this process
// or any other: a revoked key, a deleted customer or a changed plan is
// seen by the very next request, as without the cache. Authentication runs
// on every request and its read was a fifth of a validate's CPU.
//
// Whether anything changed is decided in two steps. The WAL index version
// (a few loads from a memory mapping) says whether anything at all has
// committed since the last check; while nothing has, every cached answer
// stands. When something has, the auth epoch says whether it touched keys
// or customers: a counter that triggers move on in the transaction of every
// such change (migration 0004), read once per new version on a point
// reader, one page of a one-row table. Each answer carries the epoch read
// in the same statement as its row, so it is served only while the epoch
// is still that one. Without the epoch, every license issued ended every
// cached answer, and under generate load every request read its key again
// (an eighth of an in-process generate's CPU).
type authCache struct {
	mu      sync.RWMutex
	entries map[string]*authEntry // by key hash

	// checked is the newest pairing of a WAL version with the epoch read
	// after it: any lookup that reads that version may trust that epoch.
	checked atomic.Pointer[epochCheck]
	// triggers says whether the epoch's triggers were all in place at a
	// version of the schema (see readAuthEpoch).
	triggers atomic.Pointer[triggerCheck]

	hits, misses, epochReads atomic.Int64
}

type authEntry struct {
	stamp
	key  quantumlock.APIKey
	cust quantumlock.Customer
}

// stamp is what an answer was read at: the auth epoch and the schema's
// version.
type stamp struct{ epoch, schema int64 }

// triggerCheck is whether the auth epoch's triggers were complete at a
// schema version.
type triggerCheck struct {
	schema   int64
	complete bool
}

// epochCheck is an auth epoch and the schema's version, found trustworthy
// (see readAuthEpoch), and the WAL version read before them.
type epochCheck struct {
	version walVersion
	stamp
}

func newAuthCache() *authCache {
	return &authCache{entries: make(map[string]*authEntry)}
}

// entry returns the answer cached for hash, whatever its epoch, or nil.
// An entry is never changed once stored.
func (c *authCache) entry(hash []byte) *authEntry {
	c.mu.RLock()
	e := c.entries[string(hash)]
	c.mu.RUnlock()
	return e
}

// answer returns copies of the entry's key and customer, so a caller that
// changes what it gets changes nothing here; the pointer fields (times,
// limits) are never written through.
func (e *authEntry) answer() (*quantumlock.APIKey, *quantumlock.Customer) {
	k, cu := e.key, e.cust
	k.Hash = append([]byte(nil), e.key.Hash...)
	return &k, &cu
}

// checkedAt returns the last check, if it was made at version v.
func (c *authCache) checkedAt(v walVersion) (epochCheck, bool) {
	if ch := c.checked.Load(); ch != nil && ch.version == v {
		return *ch, true
	}
	return epochCheck{}, false
}

// check records a check.
func (c *authCache) check(ch epochCheck) {
	c.checked.Store(&ch)
}

// put records a key and its customer read at the given stamp.
func (c *authCache) put(at stamp, k *quantumlock.APIKey, cu *quantumlock.Customer) {
	e := &authEntry{stamp: at, key: *k, cust: *cu}
	e.key.Hash = append([]byte(nil), k.Hash...)
	c.mu.Lock()
	if len(c.entries) >= authCacheSize {
		clear(c.entries)
	}
	c.entries[string(e.key.Hash)] = e
	c.mu.Unlock()
}

// AuthCacheStats reports how many APIKeyByHash calls the cache answered
// and how many went to the database while it was on. enabled is false when
// the database is not in WAL mode or its WAL index could not be opened at
// Open; every call then reads the database.
func (db *DB) AuthCacheStats() (hits, misses int64, enabled bool) {
	if db.auth == nil {
		return 0, 0, false
	}
	return db.auth.hits.Load(), db.auth.misses.Load(), true
}

// AuthEpochReads reports how many times the cache read the auth epoch
// because something had committed since the last check (see authCache).
func (db *DB) AuthEpochReads() int64 {
	if db.auth == nil {
		return 0
	}
	return db.auth.epochReads.Load()
}
