package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock/internal/apitest"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/sqlite"
)

// lineWriter hands each complete line written to it to a function; run's
// stderr goes through it so tests can wait for the "listening" line.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	all  bytes.Buffer
	line func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf.Next(i + 1)))
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is a running `quantumlock serve`.
type instance struct {
	URL    string
	Stdout *syncBuffer
	Stderr *lineWriter
	stop   func() error
}

// env returns a getenv over the given pairs.
func env(pairs ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return func(k string) string { return m[k] }
}

// serve starts run("serve", args...) on 127.0.0.1:0 and waits until /health
// answers. Stop it with inst.stop, which returns run's error.
func serve(t *testing.T, getenv func(string) string, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	inst := &instance{Stdout: &syncBuffer{}}
	inst.Stderr = &lineWriter{line: func(l string) {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "listening" {
			addr <- rec.Addr
		}
	}}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), getenv, nil, inst.Stdout, inst.Stderr)
	}()
	var once sync.Once
	var runErr error
	inst.stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { inst.stop() })
	select {
	case a := <-addr:
		inst.URL = "http://" + a
	case err := <-done:
		done <- err // for inst.stop, which the cleanup calls
		t.Fatalf("serve exited: %v\n%s", err, inst.Stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start\n%s", inst.Stderr.String())
	}
	for i := 0; ; i++ {
		resp, err := http.Get(inst.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i == 100 {
			t.Fatalf("/health never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return inst
}

// cli runs one CLI command and returns its stdout, failing on error.
func cli(t *testing.T, args ...string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), args, env(), nil, &out, &errb); err != nil {
		t.Fatalf("quantumlock %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

var demoKeyRE = regexp.MustCompile(`ql_live_[a-z2-7]{32}`)

func TestServeRequiresMasterKey(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "q.db")}, env(), nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--master-key-file") || !strings.Contains(err.Error(), "QUANTUMLOCK_MASTER_KEY") {
		t.Fatalf("err = %v, want a message saying how to provide a master key", err)
	}
	if strings.Contains(oneLine(err.Error()), "\n") {
		t.Error("error is not one line")
	}
}

func TestServeDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "quantumlock.db")

	// A first start that cannot listen shows no demo key: it would be
	// the only time the key is printed.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--dev", "--db", db, "--addr", busy.Addr().String()}, env(), nil, &out, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "--addr") || demoKeyRE.MatchString(out.String()) {
		t.Fatalf("serve on a busy address: %v, stdout %q", err, out.String())
	}

	inst := serve(t, env(), "--dev", "--db", db)

	key := demoKeyRE.FindString(inst.Stdout.String())
	if key == "" {
		t.Fatalf("no demo API key printed: %q", inst.Stdout.String())
	}
	st, err := os.Stat(filepath.Join(dir, "quantumlock.masterkey"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, mode %v", err, st.Mode())
	}
	if !strings.Contains(inst.Stderr.String(), "dev mode is on") {
		t.Error("no dev-mode warning logged")
	}
	c := &apitest.Client{BaseURL: inst.URL, APIKey: key}
	me := c.Do(t, "GET", "/api/v1/customers/me", nil).JSON(t)
	if me["plan"] != "enterprise" {
		t.Errorf("demo customer %v", me)
	}
	l := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"restart@example.com","features":["pro"]}`).JSON(t)
	if err := inst.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if !strings.Contains(inst.Stderr.String(), `"msg":"stopped"`) {
		t.Error("no clean stop logged")
	}

	// Restart on the same files: the license survives and still validates
	// (same master key, so the same signing secret), and no second demo
	// customer appears.
	inst2 := serve(t, env(), "--dev", "--db", db)
	if demoKeyRE.MatchString(inst2.Stdout.String()) {
		t.Error("a second demo key was printed on restart")
	}
	c.BaseURL = inst2.URL
	v := c.Do(t, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": l["license_key"], "end_customer_id": "restart@example.com"}).JSON(t)
	if v["code"] != "VALID" {
		t.Fatalf("after restart: %v", v)
	}
}

func TestWrongMasterKeyFailsClearly(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	k1 := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	k2 := "HwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	inst := serve(t, env("QUANTUMLOCK_MASTER_KEY", k1), "--db", db)
	inst.stop()
	var errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, env("QUANTUMLOCK_MASTER_KEY", k2), nil, io.Discard, &errb)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "master key") {
		t.Fatalf("wrong master key: err = %v", err)
	}

	// --dev on that database makes no key file: one could not match, and
	// every later --dev run would load it and fail.
	err = run(context.Background(), []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--db", db}, env(), nil, io.Discard, &errb)
	if err == nil || !strings.Contains(err.Error(), "--master-key-file") {
		t.Fatalf("--dev on a database of another key: err = %v", err)
	}
	devKey := filepath.Join(filepath.Dir(db), "q.masterkey")
	if _, err := os.Stat(devKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--dev made a key file for a database of another key: %v", err)
	}
	// A key file there is never removed, even one that does not match.
	if err := os.WriteFile(devKey, []byte(k2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--db", db}, env(), nil, io.Discard, &errb); err == nil {
		t.Fatal("--dev with a key file of another key succeeded")
	}
	if _, err := os.Stat(devKey); err != nil {
		t.Errorf("--dev removed a key file: %v", err)
	}

	// The right key still works: nothing was lost.
	serve(t, env("QUANTUMLOCK_MASTER_KEY", k1), "--db", db)
}

func TestCLI(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	inst := serve(t, env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), "--db", db)

	// customers create while the server runs, flags and environment twin.
	var created struct {
		ID, Name, Email, Plan string
		APIKey                string `json:"api_key"`
		CreatedAt             string `json:"created_at"`
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"customers", "create", "--name", "ACME Corp", "--email", "admin@acme.example", "--plan", "startup", "--requests-per-minute", "5000"},
		env("QUANTUMLOCK_DB", db), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &created); err != nil {
		t.Fatalf("customers create output: %v: %s", err, out.String())
	}
	if !regexp.MustCompile(`^cust_[0-9a-f]{12}$`).MatchString(created.ID) || created.Plan != "startup" || !demoKeyRE.MatchString(created.APIKey) || created.CreatedAt == "" {
		t.Fatalf("created %+v", created)
	}
	c := &apitest.Client{BaseURL: inst.URL, APIKey: created.APIKey}
	r := c.Do(t, "GET", "/api/v1/customers/me", nil)
	if r.Header.Get("X-RateLimit-Limit") != "5000" {
		t.Errorf("override not applied: %s", r.Header.Get("X-RateLimit-Limit"))
	}

	var list []map[string]any
	json.Unmarshal(cli(t, "customers", "list", "--db", db), &list)
	if len(list) != 1 || list[0]["id"] != created.ID || list[0]["licenses_per_month"] != 10000.0 {
		t.Fatalf("customers list %v", list)
	}
	if strings.Contains(string(cli(t, "customers", "list", "--db", db)), created.APIKey) {
		t.Error("customers list shows an API key")
	}

	var upd map[string]any
	json.Unmarshal(cli(t, "customers", "update", created.ID, "--plan", "business", "--licenses-per-month", "0", "--db", db), &upd)
	if upd["plan"] != "business" || upd["licenses_per_month"] != nil {
		t.Fatalf("update %v", upd)
	}
	st := c.Do(t, "GET", "/api/v1/customers/stats", nil).JSON(t)
	if st["plan"] != "business" || st["max_licenses_month"] != nil {
		t.Errorf("stats after update %v", st)
	}
	// "plan" removes an override: the business plan's limits apply again.
	json.Unmarshal(cli(t, "customers", "update", created.ID, "--licenses-per-month", "plan", "--requests-per-minute", "plan", "--db", db), &upd)
	if upd["licenses_per_month"] != 100000.0 || upd["requests_per_minute"] != 1000.0 {
		t.Fatalf("update back to the plan's limits %v", upd)
	}

	var key struct {
		ID, CustomerID, APIKey string
	}
	b := cli(t, "apikeys", "create", "--customer", created.ID, "--db", db)
	json.Unmarshal(b, &key)
	var keyOut map[string]any
	json.Unmarshal(b, &keyOut)
	if keyOut["customer_id"] != created.ID || !demoKeyRE.MatchString(keyOut["api_key"].(string)) {
		t.Fatalf("apikeys create %s", b)
	}
	c2 := &apitest.Client{BaseURL: inst.URL, APIKey: keyOut["api_key"].(string)}
	// Twice, so the server's authentication cache holds the key when the
	// CLI revokes it.
	for range 2 {
		if r := c2.Do(t, "GET", "/api/v1/customers/me", nil); r.Status != 200 {
			t.Fatalf("second key: %d", r.Status)
		}
	}
	var keys []map[string]any
	json.Unmarshal(cli(t, "apikeys", "list", "--customer", created.ID, "--db", db), &keys)
	if len(keys) != 2 || keys[0]["api_key"] != nil {
		t.Fatalf("apikeys list %v", keys)
	}
	cli(t, "apikeys", "revoke", keyOut["id"].(string), "--db", db)
	if r := c2.Do(t, "GET", "/api/v1/customers/me", nil); r.Status != 401 {
		t.Fatalf("revoked key (revoked by another process) answered %d", r.Status)
	}
	if r := c.Do(t, "GET", "/api/v1/customers/me", nil); r.Status != 200 {
		t.Fatalf("first key after revoking the second: %d", r.Status)
	}

	for _, bad := range [][]string{
		{"customers", "create", "--name", "x", "--email", "not-an-email", "--db", db},
		{"customers", "create", "--name", "x", "--email", "a@b.example", "--plan", "gold", "--db", db},
		{"customers", "update", "cust_000000000000", "--plan", "free", "--db", db},
		{"customers", "update", created.ID, "--requests-per-minute", "0", "--db", db},
		{"apikeys", "create", "--db", db},
		{"apikeys", "revoke", "ak_000000000000", "--db", db},
		{"apikeys", "revoke", keyOut["id"].(string), "ak_000000000000", "--db", db},
		{"customers", "create", "--name", "x", "--email", "a@b.example", "--colour", "red", "--db", db},
		{"customers", "create", "--name", "ACME", "Corp", "--email", "a@b.example", "--db", db},
		{"customers", "list", "everyone", "--db", db},
		{"apikeys", "list", "--customer", created.ID, "--db", db, "extra"},
		{"customers", "frobnicate"},
		{"version", "--db", db},
		{"serve", "--qubits", "0"},
		{"nonsense"},
		{},
	} {
		// main prints the error as the one line on stderr (SPEC §2):
		// run itself must print nothing there, and the flag package
		// none of its usage text.
		var out, errb bytes.Buffer
		err := run(context.Background(), bad, env(), nil, &out, &errb)
		if err == nil {
			t.Errorf("quantumlock %s succeeded", strings.Join(bad, " "))
		} else if msg := err.Error(); strings.Contains(msg, "\n") || errb.Len() > 0 || out.Len() > 0 {
			t.Errorf("quantumlock %s: error %q, stdout %q, stderr %q", strings.Join(bad, " "), msg, out.String(), errb.String())
		}
	}
	if err := run(context.Background(), []string{"serve", "--qubits", "21"}, env(), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--qubits") {
		t.Errorf("serve --qubits 21: %v", err)
	}
	if err := run(context.Background(), []string{"serve", "--qubits", "0"}, env(), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--qubits") {
		t.Errorf("serve --qubits 0: %v", err)
	}
	var help, errb bytes.Buffer
	if err := run(context.Background(), []string{"customers", "create", "-h"}, env(), nil, &help, &errb); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(help.String(), "-licenses-per-month") || errb.Len() > 0 {
		t.Errorf("customers create -h: %v, stdout %q, stderr %q", err, help.String(), errb.String())
	}
	// A command that takes an argument says so.
	for args, want := range map[string]string{
		"customers update -h": "usage: quantumlock customers update CUSTOMER_ID [flags]",
		"apikeys revoke -h":   "usage: quantumlock apikeys revoke KEY_ID [flags]",
	} {
		help.Reset()
		if err := run(context.Background(), strings.Fields(args), env(), nil, &help, &errb); !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(help.String(), want+"\n") {
			t.Errorf("%s: %v, stdout %q", args, err, help.String())
		}
	}
	// serve's usage names each flag's kind and default, and nothing
	// else: its flags' values are their own again by the time it prints.
	help.Reset()
	if err := run(context.Background(), []string{"serve", "-h"}, env(), nil, &help, &errb); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(help.String(), "-shutdown-timeout duration") || !strings.Contains(help.String(), "(default 15s)") ||
		!strings.Contains(help.String(), "-qubits int") || strings.Contains(help.String(), "panic") || errb.Len() > 0 {
		t.Errorf("serve -h: %v, stdout %q, stderr %q", err, help.String(), errb.String())
	}
	// The usage text says to run "quantumlock <command> -h".
	for _, args := range [][]string{{"customers", "-h"}, {"apikeys", "--help"}, {"customers", "help"}} {
		help.Reset()
		if err := run(context.Background(), args, env(), nil, &help, &errb); err != nil || !strings.Contains(help.String(), "create|list|") || errb.Len() > 0 {
			t.Errorf("%s: %v, stdout %q, stderr %q", strings.Join(args, " "), err, help.String(), errb.String())
		}
	}

	var v map[string]string
	json.Unmarshal(cli(t, "version"), &v)
	if v["version"] == "" {
		t.Error("version printed nothing")
	}
}

func TestEnvTwins(t *testing.T) {
	t.Parallel()
	if envName("master-key-file") != "QUANTUMLOCK_MASTER_KEY_FILE" || envName("db") != "QUANTUMLOCK_DB" {
		t.Fatal(envName("master-key-file"))
	}
	// A flag given on the command line wins over its twin.
	dir := t.TempDir()
	flagDB, envDB := filepath.Join(dir, "flag.db"), filepath.Join(dir, "env.db")
	create := []string{"customers", "create", "--name", "a", "--email", "a@example.com"}
	if err := run(context.Background(), append(create, "--db", flagDB), env("QUANTUMLOCK_DB", envDB), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(flagDB); err != nil {
		t.Fatal("flag did not win over the environment")
	}
	if _, err := os.Stat(envDB); err == nil {
		t.Fatal("the environment's database was opened too")
	}
	// Without the flag, the twin is used.
	if err := run(context.Background(), create, env("QUANTUMLOCK_DB", envDB), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(envDB); err != nil {
		t.Fatal("QUANTUMLOCK_DB was not used")
	}
	// Only customers create makes a database; the other commands need one
	// and name the path they looked at, so a mistyped --db is no empty
	// database.
	missing := filepath.Join(dir, "typo.db")
	for _, cmd := range [][]string{{"customers", "list"}, {"customers", "update", "cust_x", "--plan", "free"}, {"apikeys", "list", "--customer", "cust_x"}, {"apikeys", "revoke", "key_x"}} {
		err := run(context.Background(), append(cmd, "--db", missing), env(), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "no database at "+missing) {
			t.Fatalf("%v on a missing database: %v", cmd, err)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a command other than customers create made a database")
	}
	// A create that fails leaves no database, and no note.
	var note bytes.Buffer
	bad := []string{"customers", "create", "--name", "a", "--email", "not-an-address", "--db", missing}
	if err := run(context.Background(), bad, env(), nil, io.Discard, &note); err == nil || note.Len() != 0 {
		t.Fatalf("a failing create: %v, stderr %q", err, note.String())
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a failing create left a database")
	}
	if err := run(context.Background(), append(create, "--db", filepath.Join(dir, "nodir", "x.db")), env(), nil, io.Discard, &note); err == nil || note.Len() != 0 {
		t.Fatalf("a create in a missing directory: %v, stderr %q", err, note.String())
	}
	if err := run(context.Background(), append(create, "--db", missing), env(), nil, io.Discard, &note); err != nil || !strings.Contains(note.String(), "created a new database") {
		t.Fatalf("customers create on a new path: %v, stderr %q", err, note.String())
	}
	var errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db")},
		env("QUANTUMLOCK_SHUTDOWN_TIMEOUT", "soon"), nil, io.Discard, &errb)
	if err == nil || !strings.Contains(err.Error(), `QUANTUMLOCK_SHUTDOWN_TIMEOUT: invalid value "soon"`) {
		t.Fatalf("bad twin value: %v", err)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	inst := serve(t, env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), "--db", filepath.Join(t.TempDir(), "q.db"))
	// A slow upload: the request is in flight when shutdown starts.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", inst.URL+"/api/v1/licenses/validate", pr)
	req.Header.Set("X-API-Key", "ql_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	got := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	pw.Write([]byte(`{"license_key":`))
	time.Sleep(100 * time.Millisecond) // let the server start reading
	stopped := make(chan error, 1)
	go func() { stopped <- inst.stop() }()
	time.Sleep(100 * time.Millisecond)
	pw.Write([]byte(`"QLOCK-0000-0000-0000","end_customer_id":"x"}`))
	pw.Close()
	if status := <-got; status != 401 {
		t.Fatalf("in-flight request got %d, want its answer (401)", status)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(inst.URL + "/health"); err == nil {
		t.Fatal("server still accepting after shutdown")
	}
}

// --max-connections caps the connections served at once: one past the cap
// waits, unanswered, until a connection has been idle for a second, which
// is then closed to make room; a bad value is refused.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	inst := serve(t, env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
		"--db", filepath.Join(t.TempDir(), "q.db"), "--max-connections", "2")
	// serve's health check may have left a kept-alive connection.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	addr := strings.TrimPrefix(inst.URL, "http://")
	// health sends one request on c and reports whether an answer came
	// within wait.
	health := func(c net.Conn, wait time.Duration) bool {
		t.Helper()
		c.SetDeadline(time.Now().Add(wait))
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 12)
		_, err := io.ReadFull(c, buf)
		if err == nil && string(buf) != "HTTP/1.1 200" {
			t.Fatalf("answer %q", buf)
		}
		return err == nil
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	if !health(a, 10*time.Second) {
		t.Fatal("the first connection was not served")
	}
	// The server counts a connection idle once it has written the answer,
	// which may be after the client read it: a pause, so that a is idle
	// first in the usual case (the check below takes either).
	time.Sleep(100 * time.Millisecond)
	if !health(b, 10*time.Second) {
		t.Fatal("the second connection was not served")
	}
	c := dial() // accepted, but held without a slot: not served
	if health(c, 300*time.Millisecond) {
		t.Fatal("a third connection was served past --max-connections 2 while the others were in their grace")
	}
	// Once the longest idle (a, unless the server marked b idle first:
	// internal/connlimit's own tests check the order) has been idle for a
	// second, it is closed to make room, and only it.
	buf := make([]byte, 12)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Fatalf("the waiting connection once another was idle: %q, %v", buf, err)
	}
	closed := 0
	for _, idle := range []net.Conn{a, b} {
		// Closed by now: the rest of its answer, then EOF. Open: no EOF.
		idle.SetDeadline(time.Now().Add(time.Second))
		switch _, err := io.ReadAll(idle); {
		case err == nil:
			closed++
		case !errors.Is(err, os.ErrDeadlineExceeded):
			t.Fatalf("an idle connection: %v", err)
		}
	}
	if closed != 1 {
		t.Fatalf("%d of the two idle connections closed to make room for one; want 1", closed)
	}

	for _, flag := range []string{"--max-connections", "--max-keys"} {
		err := run(context.Background(), []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db"), flag, "0"},
			env(), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Fatalf("%s 0: %v", flag, err)
		}
	}
}

// A --db that is no database leaves no new master key file behind under
// --dev, a database named like its key file is refused, and a missing key
// file's error names its flag.
func TestServeBadPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serveErr := func(args ...string) error {
		return run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), env(), nil, io.Discard, io.Discard)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := serveErr("--dev", "--db", sub); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("--db a directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub.masterkey")); err == nil {
		t.Fatal("a master key file was made for a database that did not open")
	}
	if err := serveErr("--dev", "--db", filepath.Join(dir, "k.masterkey")); err == nil || !strings.Contains(err.Error(), ".masterkey") {
		t.Fatalf("--db named like the key file: %v", err)
	}
	if err := serveErr("--master-key-file", filepath.Join(dir, "missing"), "--db", filepath.Join(dir, "q.db")); err == nil || !strings.Contains(err.Error(), "--master-key-file") {
		t.Fatalf("a missing key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "q.db")); err == nil {
		t.Fatal("a database was made for a server without its master key")
	}
	// Nor for one whose other flags are wrong: the addresses and the
	// QRNG URL are checked, and the addresses taken, before the database
	// is touched, so a typo leaves no new file bound to the key given.
	const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	for _, tc := range []struct {
		flag, value, says string
		more              []string
	}{
		{"--addr", "nope", "--addr", nil},
		{"--addr", busy.Addr().String(), "--addr", nil},
		{"--metrics-addr", "nope", "--metrics-addr", nil},
		{"--qrng-url", "http://example.com/qrng", "https", nil},
		// Both listeners on one port: the operator listener, opened
		// first, takes it, and the clash is named as the two flags'.
		{"--metrics-addr", freeAddr, "--addr and --metrics-addr name the same port", []string{"--addr", freeAddr}},
	} {
		db := filepath.Join(dir, "typo.db")
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, tc.flag, tc.value}, tc.more...)
		err := run(context.Background(), args, env("QUANTUMLOCK_MASTER_KEY", key), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "entropy: entropy:") {
			t.Errorf("%s %s: %v", tc.flag, tc.value, err)
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("%s %s: a database was made for a server that did not start", tc.flag, tc.value)
		}
	}
	// The same port on an address this machine does not have: the
	// address is at fault, not the port the operator listener holds.
	_, port, _ := net.SplitHostPort(freeAddr)
	err = run(context.Background(), []string{"serve", "--db", filepath.Join(dir, "typo.db"), "--metrics-addr", freeAddr, "--addr", "192.0.2.1:" + port},
		env("QUANTUMLOCK_MASTER_KEY", key), nil, io.Discard, io.Discard)
	if err == nil || strings.Contains(err.Error(), "same port") || !strings.HasPrefix(err.Error(), "--addr: ") {
		t.Errorf("--addr on an address not this machine's, beside --metrics-addr on its port: %v", err)
	}
	// A flag's value from its environment twin is named by it.
	err = run(context.Background(), []string{"serve", "--db", filepath.Join(dir, "typo.db")},
		env("QUANTUMLOCK_MASTER_KEY", key, "QUANTUMLOCK_ADDR", "nope"), nil, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "QUANTUMLOCK_ADDR: ") {
		t.Errorf("QUANTUMLOCK_ADDR=nope: %v", err)
	}
}

// One server per database file: a second serve on a file another server
// has open is refused at once, saying why, since per-minute request counts
// are each process's own and two servers would let every customer through
// twice. The admin commands still work beside the server, and once the
// first server stops, another may start.
func TestSecondServerRefused(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	getenv := env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	first := serve(t, getenv, "--db", db)
	// A second server that started would serve until ctx ends, and then
	// return nil.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, getenv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "another quantumlock server has this database open") {
		t.Fatalf("a second server on the database: %v", err)
	}
	cli(t, "customers", "list", "--db", db)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	second := serve(t, getenv, "--db", db)
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
}

// A master key given by flag wins over one in the environment (SPEC §2:
// flags win), and --dev with a key in the environment uses that key and
// makes no key file.
func TestMasterKeySources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const fileKey, envKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo="
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte(fileKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := loadMasterKey(serveConfig{masterKeyFile: path}, env("QUANTUMLOCK_MASTER_KEY", envKey), slog.New(slog.DiscardHandler))
	if err != nil || k.String() != fileKey {
		t.Fatalf("--master-key-file beside QUANTUMLOCK_MASTER_KEY: %v, %v", k, err)
	}

	db := filepath.Join(dir, "q.db")
	for range 2 { // the second time on the database the first bound
		inst := serve(t, env("QUANTUMLOCK_MASTER_KEY", envKey), "--dev", "--db", db)
		if err := inst.stop(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(devKeyPath(db)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--dev with QUANTUMLOCK_MASTER_KEY made a key file: %v", err)
	}
	want, _ := masterkey.Parse(envKey)
	store, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if bound, err := store.BoundMasterKey(context.Background()); err != nil || bound != want.Fingerprint() {
		t.Errorf("database bound to %q (%v), want the environment's key %q", bound, err, want.Fingerprint())
	}
}
