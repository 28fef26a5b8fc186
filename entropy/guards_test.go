package entropy

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// The pool's guarantees that no answer shows on its own: what an alarm, a
// start-up run and a handed-out byte leave behind, what every output mixes
// in, and how draws behave at the pool's edges. Each test was seen failing
// against the code it guards with that code removed or changed.

// Bytes pooled before a health-test alarm are never handed out, not even
// once the source has recovered (docs/entropy.md: the pool is emptied).
func TestAlarmEmptiesPoolForGood(t *testing.T) {
	srv := newANUServer(t, "good")
	r := filledRemote(t, srv, Config{FetchSize: 1024, PoolSize: 4096})
	before := append([]byte(nil), r.buf...)
	srv.setMode("zeros")
	r.fetchOnce(context.Background(), 64) // the alarm
	if len(r.buf) != 0 {
		t.Errorf("pool holds %d bytes after an alarm", len(r.buf))
	}
	srv.setMode("good")
	r.fetchOnce(context.Background(), 1024) // the recovery run, discarded
	r.fetchOnce(context.Background(), 1024) // usable again
	var got []byte
	for {
		b, err := r.take(context.Background(), 64, 0, false)
		if err != nil {
			break
		}
		got = append(got, b...)
	}
	if len(got) == 0 {
		t.Fatal("nothing drawn after recovery")
	}
	if bytes.Contains(before, got[:64]) {
		t.Error("bytes pooled before the alarm were handed out after recovery")
	}
}

// The start-up run (SP 800-90B §4.3) is tested and discarded, never pooled.
func TestStartupBytesNotPooled(t *testing.T) {
	srv := newANUServer(t, "good")
	r := filledRemote(t, srv, Config{FetchSize: 512, PoolSize: 4096})
	srv.mu.Lock()
	startup := append([]byte(nil), srv.served[:StartupSamples]...)
	srv.mu.Unlock()
	if bytes.Contains(r.buf, startup[:64]) || bytes.Contains(r.buf, startup[StartupSamples-64:]) {
		t.Error("start-up samples were pooled")
	}
}

// A byte handed out leaves no copy in the pool's memory.
func TestTakeZeroesWhatItHandsOut(t *testing.T) {
	r := filledRemote(t, newANUServer(t, "good"), Config{FetchSize: 1024, PoolSize: 2048})
	backing := r.buf[:cap(r.buf)]
	out, err := r.take(context.Background(), 100, 0, false)
	if err != nil {
		t.Fatal("take failed")
	}
	if bytes.Count(out, []byte{0}) == 100 {
		t.Fatal("drew zeros")
	}
	if n := 100 - bytes.Count(backing[:100], []byte{0}); n > 0 {
		t.Errorf("%d handed-out bytes still in the pool's memory", n)
	}
}

// Every output mixes in fresh OS bytes (SPEC §1): a source whose raw output
// is known and repeats still gives two different outputs, neither of them
// what conditioning without OS bytes would give. Both draw paths condition
// through the same function (conditioned).
func TestOutputMixesOSBytes(t *testing.T) {
	p := newPool(t, Config{})
	p.crypto.read = func(b []byte) error {
		for i := range b {
			b[i] = byte(i)
		}
		return nil
	}
	a, err := p.Draw(context.Background(), 32, quantumlock.SourceCryptographic)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Draw(context.Background(), 32, quantumlock.SourceCryptographic)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes, b.Bytes) {
		t.Error("a known, repeating source gave two equal outputs: no OS bytes mixed in")
	}
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i)
	}
	zero := make([]byte, 32)
	condition(zero, quantumlock.SourceCryptographic, raw, make([]byte, OSBytes))
	if bytes.Equal(a.Bytes, zero) {
		t.Error("output equals conditioning with all-zero OS bytes")
	}
}

// The most-common-value estimate takes the commoner bit, whichever it is
// (SP 800-90B §6.3.1): here zeros, seven in eight.
func TestBitMCVCountsCommonerZeros(t *testing.T) {
	var m bitMCV
	b := bytes.Repeat([]byte{0x01}, FidelityWindowBits/8)
	m.add(b)
	want := MCVMinEntropy(7*uint64(len(b)), FidelityWindowBits)
	if e := m.estimate(); e == nil || *e != want {
		t.Errorf("1/8-ones bits estimated at %v, want %v", e, want)
	}
}

// A Retry-After too large for a Duration still holds the back-off at
// BackoffMax (docs/entropy.md: honoured as a minimum up to BackoffMax);
// it used to overflow and be ignored.
func TestRetryAfterHugeCapped(t *testing.T) {
	r := &remote{backoffMin: time.Second, backoffMax: time.Minute, consecutive: 1}
	for _, v := range []string{"86400", "10000000000", "9223372036854775807"} {
		if d := r.backoff(&fetchError{retryAfter: retryAfter(v)}); d != time.Minute {
			t.Errorf("Retry-After: %s gave back-off %v, want %v", v, d, time.Minute)
		}
	}
}

// A null among the answer's values is no uint8 (docs/entropy.md: a wrong
// type is a failed request); it used to become a 0 byte, pooled as quantum.
func TestParseAnswerRefusesNull(t *testing.T) {
	for _, body := range []string{
		`{"type":"uint8","length":3,"data":[null,null,null],"success":true}`,
		`{"type":"uint8","length":3,"data":[7,null,9],"success":true}`,
	} {
		if b, err := parseAnswer([]byte(body), 3); err == nil {
			t.Errorf("parseAnswer(%s) = %v, nil; want an error", body, b)
		}
	}
}

// A draw naming qcos_api gives up at once on a failing source instead of
// waiting out DrawWait.
func TestDrawFromFailingSourceDoesNotWait(t *testing.T) {
	srv := newANUServer(t, "500")
	p := remotePool(t, srv, Config{DrawWait: 3 * time.Second, BackoffMin: time.Minute, BackoffMax: time.Minute})
	eventually(t, "a failed request", func() bool { return statusOf(t, p, quantumlock.SourceQCOSAPI).RequestFailures > 0 })
	start := time.Now()
	_, err := p.Draw(context.Background(), 32, quantumlock.SourceQCOSAPI)
	if quantumlock.ErrorCode(err) != quantumlock.EUNAVAILABLE {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a draw from a failing source waited %v", d)
	}
}

// Spare-only draws never take the pool below half, and with a FetchSize
// over half the pool the fetcher, waiting for a FetchSize of room, never
// refilled it: every customer draw naming qcos_api after the first few was
// 503 although the source was healthy. A draw that finds too few bytes
// now has the fetcher fill what room there is.
func TestSpareOnlyDrawsRefillWhenShort(t *testing.T) {
	srv := newANUServer(t, "good")
	p := remotePool(t, srv, Config{FetchSize: 1024, PoolSize: 1024, DrawWait: 5 * time.Second})
	eventually(t, "a full pool", func() bool { return statusOf(t, p, quantumlock.SourceQCOSAPI).PoolBytes == 1024 })
	spare := SpareOnly(context.Background())
	for i := range 40 {
		if _, err := p.Draw(spare, 64, quantumlock.SourceQCOSAPI); err != nil {
			st := statusOf(t, p, quantumlock.SourceQCOSAPI)
			t.Fatalf("spare-only draw %d from a healthy source: %v; pool %d bytes, healthy %v", i+1, err, st.PoolBytes, st.Healthy)
		}
	}
}

// System keeps the quantumlock.Randomness contract: a name that is no
// source is EINVALID, a source it does not have EUNAVAILABLE, and a length
// out of range an error, not a panic.
func TestSystemDrawContract(t *testing.T) {
	ctx := context.Background()
	if _, err := (System{}).Draw(ctx, 8, "dwave"); quantumlock.ErrorCode(err) != quantumlock.EINVALID {
		t.Errorf("unknown source: %v, want EINVALID", err)
	}
	if _, err := (System{}).Draw(ctx, 8, quantumlock.SourceQiskitLocal); quantumlock.ErrorCode(err) != quantumlock.EUNAVAILABLE {
		t.Errorf("qiskit_local: %v, want EUNAVAILABLE", err)
	}
	if e, err := (System{}).Draw(ctx, MaxDraw, ""); err != nil || len(e.Bytes) != MaxDraw {
		t.Errorf("Draw(MaxDraw): %v", err)
	}
	for _, n := range []int{-1, MaxDraw + 1} {
		if _, err := (System{}).Draw(ctx, n, ""); quantumlock.ErrorCode(err) != quantumlock.EINVALID {
			t.Errorf("Draw(%d): %v, want EINVALID", n, err)
		}
	}
	if e, err := (System{}).Draw(ctx, 16, ""); err != nil || len(e.Bytes) != 16 || e.Source != quantumlock.SourceCryptographic {
		t.Errorf("Draw(16) = %+v, %v", e, err)
	}
}

// A draw that does not wait (one naming no source, which falls back to
// cryptographic) does not mark the pool short: with a FetchSize over half
// the pool, every customer call that found too few bytes cost a QRNG
// request for bytes it would not take, against a remote that may allow a
// few a minute.
func TestUnwaitedShortDrawsCostNoRequests(t *testing.T) {
	srv := newANUServer(t, "good")
	p := remotePool(t, srv, Config{FetchSize: 1024, PoolSize: 1024})
	eventually(t, "a full pool", func() bool { return statusOf(t, p, quantumlock.SourceQCOSAPI).PoolBytes == 1024 })
	before := srv.requests.Load()
	ctx := context.Background()
	spare := SpareOnly(ctx)
	const rounds = 20
	for range rounds {
		if e, err := p.Draw(ctx, 32, ""); err != nil || e.Source != quantumlock.SourceQCOSAPI {
			t.Fatalf("the service's draw: %+v, %v", e, err)
		}
		if _, err := p.Draw(spare, 512, ""); err != nil { // a customer's 4,096 bits, no source named
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.requests.Load() - before; n > 2 {
		t.Errorf("%d draws of 32 bytes and %d unnamed customer draws cost %d QRNG requests", rounds, rounds, n)
	}
}

// The top-up a short draw asked for clears the mark: small draws after it
// from a pool with room to spare cost no requests.
func TestShortClearedByRefill(t *testing.T) {
	srv := newANUServer(t, "good")
	p := remotePool(t, srv, Config{FetchSize: 1024, PoolSize: 1024, DrawWait: 5 * time.Second})
	eventually(t, "a full pool", func() bool { return statusOf(t, p, quantumlock.SourceQCOSAPI).PoolBytes == 1024 })
	ctx := context.Background()
	if _, err := p.Draw(ctx, 32, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Draw(SpareOnly(ctx), 512, quantumlock.SourceQCOSAPI); err != nil { // short; the top-up brings it
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	before := srv.requests.Load()
	for range 10 {
		if _, err := p.Draw(ctx, 16, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.requests.Load() - before; n != 0 {
		t.Errorf("10 draws of 16 bytes from a pool with 512 bytes in it cost %d requests", n)
	}
}

// The service's own draws name no source and never wait; once they have
// taken the pool below what they need, they mark it short too, or with
// a FetchSize over half the pool the fetcher, waiting for a FetchSize of
// room, never refilled it: every draw after the first 170 of 6 bytes from
// a 1,024-byte pool was cryptographic from a healthy source. (Only a draw
// refused by the reserve alone, whose bytes are there, asks for nothing.)
func TestUnnamedDrawsRefillAShortPool(t *testing.T) {
	srv := newANUServer(t, "good")
	p := remotePool(t, srv, Config{FetchSize: 1024, PoolSize: 1024})
	eventually(t, "a full pool", func() bool { return statusOf(t, p, quantumlock.SourceQCOSAPI).PoolBytes == 1024 })
	ctx := context.Background()
	quantum := 0
	for i := range 400 {
		e, err := p.Draw(ctx, 6, "")
		if err != nil {
			t.Fatal(err)
		}
		if e.Source == quantumlock.SourceQCOSAPI {
			quantum++
		}
		if i >= 170 {
			time.Sleep(5 * time.Millisecond) // time for a top-up
		}
	}
	if quantum <= 170 {
		st := statusOf(t, p, quantumlock.SourceQCOSAPI)
		t.Errorf("after the first 170 draws no unnamed draw got quantum bytes again (%d in all); the pool holds %d bytes, healthy %v",
			quantum, st.PoolBytes, st.Healthy)
	}
}
