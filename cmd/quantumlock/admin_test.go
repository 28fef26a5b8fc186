package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		if strings.HasPrefix(e.Name(), "typo.db") {
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
func TestCLIOutputNotHTMLEscaped(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "q.db")
	out := cli(t, "customers", "create", "--name", "Tom & Jerry <Ltd>", "--email", "t@example.com", "--db", db)
	if !strings.Contains(string(out), `"Tom & Jerry <Ltd>"`) {
		t.Errorf("customers create printed %s", out)
	}
}
