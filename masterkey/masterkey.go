// Package masterkey loads the service's 32-byte master key and derives
// purpose-bound subkeys from it with HKDF-SHA-256 (RFC 5869).
//
// The master key must stay secret: it seals every managed key and derives
// every customer's license-signing secret. Nothing derived from it is ever
// logged.
package masterkey

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Size is the master key's length in bytes.
const Size = 32

// Key is a master key.
type Key struct{ b [Size]byte }

// New returns a master key made of b, which must be Size bytes.
func New(b []byte) (*Key, error) {
	if len(b) != Size {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", Size, len(b))
	}
	k := &Key{}
	copy(k.b[:], b)
	return k, nil
}

// Parse decodes a base64 (standard or URL alphabet, padded or not) master
// key, as given in QUANTUMLOCK_MASTER_KEY or a key file. Surrounding
// whitespace is ignored.
func Parse(s string) (*Key, error) {
	s = string(bytes.TrimSpace([]byte(s)))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return New(b)
		}
	}
	return nil, errors.New("master key is not valid base64")
}

// maxFile bounds what Load reads: a key is 44 characters of base64, and a
// path that never ends (a device, a pipe left open) must not be read until
// memory runs out.
const maxFile = 4 << 10

// Load reads a master key from the file at path (base64 text).
func Load(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := io.LimitReader(f, maxFile+1)
	var b []byte
	chunk := make([]byte, 512)
	for {
		n, err := r.Read(chunk)
		b = append(b, chunk[:n]...)
		if len(b) > maxFile {
			return nil, fmt.Errorf("%s: more than %d bytes, not a master key file", path, maxFile)
		}
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		// A pipe left open after a key (--master-key-file <(...)) sends
		// no end of file: from anything but a regular file, what has
		// arrived is taken as soon as it is a whole key (a key wrapped
		// over lines reads on). A regular file is read to its end, so
		// that one holding more than a key is refused.
		if n > 0 && !fi.Mode().IsRegular() && ended(b) {
			if k, err := Parse(string(b)); err == nil {
				return k, nil
			}
		}
	}
	k, err := Parse(string(b))
	if err != nil {
		// A file appended to (>> for >) holds a key on its first line and
		// more after it: say so, rather than send the operator looking for
		// a bad character.
		if first, _, ok := bytes.Cut(bytes.TrimSpace(b), []byte("\n")); ok {
			if _, ferr := Parse(string(first)); ferr == nil {
				return nil, fmt.Errorf("%s: holds more than a key: a whole key on its first line, and more after it (a key file holds one key)", path)
			}
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ended reports whether the base64 text b can have no more to it: it ends
// its line (or any white space), or its padding, which comes only at the
// end, so a key written without a newline (printf %s) is taken too. Where
// neither, more may be on its way: the first 44 characters of a 64-byte
// key decode to 32 bytes, and must not be taken for a key.
func ended(b []byte) bool {
	t := bytes.TrimRight(b, " \t\r\n")
	return len(t) < len(b) || bytes.HasSuffix(t, []byte("="))
}

// Generate makes a new random master key with the OS CSPRNG. The master key
// comes from the OS alone, not from the entropy subsystem, because it must
// exist before that subsystem starts.
func Generate() *Key {
	k := &Key{}
	rand.Read(k.b[:])
	return k
}

// LoadOrCreate loads the key at path, or when no file is there creates one
// with a new key, mode 0600, and reports that it did. The file appears
// whole or not at all (written beside it, then hard-linked into place, which
// fails if a file is there): of callers racing on a new path, one makes it
// and the others load that one's key, never a half-written file.
func LoadOrCreate(path string) (k *Key, created bool, err error) {
	k, err = Load(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, false, err
	}
	k = Generate()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(dir, ".masterkey-*") // mode 0600
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(k.String() + "\n"); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if err := tmp.Close(); err != nil {
		return nil, false, err
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
		// The new name lasts a power loss only once the directory
		// holding it is on disk too (where a directory can be synced).
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
		return k, true, nil
	case errors.Is(err, fs.ErrExist):
		// Another caller made it first: its key is the key.
		k, err := Load(path)
		return k, false, err
	default:
		// A file system without hard links: create it in place instead,
		// exclusively, as the one caller that may.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, err
		}
		if _, err := f.WriteString(k.String() + "\n"); err != nil {
			f.Close()
			return nil, false, err
		}
		return k, true, f.Close()
	}
}

// String returns the key in standard base64. It is the secret itself: never
// log it.
func (k *Key) String() string { return base64.StdEncoding.EncodeToString(k.b[:]) }

// Derive returns an n-byte subkey for purpose (a fixed label such as
// "license-signing/v1") and context (such as a customer id). Different
// purpose/context pairs give independent keys.
func (k *Key) Derive(purpose, context string, n int) []byte {
	info := purpose + "\x00" + context
	out, err := hkdf.Key(sha256.New, k.b[:], []byte("quantumlock master key v1"), info, n)
	if err != nil {
		// Only an n beyond 255*32 fails; callers ask for small fixed sizes.
		panic("masterkey: " + err.Error())
	}
	return out
}

// Expander returns a function that gives what Derive(purpose, context, n)
// gives, with HKDF's extract step done once, here: for a caller deriving a
// subkey per use under one purpose. What it holds is as secret as the key.
func (k *Key) Expander(purpose string) func(context string, n int) []byte {
	prk, err := hkdf.Extract(sha256.New, k.b[:], []byte("quantumlock master key v1"))
	if err != nil {
		panic("masterkey: " + err.Error())
	}
	return func(context string, n int) []byte {
		out, err := hkdf.Expand(sha256.New, prk, purpose+"\x00"+context, n)
		if err != nil {
			// Only an n beyond 255*32 fails; callers ask for small fixed sizes.
			panic("masterkey: " + err.Error())
		}
		return out
	}
}

// Fingerprint returns a short public identifier of the key (a derived value,
// not the key), so a store can tell whether it was sealed under this key.
func (k *Key) Fingerprint() string {
	return base64.RawURLEncoding.EncodeToString(k.Derive("fingerprint/v1", "", 12))
}
