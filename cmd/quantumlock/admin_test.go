package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

// noRandomness fails every draw, as an entropy subsystem that cannot
// answer would.
type noRandomness struct{}

func (noRandomness) Draw(context.Context, int, string) (*quantumlock.Entropy, error) {
	return nil, errors.New("no randomness")
}

// A "customers create" that fails after it made a new database (on a
// mistyped --db, say) leaves no database behind, so the next command
// does not find an empty one and answer "no customers". Not parallel:
// it sets the package's hook.
func TestFailedCreateRemovesNewDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "typo.db")
	var opened bool
	testHookAdminOpened = func(env *adminEnv) {
		if _, err := os.Stat(db); err != nil {
			t.Errorf("database not there once open: %v", err)
		}
		opened = true
		env.accounts.Rand = noRandomness{}
	}
	t.Cleanup(func() { testHookAdminOpened = nil })

	err := run(context.Background(), []string{"customers", "create", "--name", "A", "--email", "a@example.com", "--db", db},
		env(), nil, io.Discard, io.Discard)
	if err == nil || !opened {
		t.Fatalf("create: err %v, reached the open database %v", err, opened)
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		// The empty lock file stays (sqlite.RemoveUnused).
		if strings.HasPrefix(e.Name(), "typo.db") && e.Name() != "typo.db-lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	// An existing database is never removed, whatever fails.
	testHookAdminOpened = nil
	cli(t, "customers", "create", "--name", "B", "--email", "b@example.com", "--db", db)
	testHookAdminOpened = func(env *adminEnv) { env.accounts.Rand = noRandomness{} }
	if err := run(context.Background(), []string{"customers", "create", "--name", "C", "--email", "c@example.com", "--db", db},
		env(), nil, io.Discard, io.Discard); err == nil {
		t.Fatal("create succeeded with no randomness")
	}
	if out := cli(t, "customers", "list", "--db", db); !strings.Contains(string(out), "b@example.com") {
		t.Errorf("an existing database lost its customer after a failed create: %s", out)
	}
}

// The CLI prints names as typed, not with JSON's HTML escapes.
// TestCreateRefusedPathLeavesNothing gives customers create a --db that is
// no file path: refused, it makes nothing in the working directory (it made
// ".-lock" and a file named after SQLite's options). Not parallel: it
// changes directory.
func TestCreateRefusedPathLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, db := range []string{"", "q.db?mode=ro"} {
		err := run(context.Background(), []string{"customers", "create", "--name", "X", "--email", "x@example.com", "--db", db},
			env(), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "not a plain file path") {
			t.Errorf("--db %q: %v, want refused as not a plain file path", db, err)
		}
		left, _ := os.ReadDir(dir)
		for _, e := range left {
			t.Errorf("--db %q left %q behind", db, e.Name())
		}
	}
}

func TestCLIOutputNotHTMLEscaped(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	out := cli(t, "customers", "create", "--name", "Tom & Jerry <Ltd>", "--email", "t@example.com", "--db", db)
	if !strings.Contains(string(out), `"Tom & Jerry <Ltd>"`) {
		t.Errorf("customers create printed %s", out)
	}
}

// createHeldOpen starts a "customers create" on db, which does not exist,
// and returns once it has made and opened the database. It then waits for
// proceed to close, fails for want of randomness (as it would with no
// entropy, a Ctrl-C or a full disk), and sends its error on first. It sets
// the package's hook, so its callers cannot run in parallel.
func createHeldOpen(t *testing.T, db string) (proceed chan struct{}, first chan error) {
	t.Helper()
	var calls atomic.Int32
	proceed = make(chan struct{})
	testHookAdminOpened = func(env *adminEnv) {
		if calls.Add(1) == 1 { // this create; any later command goes on
			<-proceed
			env.accounts.Rand = noRandomness{}
		}
	}
	t.Cleanup(func() { testHookAdminOpened = nil })
	first = make(chan error, 1)
	go func() {
		first <- run(context.Background(), []string{"customers", "create", "--name", "First", "--email", "f@example.com", "--db", db},
			env(), nil, io.Discard, io.Discard)
	}()
	for i := 0; calls.Load() == 0; i++ {
		if i > 1000 {
			t.Fatal("the create never opened the database")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return proceed, first
}

// A "customers create" that made a new database and then fails removes
// it, but not once another command has found the new file there and
// created a customer in it, whose API key it has printed: only a database
// no one else has used is removed. Not parallel: it sets the package's
// hook.
func TestFailedCreateKeepsAnotherCommandsCustomer(t *testing.T) {
	db := filepath.Join(t.TempDir(), "q.db")
	proceed, first := createHeldOpen(t, db)
	// Meanwhile another operator's create finds the database there and succeeds.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"customers", "create", "--name", "Second", "--email", "s@example.com", "--db", db},
		env(), nil, &out, io.Discard); err != nil {
		t.Fatalf("second create: %v", err)
	}
	var second struct{ ID string }
	json.Unmarshal(out.Bytes(), &second)
	close(proceed)
	if err := <-first; err == nil {
		t.Fatal("first create succeeded with no randomness")
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the failed create removed a database another process had written (customer %s, its API key already printed): %v", second.ID, err)
	}
	var list bytes.Buffer
	if err := run(context.Background(), []string{"customers", "list", "--db", db}, env(), nil, &list, io.Discard); err != nil || !strings.Contains(list.String(), second.ID) {
		t.Fatalf("customer %s lost: %v %s", second.ID, err, list.String())
	}
}

// Nor when a server has started on the new file meanwhile: removed from
// under it, the server would go on writing to a deleted file, and lose
// everything at its restart.
func TestFailedCreateKeepsServersDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "q.db")
	proceed, first := createHeldOpen(t, db)
	serve(t, env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), "--db", db)
	close(proceed)
	<-first
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("a failed customers create removed the running server's database: %v", err)
	}
}

// A CLI write that the database refuses (here another process holds the
// write lock past the 5 s busy timeout; a read-only file or a full disk
// alike) says what went wrong, not the API's "Internal error.": the CLI's
// user is the operator.
func TestCLIStorageErrorIsDescribed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	c := struct{ ID string }{newCustomerID(t, path)}
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), `ROLLBACK`)

	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"apikeys", "create", "--customer", c.ID, "--db", path}, env(), nil, &out, &errb)
	if err == nil {
		t.Fatal("apikeys create succeeded under another process's write lock")
	}
	if msg := err.Error(); strings.Contains(msg, "Internal error") || !strings.Contains(strings.ToLower(msg), "lock") {
		t.Errorf("apikeys create failed with %q; want a message that says the database is locked", msg)
	}
}

// A master key file open to its group or others is used, but not without
// a warning in the log naming its mode; one of mode 0600 is not warned of.
func TestExposedKeyFileWarned(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("file modes say nothing of access on Windows")
	}
	dir := t.TempDir()
	for _, c := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o640, true}, {0o600, false}, {0o400, false}} {
		path := filepath.Join(dir, fmt.Sprintf("key-%04o", c.mode))
		if err := os.WriteFile(path, []byte("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), c.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, c.mode) // whatever the umask
		var log bytes.Buffer
		if _, err := loadMasterKey(serveConfig{masterKeyFile: path}, env(), slog.New(slog.NewJSONHandler(&log, nil))); err != nil {
			t.Fatal(err)
		}
		if warned := strings.Contains(log.String(), fmt.Sprintf(`"mode":"%04o"`, c.mode)); warned != c.warn {
			t.Errorf("mode %04o: warned %v, want %v: %s", c.mode, warned, c.warn, log.String())
		}
	}
}

// newCustomerID creates customer "A" in the database db with the CLI and
// returns its id.
func newCustomerID(t *testing.T, db string) string {
	t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(cli(t, "customers", "create", "--name", "A", "--email", "a@example.com", "--db", db), &c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// The admin commands' edges: a second id to customers update is an error,
// not ignored; apikeys list of an unknown customer is an error, not [];
// and a revoked key is listed with its revoked_at.
func TestCLIEdges(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	c := struct{ ID string }{newCustomerID(t, db)}
	fails := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), args, env(), nil, &out, io.Discard); err == nil || out.Len() > 0 {
			t.Errorf("%v: err %v, stdout %q", args, err, out.String())
		}
	}
	fails("customers", "update", c.ID, c.ID, "--plan", "startup", "--db", db)
	fails("apikeys", "list", "--customer", "cust_000000000000", "--db", db)

	// create shows SPEC §2's four fields; list and revoke the same five,
	// revoked_at null while the key is active, never left out.
	names := func(out []byte) string {
		t.Helper()
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return strings.Join(slices.Sorted(maps.Keys(m)), ",")
	}
	if got := names(cli(t, "apikeys", "create", "--customer", c.ID, "--db", db)); got != "api_key,created_at,customer_id,id" {
		t.Errorf("apikeys create shows %s", got)
	}
	var keys []map[string]json.RawMessage
	if err := json.Unmarshal(cli(t, "apikeys", "list", "--customer", c.ID, "--db", db), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("apikeys list: %s %v", keys, err)
	}
	var id string
	json.Unmarshal(keys[0]["id"], &id)
	for _, k := range keys {
		if got, _ := json.Marshal(k); names(got) != "created_at,customer_id,hint,id,revoked_at" || string(k["revoked_at"]) != "null" {
			t.Errorf("apikeys list shows %s", got)
		}
	}
	revoked := cli(t, "apikeys", "revoke", id, "--db", db)
	if got := names(revoked); got != "created_at,customer_id,hint,id,revoked_at" || strings.Contains(string(revoked), `"revoked_at": null`) {
		t.Errorf("apikeys revoke shows %s", revoked)
	}
	if err := json.Unmarshal(cli(t, "apikeys", "list", "--customer", c.ID, "--db", db), &keys); err != nil {
		t.Fatal(err)
	}
	var n int
	for _, k := range keys {
		if string(k["revoked_at"]) != "null" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("apikeys list after one revoke: %s", keys)
	}
}

// serve refuses a negative shutdown timeout and a QRNG timeout of 0 or
// less, naming the flag, rather than take them for something else.
func TestServeRefusesBadTimeouts(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--shutdown-timeout", "-1s"},
		{"--qrng-timeout", "0s"},
		{"--qrng-timeout", "-5s"},
	} {
		err := run(context.Background(), append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db")}, args...),
			env(), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v", args, err)
		}
	}
	// A value that does not parse says what the flag wants, from a flag
	// or from its environment twin.
	for _, tc := range []struct {
		args   []string
		getenv func(string) string
		want   string
	}{
		{[]string{"--shutdown-timeout", "5"}, env(), "want a duration such as 15s"},
		{nil, env("QUANTUMLOCK_QRNG_TIMEOUT", "10"), "want a duration such as 15s"},
		{[]string{"--qubits", "abc"}, env(), "want a whole number"},
		{nil, env("QUANTUMLOCK_QUBITS", "abc"), "want a whole number"},
		{[]string{"--dev=maybe"}, env(), "want true or false"},
	} {
		err := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db")}, tc.args...),
			tc.getenv, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want it to say %q", tc.args, err, tc.want)
		}
	}
	// A value that parses but is out of range is named where it was
	// given: the flag, or else its environment twin.
	for _, tc := range []struct {
		args   []string
		getenv func(string) string
		want   string
	}{
		{nil, env("QUANTUMLOCK_MAX_CONNECTIONS", "0"), "QUANTUMLOCK_MAX_CONNECTIONS must be at least 1"},
		{[]string{"--max-connections=0"}, env("QUANTUMLOCK_MAX_CONNECTIONS", "5"), "--max-connections must be at least 1"},
		{[]string{"-max-connections", "0"}, env(), "--max-connections must be at least 1"},
		// Another flag's value spelled like the flag is not the flag.
		{[]string{"--qrng-api-key", "max-connections"}, env("QUANTUMLOCK_MAX_CONNECTIONS", "0"), "QUANTUMLOCK_MAX_CONNECTIONS must be at least 1"},
		{nil, env("QUANTUMLOCK_LOG_LEVEL", "loud"), "QUANTUMLOCK_LOG_LEVEL: "},
		{nil, env("QUANTUMLOCK_QUBITS", "21"), "QUANTUMLOCK_QUBITS must be 1-20"},
	} {
		err := run(context.Background(), append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db")}, tc.args...),
			tc.getenv, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want it to say %q", tc.args, err, tc.want)
		}
	}
}

// loopback tells the addresses only this machine reaches from the others,
// the unspecified ones (every interface) included.
func TestLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:9090": true, "127.3.4.5:1": true, "[::1]:9090": true,
		"0.0.0.0:9090": false, "[::]:9090": false, "10.0.0.7:9090": false, "192.0.2.1:80": false,
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopback(a); got != want {
			t.Errorf("%s: loopback %v, want %v", addr, got, want)
		}
	}
}

// --dev warns of its existing key file open to others too, as of one
// given with --master-key-file.
func TestExposedDevKeyFileWarned(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("file modes say nothing of access on Windows")
	}
	db := filepath.Join(t.TempDir(), "q.db")
	if err := os.WriteFile(devKeyPath(db), []byte("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(devKeyPath(db), 0o644)
	var log bytes.Buffer
	if _, err := loadMasterKey(serveConfig{dev: true, db: db}, env(), slog.New(slog.NewJSONHandler(&log, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), `"mode":"0644"`) {
		t.Errorf("no warning: %s", log.String())
	}
}

// A domain error reaches stderr as its own sentence, as the API gives it,
// not as the error's Go form.
func TestCLIDomainErrorSentence(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	cli(t, "customers", "create", "--name", "A", "--email", "a@example.com", "--db", db)
	err := run(context.Background(), []string{"apikeys", "revoke", "ak_000000000000", "--db", db}, env(), nil, io.Discard, io.Discard)
	if err == nil || err.Error() != "API key not found." {
		t.Errorf("apikeys revoke of an unknown key: %v", err)
	}
}

// A customer created with the e-mail of another is made (customers are not
// unique by e-mail), with a note on stderr naming the other; a new e-mail
// gets none.
func TestCreateNotesSameEmail(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	first := newCustomerID(t, db)
	create := func(email string) (id, note string) {
		var out, errb bytes.Buffer
		if err := run(context.Background(), []string{"customers", "create", "--name", "N", "--email", email, "--db", db}, env(), nil, &out, &errb); err != nil {
			t.Fatal(err)
		}
		var c struct{ ID string }
		if err := json.Unmarshal(out.Bytes(), &c); err != nil || c.ID == "" {
			t.Fatalf("%v: %s", err, out.String())
		}
		return c.ID, errb.String()
	}
	cs := cli(t, "customers", "list", "--db", db)
	var list []struct{ ID, Email string }
	if err := json.Unmarshal(cs, &list); err != nil || len(list) != 1 {
		t.Fatalf("%v: %s", err, cs)
	}
	if id, note := create(strings.ToUpper(list[0].Email)); id == first || !strings.Contains(note, first+" has this e-mail too") {
		t.Errorf("a second customer with the first's e-mail: %s, note %q", id, note)
	}
	if _, note := create("someone.else@example.com"); strings.Contains(note, "e-mail too") {
		t.Errorf("a new e-mail noted: %q", note)
	}
}

// The customers commands name their flags, not the API's fields: a missing
// --name or --email is "required", and a bad value's sentence starts with
// the flag that carried it.
func TestCustomersRefusalsNameFlags(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	id := newCustomerID(t, db)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"customers", "create", "--email", "a@example.com"}, "customers create: --name is required"},
		{[]string{"customers", "create", "--name", "A"}, "customers create: --email is required"},
		{[]string{"customers", "create"}, "customers create: --name is required"},
		{[]string{"customers", "create", "--name", strings.Repeat("a", 201), "--email", "a@example.com"}, "--name must be 1-200 characters."},
		{[]string{"customers", "create", "--name", "A\x1b[2J", "--email", "a@example.com"}, "--name must be UTF-8 text without control characters."},
		{[]string{"customers", "create", "--name", "  \u3000 ", "--email", "a@example.com"}, "--name must not be blank."},
		{[]string{"customers", "create", "--name", "\u200b", "--email", "a@example.com"}, "--name must not be blank."},
		{[]string{"customers", "create", "--name", "\u3164 \u3164", "--email", "a@example.com"}, "--name must not be blank."},
		{[]string{"customers", "create", "--name", "\ufe0f\u2800\u034f\u17b5", "--email", "a@example.com"}, "--name must not be blank."},
		{[]string{"customers", "create", "--name", "A", "--email", "x"}, "--email must be a plain e-mail address."},
		{[]string{"customers", "create", "--name", "A", "--email", "a@example.com", "--licenses-per-month", "-1"}, "--licenses-per-month must be 0 (unlimited) or positive."},
		{[]string{"customers", "create", "--name", "A", "--email", "a@example.com", "--requests-per-minute", "0"}, "--requests-per-minute must be positive."},
		{[]string{"customers", "update", id, "--requests-per-minute", "0"}, "--requests-per-minute must be positive."},
		{[]string{"customers", "update", id, "--licenses-per-month", "-5"}, "--licenses-per-month must be 0 (unlimited) or positive."},
	} {
		err := run(context.Background(), append(tc.args, "--db", db), env(), nil, io.Discard, io.Discard)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
	// The API still names its fields.
	if err := (&quantumlock.Customer{Name: "A", Email: "x", Plan: quantumlock.PlanFree}).Validate(); quantumlock.ErrorMessage(err) != "email must be a plain e-mail address." {
		t.Errorf("Validate: %v", err)
	}
}

// Once serve's log is JSON lines, the reason it stops on is one too: a
// log pipeline that reads JSON keeps it.
func TestServeLogsWhyItStops(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--addr", l.Addr().String(), "--db", filepath.Join(t.TempDir(), "q.db")},
		env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), nil, io.Discard, &stderr)
	if err == nil {
		t.Fatal("serve on a port in use started")
	}
	var found bool
	for line := range strings.Lines(stderr.String()) {
		var rec struct{ Level, Msg, Error string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serve stopped on an error" {
			found = rec.Level == "ERROR" && rec.Error == oneLine(err.Error())
		}
	}
	if !found {
		t.Errorf("no JSON line with the reason %q in:\n%s", err, stderr.String())
	}
}
