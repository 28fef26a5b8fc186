// Package ratelimit counts requests in fixed windows aligned to the minute
// (SPEC §4). The Limiter interface is what the HTTP layer consumes; Memory
// is the in-process implementation for a single replica. A shared limiter
// for several replicas (Redis) implements the same interface.
package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Window is the length of every rate-limit window.
const Window = time.Minute

// Decision is the outcome of counting one request.
type Decision struct {
	Allowed   bool
	Limit     int64
	Remaining int64     // requests left in the window after this one, ≥ 0
	Reset     time.Time // end of the current window
}

// Limiter counts requests per key.
type Limiter interface {
	// Allow counts one request for key in the window containing now and
	// reports whether it is within limit. Refused requests count too, so a
	// client hammering past its limit gains nothing.
	Allow(ctx context.Context, key string, limit int64, now time.Time) (Decision, error)
}

const shards = 32

// Memory is an in-memory fixed-window Limiter. Its memory is bounded by the
// number of keys seen in the current window: when a shard sees a newer
// window, it drops the old window's counts all at once, map and all, since
// a cleared Go map keeps the buckets of its busiest window.
type Memory struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu     sync.Mutex
	window int64 // unix seconds of the window's start
	counts map[string]int64
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].counts = make(map[string]int64)
	}
	return m
}

// Allow implements Limiter. It never returns an error.
func (m *Memory) Allow(_ context.Context, key string, limit int64, now time.Time) (Decision, error) {
	start := now.Truncate(Window)
	w := start.Unix()
	s := m.shard(key)

	s.mu.Lock()
	if w > s.window {
		s.window = w
		s.counts = make(map[string]int64)
	} else if w < s.window-int64(Window/time.Second) {
		// The clock was stepped back (corrected after running fast):
		// start over at the corrected time. Staying in the window
		// counted at the wrong time would hold every key of the shard
		// to one window's limit for as long as the step.
		s.window = w
		s.counts = make(map[string]int64)
	} else if w < s.window {
		// A caller that read the clock just before the minute turned
		// lands in the current window rather than resurrecting the
		// one before.
		start = time.Unix(s.window, 0)
	}
	s.counts[key]++
	n := s.counts[key]
	s.mu.Unlock()

	return Decision{
		Allowed:   n <= limit,
		Limit:     limit,
		Remaining: max(limit-n, 0),
		Reset:     start.Add(Window).UTC(),
	}, nil
}

// shard returns the shard that counts key.
func (m *Memory) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%shards]
}
