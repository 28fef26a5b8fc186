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

// authCache remembers APIKeyByHash answers, each with the WAL index version
// read before the row was. An answer is served only while the version is
// unchanged, that is while no transaction has committed, by this process or
// any other, since it was read: a revoked key, a deleted customer or a
// changed plan is seen by the very next request, as without the cache.
// Authentication runs on every request and its read was a fifth of a
// validate's CPU; the version check is a few loads from a memory mapping.
type authCache struct {
	mu      sync.RWMutex
	entries map[string]*authEntry // by key hash

	hits, misses atomic.Int64
}

type authEntry struct {
	version walVersion
	key     quantumlock.APIKey
	cust    quantumlock.Customer
}

func newAuthCache() *authCache {
	return &authCache{entries: make(map[string]*authEntry)}
}

// get returns copies of the cached key and customer for hash if they were
// read at version v.
func (c *authCache) get(hash []byte, v walVersion) (*quantumlock.APIKey, *quantumlock.Customer, bool) {
	c.mu.RLock()
	e := c.entries[string(hash)]
	c.mu.RUnlock()
	if e == nil || e.version != v {
		c.misses.Add(1)
		return nil, nil, false
	}
	c.hits.Add(1)
	// Copies, so a caller that changes what it gets changes nothing here;
	// the pointer fields (times, limits) are never written through.
	k, cu := e.key, e.cust
	k.Hash = append([]byte(nil), e.key.Hash...)
	return &k, &cu, true
}

// put records a key and its customer read at version v.
func (c *authCache) put(v walVersion, k *quantumlock.APIKey, cu *quantumlock.Customer) {
	e := &authEntry{version: v, key: *k, cust: *cu}
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
