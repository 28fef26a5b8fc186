package masterkey

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xfb}, Size)
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
		"  " + base64.StdEncoding.EncodeToString(raw) + "\n",
	} {
		k, err := Parse(s)
		if err != nil || k.b != [Size]byte(raw) {
			t.Errorf("Parse(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(raw[:31])} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "q.masterkey")
	k1, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	k2, created, err := LoadOrCreate(path)
	if err != nil || created || k1.String() != k2.String() {
		t.Fatalf("second: %v %v", created, err)
	}
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreate(path); err == nil {
		t.Error("a corrupt key file was replaced or accepted")
	}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	k, _ := New(bytes.Repeat([]byte{1}, Size))
	a := k.Derive("license-signing/v1", "cust_a", 64)
	if !bytes.Equal(a, k.Derive("license-signing/v1", "cust_a", 64)) {
		t.Fatal("not deterministic")
	}
	for _, other := range [][]byte{
		k.Derive("license-signing/v1", "cust_b", 64),
		k.Derive("key-sealing/v1", "cust_a", 64),
		// The separator keeps ("ab","c") and ("a","bc") apart.
		k.Derive("license-signing/v1cust_a", "", 64),
	} {
		if bytes.Equal(a, other) {
			t.Error("different purpose/context gave the same key")
		}
	}
	k2, _ := New(bytes.Repeat([]byte{2}, Size))
	if bytes.Equal(a, k2.Derive("license-signing/v1", "cust_a", 64)) || k.Fingerprint() == k2.Fingerprint() {
		t.Error("different master keys agree")
	}
	if len(Generate().String()) != 44 {
		t.Error("generated key is not 32 bytes of base64")
	}
}

// Expander derives exactly what Derive does.
func TestExpanderIsDerive(t *testing.T) {
	k, err := New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	x := k.Expander("keyring/seal/v5")
	for _, ctx := range []string{"", "salt", "\x00\x01\xff"} {
		for _, n := range []int{12, 32, 44, 100} {
			if got, want := x(ctx, n), k.Derive("keyring/seal/v5", ctx, n); !bytes.Equal(got, want) {
				t.Errorf("context %q, %d bytes: %x, want %x", ctx, n, got, want)
			}
		}
	}
	if bytes.Equal(x("a", 32), k.Expander("other")("a", 32)) {
		t.Error("two purposes gave the same subkey")
	}
}

// A key file is read only so far: one that never ends (an operator typing
// /dev/zero or /dev/urandom, a pipe left open) or is far too long is an
// error, not a read until memory runs out.
func TestLoadBounded(t *testing.T) {
	t.Parallel()
	long := filepath.Join(t.TempDir(), "long")
	if err := os.WriteFile(long, bytes.Repeat([]byte("A"), 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(long); err == nil || !strings.Contains(err.Error(), "not a master key file") {
		t.Errorf("a 5,000-byte file: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero here")
	}
	done := make(chan error, 1)
	go func() { _, err := Load("/dev/zero"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("/dev/zero was taken for a key")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load still reading /dev/zero after 10 s")
	}
}

// TestKnownAnswers pins what the key derives: every license signature and
// every sealed key in a database depends on these bytes, so a change to
// the salt, the info's layout or the fingerprint's label would make every
// existing database refuse its own key, or its licenses stop validating.
// The values were taken from this code and are never to change.
func TestKnownAnswers(t *testing.T) {
	t.Parallel()
	raw := make([]byte, Size)
	for i := range raw {
		raw[i] = byte(i)
	}
	k, err := New(raw)
	if err != nil {
		t.Fatal(err)
	}
	const (
		derived  = "7629bfdbe11f545b25d445b42ec73934e696bf3f586adf20f4dd23db6cec0700"
		expanded = "6f51fbb5b83a8a9c3b50fe76896e93c62945e2c70a25a011ee5a37b61a1707d9"
	)
	if got := hex.EncodeToString(k.Derive("license-signing/v1", "cust_000000000001", 32)); got != derived {
		t.Errorf("Derive = %s, want %s", got, derived)
	}
	if got := hex.EncodeToString(k.Expander("key-encryption/v1")("cust_000000000001", 32)); got != expanded {
		t.Errorf("Expander = %s, want %s", got, expanded)
	}
	if got := k.Fingerprint(); got != "DEwd2Yf-mOk2oW9U" {
		t.Errorf("Fingerprint = %s", got)
	}
}

// Two --dev servers may start together on databases that share a key file
// (q.db and q.sqlite both keep q.masterkey): every LoadOrCreate racing on
// a new path gets the one key that ends up in the file, and exactly one
// reports making it.
func TestLoadOrCreateRace(t *testing.T) {
	t.Parallel()
	for range 5 {
		path := filepath.Join(t.TempDir(), "q.masterkey")
		const n = 8
		keys := make([]string, n)
		made := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				k, created, err := LoadOrCreate(path)
				if err != nil {
					t.Error(err)
					return
				}
				keys[i], made[i] = k.String(), created
			})
		}
		wg.Wait()
		onFile, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		creators := 0
		for i := range n {
			if keys[i] != onFile.String() {
				t.Errorf("caller %d got another key than the file's", i)
			}
			if made[i] {
				creators++
			}
		}
		if creators != 1 {
			t.Errorf("%d callers report making the file", creators)
		}
		// Nothing else is left: no second name for the key.
		if left, _ := os.ReadDir(filepath.Dir(path)); len(left) != 1 {
			t.Errorf("beside the key file: %v", left)
		}
	}
}

// A key wrapped over lines still loads: reading stops at a line's end only
// once what has come is a whole key.
func TestLoadWrappedKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("AAECAwQFBgcICQoLDA0O\nDxAREhMUFRYXGBkaGxwdHh8=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := Load(path)
	if err != nil || k.String() != "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" {
		t.Fatalf("Load = %v, %v", k, err)
	}
}

// A regular file holding more than a key, a second key (appended to rotate,
// say) or a key and more text, is refused, not taken for its first line.
func TestLoadRefusesMoreThanAKey(t *testing.T) {
	t.Parallel()
	const key, key2 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo="
	for name, b := range map[string][]byte{
		"two keys":             []byte(key + "\n" + key2 + "\n"),
		"key then 5,000 bytes": append([]byte(key+"\n"), bytes.Repeat([]byte("A"), 5000)...),
		"key then a word":      []byte(key + "\nrotate\n"),
	} {
		path := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := Load(path)
		if err == nil {
			t.Errorf("%s: Load took %s", name, k)
			continue
		}
		// Said as what it is, not as a bad character (the 5,000 bytes
		// are refused by size first).
		if name != "key then 5,000 bytes" && !strings.Contains(err.Error(), "holds more than a key") {
			t.Errorf("%s: %v; want it to say the file holds more than one key", name, err)
		}
	}
}
