package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := time.Date(2026, 11, 27, 10, 30, 15, 0, time.UTC)

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		m := NewMemory()
		for i := int64(1); i <= 3; i++ {
			d, _ := m.Allow(ctx, "a", 3, base)
			if !d.Allowed || d.Remaining != 3-i || d.Limit != 3 {
				t.Fatalf("request %d: %+v", i, d)
			}
			if want := time.Date(2026, 11, 27, 10, 31, 0, 0, time.UTC); !d.Reset.Equal(want) {
				t.Fatalf("reset %v, want %v", d.Reset, want)
			}
		}
		if d, _ := m.Allow(ctx, "a", 3, base); d.Allowed || d.Remaining != 0 {
			t.Fatalf("4th request allowed: %+v", d)
		}
	})

	t.Run("KeysIndependent", func(t *testing.T) {
		t.Parallel()
		m := NewMemory()
		m.Allow(ctx, "a", 1, base)
		if d, _ := m.Allow(ctx, "b", 1, base); !d.Allowed {
			t.Fatal("key b limited by key a")
		}
	})

	t.Run("NextWindowResets", func(t *testing.T) {
		t.Parallel()
		m := NewMemory()
		m.Allow(ctx, "a", 1, base)
		if d, _ := m.Allow(ctx, "a", 1, base.Add(44*time.Second)); d.Allowed {
			t.Fatal("second request in the same window allowed")
		}
		if d, _ := m.Allow(ctx, "a", 1, base.Add(45*time.Second)); !d.Allowed {
			t.Fatal("first request of the next window refused")
		}
	})

	t.Run("ClockBehindStaysInCurrentWindow", func(t *testing.T) {
		t.Parallel()
		m := NewMemory()
		m.Allow(ctx, "a", 1, base.Add(time.Minute))
		d, _ := m.Allow(ctx, "a", 1, base)
		if d.Allowed || !d.Reset.Equal(base.Truncate(time.Minute).Add(2*time.Minute)) {
			t.Fatalf("late request: %+v", d)
		}
	})

	t.Run("ConcurrentExact", func(t *testing.T) {
		t.Parallel()
		m := NewMemory()
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 500 {
			wg.Go(func() {
				if d, _ := m.Allow(ctx, "a", 100, base); d.Allowed {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 100 {
			t.Fatalf("%d allowed, want exactly 100", ok.Load())
		}
	})
}

// A new window gives back the memory of the last one's keys, however many
// there were. (Not parallel: it reads the process's heap.)
func TestMemoryNewWindowFreesOldKeys(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	m := NewMemory()
	before := heap()
	for i := range 200_000 {
		m.Allow(ctx, fmt.Sprintf("rpm:cust_%012x", i), 10, base)
	}
	full := heap()
	// One request in the next window on every shard.
	seen := 0
	for i := 0; seen < shards; i++ {
		key := fmt.Sprintf("next_%d", i)
		s := &m.shards[maphash.String(m.seed, key)%shards]
		if s.window == base.Unix() {
			seen++
		}
		m.Allow(ctx, key, 10, base.Add(Window))
	}
	after := heap()
	grew := float64(full) - float64(before)
	freed := float64(full) - float64(after)
	if grew <= 0 || freed < 0.8*grew {
		t.Fatalf("heap %d B empty, %d B with 200,000 keys, %d B in the next window: freed %.0f%% of what the keys took",
			before, full, after, 100*freed/grew)
	}
	runtime.KeepAlive(m)
}

func BenchmarkMemoryAllow(b *testing.B) {
	m := NewMemory()
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Allow(context.Background(), "cust_0123456789ab", 1<<40, now)
		}
	})
}

// A clock stepped back (an NTP correction after the clock ran fast) starts
// the windows over at the corrected time: the customer that was counted at
// the wrong, later time, and every other key of its shard, get their limit
// again each minute, rather than waiting out a window as far ahead as the
// step. A request only one window behind, one that read the clock just
// before the minute turned, still counts in the current window.
func TestMemoryClockSteppedBack(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	right := time.Date(2026, 11, 29, 8, 0, 10, 0, time.UTC)
	m.Allow(ctx, "a", 10, right.Add(time.Hour))
	// Another key of a's shard.
	other := ""
	for i := 0; other == ""; i++ {
		if k := fmt.Sprint("b", i); m.shard(k) == m.shard("a") {
			other = k
		}
	}
	for minute := range 3 {
		for i := range 10 {
			now := right.Add(time.Duration(minute)*time.Minute + time.Duration(i)*time.Second)
			for _, key := range []string{"a", other} {
				d, _ := m.Allow(ctx, key, 10, now)
				if !d.Allowed || !d.Reset.Equal(now.Truncate(Window).Add(Window)) {
					t.Fatalf("%s at %s, after the clock was stepped back: %+v", key, now, d)
				}
			}
		}
	}

	// One window behind: counted in the current window.
	m = NewMemory()
	at := time.Date(2026, 11, 29, 8, 1, 0, 0, time.UTC)
	m.Allow(ctx, "a", 2, at)
	d, _ := m.Allow(ctx, "a", 2, at.Add(-time.Nanosecond))
	if d.Remaining != 0 || !d.Reset.Equal(at.Add(Window)) {
		t.Errorf("a request that read the clock just before the minute turned: %+v", d)
	}
}
