package entropy

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// TestBudgetWait checks the request budget's arithmetic: requests leave
// the count a minute after they were sent, the spare half's refills get
// half the budget rounded down, the reserve's all of it.
func TestBudgetWait(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, c := range []struct {
		name      string
		perMinute int
		pooled    int // of a capacity of 100
		sent      []float64
		now       float64
		want      time.Duration
	}{
		{"no bound", 0, 0, []float64{0, 1, 2}, 3, 0},
		{"reserve, under", 4, 49, []float64{0, 1, 2}, 3, 0},
		{"reserve, at", 4, 49, []float64{0, 1, 2, 3}, 4, 56 * time.Second},
		{"reserve, oldest gone", 4, 49, []float64{0, 1, 2, 3}, 60, 0},
		{"reserve, oldest just not gone", 4, 49, []float64{0, 1, 2, 3}, 59.5, 500 * time.Millisecond},
		{"spare, under", 4, 50, []float64{0}, 3, 0},
		{"spare, at half", 4, 50, []float64{0, 10}, 20, 40 * time.Second},
		{"spare, over half", 4, 50, []float64{0, 10, 20}, 30, 40 * time.Second},
		{"spare, odd budget rounds down", 5, 80, []float64{0, 10}, 20, 40 * time.Second},
		{"spare, a budget of one has no share", 1, 50, nil, 0, time.Minute},
		{"reserve, a budget of one", 1, 10, nil, 0, 0},
		{"reserve, a budget of one spent", 1, 10, []float64{0}, 30, 30 * time.Second},
	} {
		r := &remote{perMinute: c.perMinute, capacity: 100, buf: make([]byte, c.pooled)}
		for _, s := range c.sent {
			r.sent = append(r.sent, at(s))
		}
		if got := r.budgetWait(at(c.now)); got != c.want {
			t.Errorf("%s: wait %v, want %v", c.name, got, c.want)
		}
		for _, s := range r.sent {
			if !s.After(at(c.now).Add(-time.Minute)) {
				t.Errorf("%s: a request sent at %v is still counted at %v", c.name, s, at(c.now))
			}
		}
	}
}

// TestRequestBudget runs the fetcher against a remote under a budget of
// four requests a minute: customers' spare-only draws, however many, make
// no request past the spare half's two, draws into the reserve may use the
// rest, and a minute later the budget is there again.
func TestRequestBudget(t *testing.T) {
	t.Parallel()
	srv := newANUServer(t, "good")
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).UnixNano())
	p := remotePool(t, srv, Config{
		FetchSize: 1024, PoolSize: 4096, MaxRequestsPerMinute: 4,
		DrawWait: time.Millisecond,
		Now:      func() time.Time { return time.Unix(0, now.Load()) },
	})
	r := p.qcos
	pooled := func() int { return statusOf(t, p, quantumlock.SourceQCOSAPI).PoolBytes }
	settled := func(what string, requests int64, bytes int) {
		t.Helper()
		eventually(t, what, func() bool { return srv.requests.Load() == requests && pooled() == bytes })
		time.Sleep(50 * time.Millisecond) // room for a request that should not be made
		if n, b := srv.requests.Load(), pooled(); n != requests || b != bytes {
			t.Fatalf("%s: %d requests and %d bytes pooled, want %d and %d", what, n, b, requests, bytes)
		}
	}
	// The start-up test's 1024 bytes, then two refills of the reserve;
	// the third refill would be the spare half's, past its two requests.
	settled("start", 3, 2048)

	ctx := SpareOnly(context.Background())
	for range 20 {
		if _, err := p.Draw(ctx, 64, quantumlock.SourceQCOSAPI); err == nil {
			t.Fatal("a spare-only draw took from the reserve")
		}
		p.Draw(ctx, 64, "")
	}
	settled("spare-only draws", 3, 2048)

	// The service's own draws take the pool into its reserve, whose
	// refills may use the fourth request, and no more.
	if _, err := r.take(context.Background(), 1100, 0, false); err != nil {
		t.Fatal("the reserve was not there for the service's own draw")
	}
	settled("a draw into the reserve", 4, 2048-1100+1024)

	// A minute later the four requests have left the window: a draw that
	// wakes the fetcher lets it refill the reserve and then the spare half.
	now.Add(int64(time.Minute))
	if _, err := r.take(context.Background(), 32, 0, false); err != nil {
		t.Fatal("draw failed")
	}
	settled("a minute later", 6, 2048-1100+1024-32+2048)
}
