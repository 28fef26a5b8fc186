package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/quantumlock/quantumlock/sqlite"
)

// backupJSON is what backup prints.
type backupJSON struct {
	DB            string  `json:"db"`
	Backup        string  `json:"backup"`
	Bytes         int64   `json:"bytes"` // of the backup (restore: of the database now)
	SchemaVersion int     `json:"schema_version"`
	Seconds       float64 `json:"seconds"`
}

// restoreJSON is what restore prints.
type restoreJSON struct {
	backupJSON
	Previous *string `json:"previous"` // where the replaced database is kept; null if there was none
}

// runBackup copies the database to a new file (sqlite.Backup), also while
// the server runs.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dbPath := fs.String("db", "quantumlock.db", "SQLite database file")
	to := fs.String("to", "", "new file to write the backup to (required; never overwritten)")
	if pos, err := parseFlags(fs, args, getenv); err != nil {
		return err
	} else if err := noArguments(fs, pos); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("backup: --to is required")
	}
	start := time.Now()
	info, err := sqlite.Backup(ctx, *dbPath, *to)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// What it was writing is removed: say so, not only
			// "context canceled".
			return fmt.Errorf("backup: interrupted; no backup was written to %s", *to)
		}
		return err
	}
	return writeJSON(stdout, backupJSON{DB: *dbPath, Backup: *to, Bytes: info.Bytes, SchemaVersion: info.SchemaVersion, Seconds: time.Since(start).Seconds()})
}

// runRestore puts a backup in place of the database (sqlite.Restore),
// which no process may have open.
func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dbPath := fs.String("db", "quantumlock.db", "SQLite database file to replace (the server must be stopped)")
	from := fs.String("from", "", "backup file to restore (required)")
	if pos, err := parseFlags(fs, args, getenv); err != nil {
		return err
	} else if err := noArguments(fs, pos); err != nil {
		return err
	}
	if *from == "" {
		return errors.New("restore: --from is required")
	}
	start := time.Now()
	info, err := sqlite.Restore(ctx, *from, *dbPath)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// A signal stops a restore only before it replaces anything
			// (see shutdownContext): the operator is told which database
			// is in place.
			return fmt.Errorf("restore: interrupted before anything was replaced; %s is as it was", *dbPath)
		}
		return err
	}
	out := restoreJSON{backupJSON: backupJSON{DB: *dbPath, Backup: *from, Bytes: info.Bytes, SchemaVersion: info.SchemaVersion, Seconds: time.Since(start).Seconds()}}
	if info.Previous != "" {
		out.Previous = &info.Previous
	}
	return writeJSON(stdout, out)
}
