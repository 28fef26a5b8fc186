package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// One store at a time may claim a database for serving, whichever process
// and whichever store opened it; Close gives the claim up, and a claim
// does not stop the file from being opened beside it.
func TestClaimServing(t *testing.T) {
	t.Parallel()
	if !fileLocking {
		t.Skip("no file locks on this system")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.ClaimServing(); err != nil {
		t.Fatal(err)
	}
	if err := a.ClaimServing(); err != nil {
		t.Fatalf("a second claim by the same store: %v", err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("opening a served database beside its server: %v", err)
	}
	defer b.Close()
	if err := b.ClaimServing(); !errors.Is(err, ErrServedElsewhere) {
		t.Fatalf("a second store's claim: %v", err)
	}
	if _, err := os.Stat(path + "-serve"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.ClaimServing(); err != nil {
		t.Fatalf("a claim once the server closed: %v", err)
	}
}
