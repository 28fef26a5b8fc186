package masterkey

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

// SPEC §2 says the master key is 32 bytes. A longer value (a 64-byte key from
// `openssl rand -base64 64`, or two unpadded keys in one file) must be
// refused, not silently truncated to its first 32 bytes.
func TestMasterKeyMustBeExactly32Bytes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{33, 48, 64} {
		if _, err := New(bytes.Repeat([]byte{7}, n)); err == nil {
			t.Errorf("New accepted %d bytes", n)
		}
		if _, err := Parse(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n))); err == nil {
			t.Errorf("Parse accepted base64 of %d bytes", n)
		}
	}
	// Two unpadded keys, one a line, in a regular file: base64 skips the
	// newline, so they decode as 64 bytes.
	k1 := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{1}, Size))
	k2 := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{2}, Size))
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(k1+"\n"+k2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := Load(path); err == nil {
		t.Errorf("Load took the first of two keys: %s", k)
	}
}
