package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumlock/quantumlock/internal/apitest"
)

// A backup taken while the server runs, restored once it has stopped,
// brings back the licenses issued before the backup, still valid, and
// not those issued after it.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	backup := filepath.Join(dir, "q.backup")
	key := env("QUANTUMLOCK_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	inst := serve(t, key, "--db", db)
	var created struct {
		APIKey string `json:"api_key"`
	}
	json.Unmarshal(cli(t, "customers", "create", "--name", "ACME", "--email", "a@acme.example", "--db", db), &created)
	c := &apitest.Client{BaseURL: inst.URL, APIKey: created.APIKey}
	generate := func() string {
		r := c.Do(t, "POST", "/api/v1/licenses/generate", `{"end_customer_id":"e1"}`)
		if r.Status != 201 {
			t.Fatalf("generate: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["license_key"].(string)
	}
	before := generate()

	var out struct {
		DB            string
		Backup        string
		Bytes         int64
		SchemaVersion int `json:"schema_version"`
		Previous      *string
	}
	if err := json.Unmarshal(cli(t, "backup", "--db", db, "--to", backup), &out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(backup); err != nil || out.Bytes != fi.Size() || out.SchemaVersion < 1 || out.Backup != backup {
		t.Fatalf("backup printed %+v; file %v, %v", out, fi, err)
	}
	after := generate()

	// Not while the server has the database open, and never onto a file.
	for _, args := range [][]string{
		{"restore", "--db", db, "--from", backup},
		{"backup", "--db", db, "--to", backup},
		{"backup", "--db", db},
		{"restore", "--db", db},
	} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, env(), nil, io.Discard, &stderr); err == nil {
			t.Errorf("quantumlock %s: no error", strings.Join(args, " "))
		}
	}
	if err := inst.stop(); err != nil {
		t.Fatal(err)
	}

	out.Previous = nil
	if err := json.Unmarshal(cli(t, "restore", "--db", db, "--from", backup), &out); err != nil {
		t.Fatal(err)
	}
	if out.Previous == nil || !strings.HasPrefix(*out.Previous, db+".before-restore-") {
		t.Fatalf("restore printed previous %v", out.Previous)
	}
	c.BaseURL = serve(t, key, "--db", db).URL
	validate := func(license string) string {
		return c.Do(t, "POST", "/api/v1/licenses/validate", map[string]any{"license_key": license, "end_customer_id": "e1"}).JSON(t)["code"].(string)
	}
	if got := validate(before); got != "VALID" {
		t.Errorf("license issued before the backup, after the restore: %s", got)
	}
	if got := validate(after); got != "NOT_FOUND" {
		t.Errorf("license issued after the backup, after the restore: %s", got)
	}
}

// An interrupted backup or restore says what it left: no backup written;
// the database as it was.
func TestBackupRestoreInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	cli(t, "customers", "create", "--name", "ACME", "--email", "a@acme.example", "--db", db)
	backup := filepath.Join(dir, "q.backup")
	cli(t, "backup", "--db", db, "--to", backup)
	before, _ := os.ReadFile(db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--db", db, "--to", filepath.Join(dir, "b2")}, "backup: interrupted; no backup was written to " + filepath.Join(dir, "b2")},
		{[]string{"restore", "--db", db, "--from", backup}, "restore: interrupted before anything was replaced; " + db + " is as it was"},
	} {
		err := run(ctx, tc.args, env(), nil, io.Discard, io.Discard)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v; want %q", tc.args, err, tc.want)
		}
	}
	if after, _ := os.ReadFile(db); string(after) != string(before) {
		t.Error("the database changed")
	}
	if _, err := os.Lstat(filepath.Join(dir, "b2")); err == nil {
		t.Error("a backup was written")
	}
}
