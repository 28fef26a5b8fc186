package entropy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

const testKey = "secret-test-key"

// anuServer is a local QRNG speaking the ANU QRNG JSON API. Its answer
// mode can change while it runs.
type anuServer struct {
	*httptest.Server
	mode     atomic.Value // string
	requests atomic.Int64
	release  chan struct{} // unblocks stuck handlers at cleanup

	mu     sync.Mutex
	served []byte // every byte sent in a good answer, in order
	replay []int  // what every answer in mode "replay" holds, set by the first
}

func newANUServer(t testing.TB, mode string) *anuServer {
	t.Helper()
	s := &anuServer{release: make(chan struct{})}
	s.mode.Store(mode)
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(func() {
		close(s.release)
		s.Close()
	})
	return s
}

func (s *anuServer) setMode(m string) { s.mode.Store(m) }

func (s *anuServer) handle(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.Header.Get("x-api-key") != testKey {
		http.Error(w, "bad key", http.StatusForbidden)
		return
	}
	n, err := strconv.Atoi(r.URL.Query().Get("length"))
	if err != nil || n < 1 || n > 1024 || r.URL.Query().Get("type") != "uint8" {
		http.Error(w, "bad query", http.StatusBadRequest)
		return
	}
	data := make([]int, n)
	raw := make([]byte, n)
	rand.Read(raw)
	for i, b := range raw {
		data[i] = int(b)
	}
	answer := map[string]any{"type": "uint8", "length": n, "data": data, "success": true}
	switch s.mode.Load().(string) {
	case "good":
	case "slow":
		time.Sleep(20 * time.Millisecond)
	case "length-string":
		answer["length"] = strconv.Itoa(n)
	case "403":
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	case "500":
		http.Error(w, "oops", http.StatusInternalServerError)
		return
	case "malformed":
		fmt.Fprint(w, `{"type":"uint8","length":`)
		return
	case "success-false":
		answer = map[string]any{"success": false, "message": "quota exceeded"}
	case "huge-headers":
		// A valid answer under headers far past any QRNG's.
		for i := range 8 {
			w.Header().Set(fmt.Sprintf("X-Padding-%d", i), strings.Repeat("a", 4<<10))
		}
	case "short":
		answer["data"] = data[:n-1]
	case "out-of-range":
		data[0] = 256
	case "zeros":
		clear(data)
	case "replay":
		// A stuck cache: the first answer, again and again.
		s.mu.Lock()
		if s.replay == nil {
			s.replay = data
		}
		data = s.replay[:min(n, len(s.replay))]
		s.mu.Unlock()
		answer["data"], answer["length"] = data, len(data)
	case "stuck":
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
	if m := s.mode.Load().(string); m == "good" || m == "slow" || m == "length-string" {
		s.mu.Lock()
		s.served = append(s.served, raw...)
		s.mu.Unlock()
	}
}

func testRemote(t testing.TB, url string, cfg Config) *remote {
	t.Helper()
	cfg.QRNGURL = url
	if cfg.QRNGAPIKey == "" {
		cfg.QRNGAPIKey = testKey
	}
	if cfg.ClaimedEntropy == 0 {
		cfg.ClaimedEntropy = DefaultClaimedEntropy
	}
	cfg.Logger = nil
	p := newPool(t, cfg)
	return p.qcos
}

func TestFetch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		mode, wantErr string
	}{
		{"good", ""},
		{"slow", ""},
		{"length-string", ""},
		{"403", "403"},
		{"429", "429"},
		{"500", "HTTP 500"},
		{"malformed", "malformed"},
		{"success-false", "success: false"},
		{"short", "values"},
		{"out-of-range", "not a uint8"},
		{"stuck", "no answer within"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			srv := newANUServer(t, tt.mode)
			r := testRemote(t, srv.URL+"/API/jsonI.php", Config{RequestTimeout: 200 * time.Millisecond})
			b, latency, err := r.fetch(context.Background(), 100)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				if len(b) != 100 || latency <= 0 {
					t.Errorf("fetch returned %d bytes, latency %v", len(b), latency)
				}
				srv.mu.Lock()
				defer srv.mu.Unlock()
				if string(srv.served) != string(b) {
					t.Error("fetched bytes differ from the bytes served")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("fetch error %v, want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q reveals the API key", err)
			}
		})
	}
	t.Run("WrongKey", func(t *testing.T) {
		t.Parallel()
		srv := newANUServer(t, "good")
		r := testRemote(t, srv.URL, Config{QRNGAPIKey: "wrong"})
		if _, _, err := r.fetch(context.Background(), 8); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("fetch with a wrong key: %v", err)
		}
	})
}

func TestParseAnswer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body string
		ok         bool
	}{
		{"Number", `{"type":"uint8","length":3,"data":[0,128,255],"success":true}`, true},
		{"String", `{"type":"uint8","length":"3","data":[1,2,3],"success":true}`, true},
		{"ExtraFields", `{"type":"uint8","length":3,"data":[1,2,3],"success":true,"completed":true}`, true},
		{"NoSuccess", `{"type":"uint8","length":3,"data":[1,2,3]}`, false},
		{"Type", `{"type":"uint16","length":3,"data":[1,2,3],"success":true}`, false},
		{"LengthMismatch", `{"type":"uint8","length":4,"data":[1,2,3],"success":true}`, false},
		{"LengthWord", `{"type":"uint8","length":"three","data":[1,2,3],"success":true}`, false},
		{"Negative", `{"type":"uint8","length":3,"data":[1,-2,3],"success":true}`, false},
		{"Fraction", `{"type":"uint8","length":3,"data":[1,2.5,3],"success":true}`, false},
		{"Null", `null`, false},
		{"Array", `[1,2,3]`, false},
		{"LongType", `{"type":"` + strings.Repeat("A", 60000) + `","length":3,"data":[1,2,3],"success":true}`, false},
		{"LongLength", `{"type":"uint8","length":"` + strings.Repeat("9x", 30000) + `","data":[1,2,3],"success":true}`, false},
		{"LongNumber", `{"type":"uint8","length":3,"data":[1,2,0.` + strings.Repeat("5", 60000) + `],"success":true}`, false},
		// Members by their exact names, each once: encoding/json alone
		// matches any case and lets the last of two win.
		{"SuccessTwice", `{"type":"uint8","length":3,"data":[1,2,3],"success":false,"success":true}`, false},
		{"DataTwice", `{"type":"uint8","length":3,"data":[1,2,3],"data":[4,5,6],"success":true}`, false},
		{"UpperCase", `{"TYPE":"uint8","LENGTH":3,"DATA":[1,2,3],"SUCCESS":true}`, false},
		{"SuccessUpperCase", `{"type":"uint8","length":3,"data":[1,2,3],"Success":true}`, false},
		{"ExtraTwice", `{"type":"uint8","length":3,"data":[1,2,3],"success":true,"x":1,"x":2}`, true},
		{"Trailing", `{"type":"uint8","length":3,"data":[1,2,3],"success":true} {}`, false},
		{"Unclosed", `{"type":"uint8","length":3,"data":[1,2,3],"success":true`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := parseAnswer([]byte(tt.body), 3)
			if (err == nil) != tt.ok || tt.ok && len(b) != 3 {
				t.Errorf("parseAnswer = %v, %v; want ok %v", b, err, tt.ok)
			}
			// The reason is shown in quantum/health to every customer:
			// it does not carry the remote's text along.
			if err != nil && len(err.Error()) > 200 {
				t.Errorf("a reason of %d bytes: %.80s…", len(err.Error()), err)
			}
		})
	}
}

func FuzzParseAnswer(f *testing.F) {
	f.Add([]byte(`{"type":"uint8","length":"3","data":[1,2,3],"success":true}`), 3)
	f.Add([]byte(`{"success":false}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > MaxFetch {
			return
		}
		b, err := parseAnswer(body, n)
		if err == nil && len(b) != n {
			t.Errorf("accepted answer with %d bytes, asked %d", len(b), n)
		}
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	r := &remote{backoffMin: time.Second, backoffMax: time.Minute}
	for _, tt := range []struct {
		k        int
		err      error
		min, max time.Duration
	}{
		{1, nil, 500 * time.Millisecond, time.Second},
		{3, nil, 2 * time.Second, 4 * time.Second},
		{10, nil, 30 * time.Second, time.Minute},
		{100, nil, 30 * time.Second, time.Minute},
		// Retry-After is a floor: jitter never retries before it.
		{1, &fetchError{retryAfter: 10 * time.Second}, 10 * time.Second, 10 * time.Second},
		{6, &fetchError{retryAfter: 20 * time.Second}, 20 * time.Second, 32 * time.Second},
		{1, &fetchError{retryAfter: time.Hour}, time.Minute, time.Minute},
	} {
		r.consecutive = tt.k
		for range 100 { // the jitter is random
			if d := r.backoff(tt.err); d < tt.min || d > tt.max {
				t.Fatalf("failure %d (%v): back-off %v, want %v–%v", tt.k, tt.err, d, tt.min, tt.max)
			}
		}
	}
	// min·2^(k−1) must not overflow for a long minimum: a wrapped value
	// would be negative and retry at once.
	r = &remote{backoffMin: time.Hour, backoffMax: 2 * time.Hour}
	for k := 1; k <= 100; k++ {
		r.consecutive = k
		if d := r.backoff(nil); d < 30*time.Minute || d > 2*time.Hour {
			t.Errorf("min 1h, failure %d: back-off %v, want 30m–2h", k, d)
		}
	}
}

// filledRemote returns a remote on srv whose pool is filled by hand, with
// no fetcher goroutine, but running as run leaves it.
func filledRemote(t *testing.T, srv *anuServer, c Config) *remote {
	t.Helper()
	r := testRemote(t, srv.URL, c)
	r.running = true
	for r.capacity-len(r.buf) > 0 {
		if d := r.fetchOnce(context.Background(), min(r.fetchSize, r.capacity-len(r.buf))); d != 0 {
			t.Fatalf("fetch failed: %s", r.lastErr)
		}
	}
	return r
}

// TestPoolBytesUsedOnce fills the pool by hand and checks that draining
// it returns the served bytes in order, each exactly once.
func TestPoolBytesUsedOnce(t *testing.T) {
	t.Parallel()
	srv := newANUServer(t, "good")
	r := filledRemote(t, srv, Config{FetchSize: 700, PoolSize: 4096})
	ctx := context.Background()
	// The first StartupSamples bytes only served the start-up test.
	var got []byte
	for {
		b, err := r.take(ctx, 100, 0, false)
		if err != nil {
			break
		}
		got = append(got, b...)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	// The pool holds the last bytes served: got, then what is left.
	want := srv.served[len(srv.served)-len(got)-len(r.buf):][:len(got)]
	if len(got) < 2000 || string(got) != string(want) {
		t.Fatalf("drained %d bytes; equal to the served tail: %v", len(got), string(got) == string(want))
	}
	if len(r.buf) >= 100 {
		t.Errorf("%d bytes left although take stopped", len(r.buf))
	}
	if _, err := r.take(ctx, 100, 0, false); err == nil {
		t.Error("take succeeded on a drained pool")
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func remotePool(t *testing.T, srv *anuServer, cfg Config) *Pool {
	t.Helper()
	cfg.QRNGURL = srv.URL
	cfg.QRNGAPIKey = testKey
	cfg.Qubits = 4
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 4096
	}
	p := newPool(t, cfg)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRemoteDraw(t *testing.T) {
	t.Parallel()
	srv := newANUServer(t, "good")
	p := remotePool(t, srv, Config{DrawWait: 20 * time.Second})
	e, err := p.Draw(context.Background(), 64, quantumlock.SourceQCOSAPI)
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != quantumlock.SourceQCOSAPI || !e.QuantumVerified || e.Qubits != nil || len(e.Bytes) != 64 {
		t.Errorf("qcos_api draw: %+v", e)
	}
	eventually(t, "a pooled draw with no source named", func() bool {
		e, err := p.Draw(context.Background(), 32, "")
		return err == nil && e.Source == quantumlock.SourceQCOSAPI && e.QuantumVerified
	})
	// An empty draw claims no quantum provenance: it holds no byte of it.
	if e, err := p.Draw(context.Background(), 0, ""); err != nil || e.QuantumVerified || e.Source != quantumlock.SourceCryptographic {
		t.Errorf("an empty unnamed draw: %+v, %v", e, err)
	}
	if e, err := p.Draw(context.Background(), 0, quantumlock.SourceQCOSAPI); err != nil || e.QuantumVerified || len(e.Bytes) != 0 {
		t.Errorf("an empty qcos_api draw: %+v, %v", e, err)
	}
	st := statusOf(t, p, quantumlock.SourceQCOSAPI)
	if !st.Available || !st.Healthy || !st.Quantum || st.URL != srv.URL || st.LatencyMS == nil || st.Requests == 0 {
		t.Errorf("qcos_api status: %+v", st)
	}
	// Under SpareOnly a draw of more than half the pool never comes from
	// it: an unnamed one falls back to cryptographic, a named one is
	// unavailable.
	spare := SpareOnly(context.Background())
	half := p.qcos.capacity/2 + 1
	if e, err := p.Draw(spare, half, ""); err != nil || e.Source != quantumlock.SourceCryptographic || e.QuantumVerified {
		t.Errorf("spare-only unnamed draw of %d bytes: %+v, %v", half, e, err)
	}
	if _, err := p.Draw(spare, half, quantumlock.SourceQCOSAPI); quantumlock.ErrorCode(err) != quantumlock.EUNAVAILABLE {
		t.Errorf("spare-only qcos_api draw of %d bytes: %v, want EUNAVAILABLE", half, err)
	}
}

func TestRemoteFailures(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"403", "429", "500", "malformed", "success-false", "huge-headers", "stuck"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := newANUServer(t, mode)
			p := remotePool(t, srv, Config{RequestTimeout: 50 * time.Millisecond, DrawWait: 10 * time.Millisecond})
			eventually(t, "a failed request", func() bool {
				return statusOf(t, p, quantumlock.SourceQCOSAPI).RequestFailures > 0
			})
			st := statusOf(t, p, quantumlock.SourceQCOSAPI)
			if st.Available || st.LastError == "" || strings.Contains(st.LastError, testKey) {
				t.Errorf("status after %s: %+v", mode, st)
			}
			_, err := p.Draw(context.Background(), 32, quantumlock.SourceQCOSAPI)
			if err != errRemoteDown {
				t.Errorf("forced qcos_api: %v, want %v", err, errRemoteDown)
			}
			e, err := p.Draw(context.Background(), 32, "")
			if err != nil || e.Source != quantumlock.SourceCryptographic || e.QuantumVerified {
				t.Errorf("unnamed draw: %+v, %v; want cryptographic", e, err)
			}
		})
	}
}

// TestRemoteRecovers turns a failing server good and waits for the source
// to come back, after back-off, without a restart.
func TestRemoteRecovers(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"500", "zeros", "replay"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := newANUServer(t, mode)
			p := remotePool(t, srv, Config{DrawWait: 10 * time.Millisecond})
			eventually(t, "a failure", func() bool {
				st := statusOf(t, p, quantumlock.SourceQCOSAPI)
				return st.RequestFailures > 0 || st.RCTFailures > 0 || st.ReplayFailures > 0
			})
			st := statusOf(t, p, quantumlock.SourceQCOSAPI)
			// An answer whose bytes are dropped is no request that went
			// well: it is counted apart.
			if mode != "500" && (st.AnswersRejected == 0 || st.RequestFailures != 0) {
				t.Errorf("answers failing the tests: %+v, want them counted as rejected", st)
			}
			if mode == "replay" && (st.ReplayFailures == 0 || !strings.Contains(st.LastError, "repeated")) {
				t.Errorf("a replayed answer was not counted as one: %+v", st)
			}
			// A stuck source is named by the test made for it.
			if mode == "zeros" && (st.RCTFailures == 0 || st.ReplayFailures != 0) {
				t.Errorf("constant answers: %+v, want an RCT alarm and no replay", st)
			}
			if mode != "500" {
				st := statusOf(t, p, quantumlock.SourceQCOSAPI)
				if st.Healthy || st.Available || st.PoolBytes != 0 {
					t.Errorf("source failing its health tests reported %+v", st)
				}
			}
			if _, err := p.Draw(context.Background(), 32, quantumlock.SourceQCOSAPI); err == nil {
				t.Error("draw from a failing source succeeded")
			}
			srv.setMode("good")
			eventually(t, "recovery", func() bool {
				e, err := p.Draw(context.Background(), 32, quantumlock.SourceQCOSAPI)
				return err == nil && e.QuantumVerified
			})
		})
	}
}

// TestStuckServerClose checks that neither Draw nor Close hangs on a
// server that never answers.
func TestStuckServerClose(t *testing.T) {
	t.Parallel()
	srv := newANUServer(t, "stuck")
	p := remotePool(t, srv, Config{RequestTimeout: time.Hour, DrawWait: 10 * time.Millisecond})
	eventually(t, "the fetcher's request", func() bool { return srv.requests.Load() > 0 })
	if _, err := p.Draw(context.Background(), 32, quantumlock.SourceQCOSAPI); quantumlock.ErrorCode(err) != quantumlock.EUNAVAILABLE {
		t.Errorf("draw while the only request hangs: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Draw(ctx, 32, quantumlock.SourceQCOSAPI); err == nil {
		t.Error("draw with cancelled context succeeded")
	}
	p.Close() // must return although the request never ends by itself
	if st := statusOf(t, p, quantumlock.SourceQCOSAPI); st.Available {
		t.Errorf("closed pool reports qcos_api available: %+v", st)
	}
}

func TestRedactedURL(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{QRNGURL: "https://user:pass@qrng.example/API/jsonI.php?key=hush", QRNGAPIKey: testKey})
	st := statusOf(t, p, quantumlock.SourceQCOSAPI)
	if st.URL != "https://qrng.example/API/jsonI.php" {
		t.Errorf("status URL %q", st.URL)
	}
	if st.Available {
		t.Error("qcos_api available before Start")
	}
}

// TestFetcherBatches checks that small draws do not each cost a request:
// the fetcher asks for FetchSize bytes once that much room is free, as a
// rate-limited remote counts requests, not bytes.
func TestFetcherBatches(t *testing.T) {
	t.Parallel()
	srv := newANUServer(t, "good")
	p := remotePool(t, srv, Config{FetchSize: 1024, PoolSize: 4096})
	eventually(t, "a full pool", func() bool {
		return statusOf(t, p, quantumlock.SourceQCOSAPI).PoolBytes == 4096
	})
	before := srv.requests.Load()
	for range 20 { // 640 bytes: less than one FetchSize
		if _, err := p.Draw(context.Background(), 32, quantumlock.SourceQCOSAPI); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := srv.requests.Load() - before; n != 0 {
		t.Errorf("20 draws of 32 bytes made %d requests, want none until 1024 bytes are free", n)
	}
	if _, err := p.Draw(context.Background(), 512, quantumlock.SourceQCOSAPI); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refill of FetchSize bytes", func() bool {
		return statusOf(t, p, quantumlock.SourceQCOSAPI).PoolBytes == 4096-1152+1024
	})
	if n := srv.requests.Load() - before; n != 1 {
		t.Errorf("refill took %d requests, want 1", n)
	}
}

// TestRemoteDoesNotFollowRedirects checks that a remote answering with a
// redirect is a failure, and that the API key is not sent to wherever the
// redirect points: Go's client would forward a custom x-api-key header.
func TestRemoteDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key") != "" {
			leaked.Add(1)
		}
		http.Error(w, "no", http.StatusNotFound)
	}))
	t.Cleanup(elsewhere.Close)
	redirector := newANUServer(t, "good")
	redirector.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirector.requests.Add(1)
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusFound)
	})
	p := remotePool(t, redirector, Config{RequestTimeout: 200 * time.Millisecond})
	eventually(t, "a failed request", func() bool {
		return statusOf(t, p, quantumlock.SourceQCOSAPI).RequestFailures > 0
	})
	if st := statusOf(t, p, quantumlock.SourceQCOSAPI); st.Available {
		t.Errorf("a redirecting remote is available: %+v", st)
	}
	if leaked.Load() > 0 {
		t.Fatal("the API key followed the redirect")
	}
}

// A spare-only take leaves half the pool's capacity for the others, which
// then still get it.
func TestSpareOnlyLeavesHalf(t *testing.T) {
	t.Parallel()
	r := filledRemote(t, newANUServer(t, "good"), Config{FetchSize: 512, PoolSize: 4096})
	ctx := context.Background()
	if _, err := r.take(ctx, r.capacity/2+1, 0, true); err == nil {
		t.Fatal("a spare-only take of more than half the capacity succeeded")
	} else if want := fmt.Sprintf("at most %d bytes", r.capacity/2); !strings.Contains(err.Error(), want) {
		t.Errorf("a spare-only take of more than half the capacity: %v, want it to say %q", err, want)
	}
	taken := 0
	for {
		_, err := r.take(ctx, 100, 0, true)
		if err != nil {
			// The source is healthy: it is not said to be failing.
			if err != errRemoteShort {
				t.Errorf("a healthy source's spare half used up: %v, want %v", err, errRemoteShort)
			}
			break
		}
		taken += 100
	}
	if left := len(r.buf); left < r.capacity/2 || left >= r.capacity/2+100 {
		t.Fatalf("spare-only takes stopped with %d of %d bytes left (took %d)", left, r.capacity, taken)
	}
	if _, err := r.take(ctx, 100, 0, false); err != nil {
		t.Fatal("the reserve was not there for a take without the flag")
	}
}

// TestTransportErrorsNameNoAddresses: what a failed round trip reports,
// which quantum/health shows every customer, says what kind of failure it
// was, not the address the remote's host resolved to; the operator's log
// gets the transport's own words.
func TestTransportErrorsNameNoAddresses(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close() // nothing listens there now
	var logged bytes.Buffer
	cfg := Config{QRNGURL: "http://localhost:" + port + "/qrng", QRNGAPIKey: testKey,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))}
	p := newPool(t, cfg)
	r := p.qcos
	r.running = true
	if d := r.fetchOnce(context.Background(), 16); d == 0 {
		t.Fatal("a refused connection counted as a success")
	}
	st := statusOf(t, p, quantumlock.SourceQCOSAPI)
	if st.LastError != "request failed: connection refused" {
		t.Errorf("reported %q, want the kind of failure only", st.LastError)
	}
	if !strings.Contains(logged.String(), "127.0.0.1:"+port) && !strings.Contains(logged.String(), "[::1]:"+port) {
		t.Errorf("the log does not give the transport's own error: %s", logged.String())
	}
}
