package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

// codeError is an error that tells an SQLite result code, as the driver's
// do.
type codeError int

func (e codeError) Error() string { return fmt.Sprintf("sqlite error (%d)", int(e)) }
func (e codeError) Code() int     { return int(e) }

// The errors of Open whose SQLite words point elsewhere say what to check;
// every other error is left as it is, and the code stays in the chain.
func TestOpenHint(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for code, want := range map[int]string{
		sqlite3.SQLITE_IOERR_SHMSIZE:      "disk full",
		sqlite3.SQLITE_IOERR_SHMOPEN:      "disk full",
		sqlite3.SQLITE_IOERR_SHMMAP:       "disk full",
		sqlite3.SQLITE_READONLY_CANTINIT:  "disk full",
		sqlite3.SQLITE_READONLY_DIRECTORY: "directory holding",
	} {
		err := openHint(path, fmt.Errorf("sqlite: read schema: %w", codeError(code)))
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) || resultCode(err) != code {
			t.Errorf("code %d: %v", code, err)
		}
	}
	// A file this process can write, refused for another reason, gets no
	// guess; nor does a busy database.
	for _, code := range []int{sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_CORRUPT} {
		in := fmt.Errorf("sqlite: open: %w", codeError(code))
		if err := openHint(path, in); !errors.Is(err, in) || err.Error() != in.Error() {
			t.Errorf("code %d: %v", code, err)
		}
	}
	// One it may not write says so (root may write any).
	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro.db")
		if err := os.WriteFile(ro, nil, 0o400); err != nil {
			t.Fatal(err)
		}
		if err := openHint(ro, codeError(sqlite3.SQLITE_CANTOPEN)); !strings.Contains(err.Error(), "not writable") {
			t.Errorf("a read-only file: %v", err)
		}
	}
}

// An open whose context has ended makes nothing, not even an empty file.
func TestOpenCancelledMakesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if db, err := Open(ctx, path); err == nil {
		db.Close()
		t.Fatal("Open with an ended context succeeded")
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("Open with an ended context made the database file")
	}
}

// A write whose context ends between its statements and the commit fails
// with the context's error, not database/sql's bare ErrTxDone, so that the
// API can tell a client gone from a fault.
func TestWriteCanceledBeforeCommitNamesContext(t *testing.T) {
	t.Parallel()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	err = db.write(ctx, func(tx *sql.Tx) error {
		cancel()
		// database/sql rolls the transaction back once it sees the end.
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("write = %v, want context.Canceled", err)
	}
}
