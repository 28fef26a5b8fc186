package entropy

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// BenchmarkRaw measures each local source's raw output, before tests and
// conditioning, 512 bytes at a time.
func BenchmarkRaw(b *testing.B) {
	p := newPool(b, Config{})
	buf := make([]byte, 512)
	for _, s := range []*localSource{p.crypto, p.sim} {
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if err := s.read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawQCOS measures a remote fetch of 1024 bytes from a local
// ANU-format server over loopback: the client's own cost, not a real
// QRNG's latency.
func BenchmarkRawQCOS(b *testing.B) {
	srv := newANUServer(b, "good")
	cfg := Config{QRNGURL: srv.URL, QRNGAPIKey: testKey}
	p := newPool(b, cfg)
	b.SetBytes(MaxFetch)
	for b.Loop() {
		if _, _, err := p.qcos.fetch(context.Background(), MaxFetch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHealth measures the SP 800-90B tests and the fidelity window
// over 512 bytes, the per-draw overhead of testing.
func BenchmarkHealth(b *testing.B) {
	m := newMonitor(DefaultClaimedEntropy, time.Now)
	buf := make([]byte, 512)
	rand.Read(buf)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		m.check(buf)
	}
}

// BenchmarkDraw measures the whole conditioned path: raw output, health
// tests, 32 OS bytes and SHAKE256.
func BenchmarkDraw(b *testing.B) {
	p := newPool(b, Config{})
	ctx := context.Background()
	for _, src := range []string{quantumlock.SourceCryptographic, quantumlock.SourceQiskitLocal} {
		for _, n := range []int{32, 512} {
			b.Run(fmt.Sprintf("%s/%dB", src, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					if _, err := p.Draw(ctx, n, src); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDrawParallel measures 32-byte draws with no source named from
// all CPUs at once, as concurrent license generation makes them.
func BenchmarkDrawParallel(b *testing.B) {
	p := newPool(b, Config{})
	b.SetBytes(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Draw(context.Background(), 32, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDrawQCOS measures a 32-byte draw served from a full remote
// pool; the fetcher refills it in the background from a loopback server.
func BenchmarkDrawQCOS(b *testing.B) {
	srv := newANUServer(b, "good")
	p := newPool(b, Config{QRNGURL: srv.URL, QRNGAPIKey: testKey, PoolSize: 1 << 20, DrawWait: 1 << 40})
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(32)
	for b.Loop() {
		if _, err := p.Draw(ctx, 32, quantumlock.SourceQCOSAPI); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDrawQCOSPooled measures a 32-byte qcos_api draw when the pool
// already holds the bytes: the cost a request pays, with the network out
// of the picture. The pool is filled by hand, outside the timer.
func BenchmarkDrawQCOSPooled(b *testing.B) {
	srv := newANUServer(b, "good")
	p := newPool(b, Config{QRNGURL: srv.URL, QRNGAPIKey: testKey})
	r := p.qcos
	r.running, r.ok = true, true
	start := make([]byte, StartupSamples)
	rand.Read(start)
	r.mon.check(start)
	fill := make([]byte, 1<<20)
	ctx := context.Background()
	b.SetBytes(32)
	for b.Loop() {
		if len(r.buf) < 32 {
			b.StopTimer()
			rand.Read(fill)
			r.buf = append(r.buf[:0], fill...)
			b.StartTimer()
		}
		if _, err := p.Draw(ctx, 32, quantumlock.SourceQCOSAPI); err != nil {
			b.Fatal(err)
		}
	}
}
