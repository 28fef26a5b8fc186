package keyring

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/quantumlock/quantumlock"
)

// keyAlg describes one key algorithm.
type keyAlg struct {
	purpose  string
	seedSize int // bytes drawn from the Randomness; 0 for RSA
	rsaBits  int // modulus size for RSA keys
}

var keyAlgs = map[string]keyAlg{
	AES256GCM:        {quantumlock.PurposeEncryption, KeySize, 0},
	ChaCha20Poly1305: {quantumlock.PurposeEncryption, KeySize, 0},
	Ed25519:          {quantumlock.PurposeSigning, ed25519.SeedSize, 0},
	MLDSA65:          {quantumlock.PurposeSigning, mldsa65.SeedSize, 0},
	Ed25519MLDSA65:   {quantumlock.PurposeSigning, ed25519.SeedSize + mldsa65.SeedSize, 0},
	RSA2048:          {quantumlock.PurposeSigning, 0, 2048},
	RSA3072:          {quantumlock.PurposeSigning, 0, 3072},
	RSA4096:          {quantumlock.PurposeSigning, 0, 4096},
}

// KeyAlgorithms lists the key algorithms CreateKey accepts.
var KeyAlgorithms = []string{AES256GCM, ChaCha20Poly1305, Ed25519, MLDSA65, Ed25519MLDSA65, RSA2048, RSA3072, RSA4096}

// CreateKeyRequest asks for a new managed key.
type CreateKeyRequest struct {
	Algorithm  string // one of KeyAlgorithms; empty means AES-256-GCM
	Exportable bool   // whether the material may ever leave the service
	Label      string // free text, at most MaxLabelLength characters
}

// KeyInfo describes a managed key. It never carries material except in Key,
// which only CreateKey, RotateKey and ExportKey fill, and only for
// exportable keys.
type KeyInfo struct {
	KeyID          string
	Algorithm      string
	Purpose        string // "encryption" or "signing"
	Version        int    // the latest, used by new operations; in an export, the exported one
	Exportable     bool
	Label          string
	CreatedAt      time.Time
	PublicKey      string           // that version's, PEM; empty for symmetric keys
	Key            string           // exported material, see docs/crypto.md; secret
	QuantumSecured bool             // that version's material came from verified quantum entropy
	Versions       []KeyVersionInfo // ascending; nil in a list's entries
}

// KeyVersionInfo describes one version of a managed key.
type KeyVersionInfo struct {
	Version        int
	CreatedAt      time.Time
	PublicKey      string
	QuantumSecured bool
}

// CreateKey makes a new managed key for the customer, version 1, its
// material drawn from the Randomness (RSA: see GenerateRSA) and sealed.
// Errors: EINVALID (algorithm, label), EUNAVAILABLE (randomness), or an
// internal store error.
func (s *Service) CreateKey(ctx context.Context, customerID string, req CreateKeyRequest) (*KeyInfo, error) {
	if err := checkCustomer(customerID); err != nil {
		return nil, err
	}
	if req.Algorithm == "" {
		req.Algorithm = DefaultKeyAlgorithm
	}
	if _, ok := keyAlgs[req.Algorithm]; !ok {
		return nil, invalid("algorithm: unknown key algorithm %q; use one of %s.", req.Algorithm, strings.Join(KeyAlgorithms, ", "))
	}
	if !utf8.ValidString(req.Label) || utf8.RuneCountInString(req.Label) > MaxLabelLength {
		return nil, invalid("label: must be valid UTF-8 of at most %d characters.", MaxLabelLength)
	}
	// As for license identifiers: a control character in a label that
	// listings show is a mistake, or an attack on whatever displays it.
	if strings.ContainsFunc(req.Label, unicode.IsControl) {
		return nil, invalid("label: must not hold control characters.")
	}
	k, material, _, err := s.createKey(ctx, customerID, req)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	return s.info(k, material)
}

// createKey makes, seals and stores a new key and returns it with its
// opened material, which the caller must clear, and whether that was drawn
// from quantum-verified entropy.
func (s *Service) createKey(ctx context.Context, customerID string, req CreateKeyRequest) (*quantumlock.Key, []byte, bool, error) {
	if keyAlgs[req.Algorithm].rsaBits != 0 {
		// The store refuses a key past the limit only once it is made,
		// and making an RSA key costs up to seconds of CPU: a customer at
		// the limit is told first. (Concurrent calls can still each make
		// one; the store refuses all but what fits.) Rotation adds no
		// key, and is not checked.
		if _, total, err := s.keys.Keys(ctx, customerID, 0, 1); err != nil {
			return nil, nil, false, err
		} else if total >= int64(s.maxKeys) {
			return nil, nil, false, quantumlock.KeyLimitError(s.maxKeys)
		}
	}
	material, public, quantum, err := s.newMaterial(ctx, customerID, req.Algorithm)
	if err != nil {
		return nil, nil, false, err
	}
	for attempt := 0; ; attempt++ {
		id, err := quantumlock.NewID(unclaimed(ctx), s.rand, "key_", 12)
		if err != nil {
			clear(material)
			return nil, nil, false, err
		}
		now := s.now().UTC()
		attrs := keyAttrs{req.Algorithm, keyAlgs[req.Algorithm].purpose, req.Exportable}
		sealed, err := s.seal(ctx, scope{kindKey, customerID, id, 1, attrs, public}, material, quantum)
		if err != nil {
			clear(material)
			return nil, nil, false, err
		}
		k := &quantumlock.Key{
			ID:         id,
			CustomerID: customerID,
			Algorithm:  req.Algorithm,
			Purpose:    attrs.purpose,
			Exportable: attrs.exportable,
			Label:      req.Label,
			CreatedAt:  now,
			Versions:   []quantumlock.KeyVersion{{Version: 1, Sealed: sealed, PublicKey: public, CreatedAt: now}},
		}
		err = s.keys.CreateKey(ctx, k, s.maxKeys)
		if err == nil {
			return k, material, quantum, nil
		}
		if quantumlock.ErrorCode(err) != quantumlock.ECONFLICT || attempt == 2 {
			clear(material)
			return nil, nil, false, err
		}
	}
}

// newMaterial makes fresh material for customerID's key of algorithm alg:
// the seed or symmetric key drawn from the Randomness, or an RSA key in
// PKCS #8. It returns the public part in keyring's stored encoding (see
// publicKey).
func (s *Service) newMaterial(ctx context.Context, customerID, alg string) (material, public []byte, quantum bool, err error) {
	a := keyAlgs[alg]
	if a.rsaBits != 0 {
		material, public, err = s.generateRSA(ctx, customerID, a.rsaBits)
		return material, public, false, err
	}
	material, quantum, err = s.draw(ctx, a.seedSize)
	if err != nil {
		return nil, nil, false, err
	}
	if a.purpose == quantumlock.PurposeSigning {
		sk, err := newSigningKey(alg, material)
		if err != nil {
			return nil, nil, false, err
		}
		public = sk.public.raw
	}
	return material, public, quantum, nil
}

// Keys returns one page of the customer's keys, oldest first: at most
// limit (1-MaxListLimit) after the first skip (0 or more), and how many
// the customer has. The entries describe each key by its latest version
// and have no Versions: a key's versions, up to MaxKeyVersions of them,
// each with its public key, are Key's to return, so that a page costs a
// bounded amount whatever the customer has rotated. Errors: EINVALID.
func (s *Service) Keys(ctx context.Context, customerID string, skip, limit int) ([]*KeyInfo, int64, error) {
	if err := checkCustomer(customerID); err != nil {
		return nil, 0, err
	}
	// Worded as the license list words them: the same query parameters.
	if skip < 0 {
		return nil, 0, invalid("skip must be 0 or more.")
	}
	if limit < 1 || limit > MaxListLimit {
		return nil, 0, invalid("limit must be between 1 and %d.", MaxListLimit)
	}
	ks, total, err := s.keys.Keys(ctx, customerID, skip, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*KeyInfo, 0, len(ks))
	for _, k := range ks {
		info, err := s.info(k, nil)
		if err != nil {
			return nil, 0, err
		}
		info.Versions = nil
		out = append(out, info)
	}
	return out, total, nil
}

// Key returns one of the customer's keys. Errors: ENOTFOUND.
func (s *Service) Key(ctx context.Context, customerID, keyID string) (*KeyInfo, error) {
	k, err := s.key(ctx, customerID, keyID)
	if err != nil {
		return nil, err
	}
	return s.info(k, nil)
}

// RotateKey adds a new version with fresh material; new operations use it,
// older versions still decrypt and verify. Errors: ENOTFOUND, EINVALID (the
// key has MaxKeyVersions), EUNAVAILABLE (randomness).
func (s *Service) RotateKey(ctx context.Context, customerID, keyID string) (*KeyInfo, error) {
	k, err := s.key(ctx, customerID, keyID)
	if err != nil {
		return nil, err
	}
	full := func() error {
		return invalid("key_id: key %s has %d versions, the most a key may have; create a new key.", k.ID, MaxKeyVersions)
	}
	if len(k.Versions) >= MaxKeyVersions {
		return nil, full()
	}
	material, public, quantum, err := s.newMaterial(ctx, customerID, k.Algorithm)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	// Concurrent rotations each take the next version; the store lets
	// one of them have it, and the others read the key again and take
	// the one after, with the same material sealed for it. Each conflict
	// means another version was added, so this ends by MaxKeyVersions;
	// the bound on attempts is for a store that would answer otherwise.
	for attempt := 0; ; attempt++ {
		v := quantumlock.KeyVersion{Version: k.Latest().Version + 1, PublicKey: public, CreatedAt: s.now().UTC()}
		v.Sealed, err = s.seal(ctx, scope{kindKey, customerID, k.ID, v.Version, attrsOf(k), public}, material, quantum)
		if err != nil {
			return nil, err
		}
		err = s.keys.AddKeyVersion(ctx, customerID, k.ID, v)
		if err == nil {
			k.Versions = append(k.Versions, v)
			return s.info(k, material)
		}
		switch quantumlock.ErrorCode(err) {
		case quantumlock.ENOTFOUND:
			return nil, errKeyNotFound()
		case quantumlock.ECONFLICT:
			if attempt == MaxKeyVersions {
				return nil, err
			}
			if k, err = s.key(ctx, customerID, keyID); err != nil {
				return nil, err
			}
			if len(k.Versions) >= MaxKeyVersions {
				return nil, full()
			}
			continue
		}
		return nil, err
	}
}

// DeleteKey removes the key and all its versions: the service can no longer
// decrypt data encrypted under it (docs/crypto.md says where its sealed
// material may remain). Errors: ENOTFOUND.
func (s *Service) DeleteKey(ctx context.Context, customerID, keyID string) error {
	if err := checkCustomer(customerID); err != nil {
		return err
	}
	if err := s.keys.DeleteKey(ctx, customerID, keyID); err != nil {
		if quantumlock.ErrorCode(err) == quantumlock.ENOTFOUND {
			return errKeyNotFound()
		}
		return err
	}
	return nil
}

// ExportKey returns the key with the material of the given version (0 means
// the latest) in Key. Errors: ENOTFOUND (key or version), EFORBIDDEN (the
// key was not created exportable), EMASTERKEY (ErrUnseal).
func (s *Service) ExportKey(ctx context.Context, customerID, keyID string, version int) (*KeyInfo, error) {
	k, err := s.key(ctx, customerID, keyID)
	if err != nil {
		return nil, err
	}
	if !k.Exportable {
		return nil, quantumlock.Errorf(quantumlock.EFORBIDDEN, "Key is not exportable.")
	}
	v, ok := k.Latest(), true
	if version != 0 {
		v, ok = keyVersion(k, version)
	}
	if !ok {
		return nil, quantumlock.Errorf(quantumlock.ENOTFOUND, "Key version not found.")
	}
	material, _, err := s.openVersion(k, v)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	info, err := s.info(k, nil)
	if err != nil {
		return nil, err
	}
	// The key's version, public key and provenance are the exported
	// version's, so that key and public_key always belong together.
	for _, vi := range info.Versions {
		if vi.Version == v.Version {
			info.Version, info.PublicKey, info.QuantumSecured = vi.Version, vi.PublicKey, vi.QuantumSecured
		}
	}
	info.Key, err = exportMaterial(k.Algorithm, material)
	return info, err
}

// key loads the customer's key, mapping every miss to one ENOTFOUND.
func (s *Service) key(ctx context.Context, customerID, keyID string) (*quantumlock.Key, error) {
	if err := checkCustomer(customerID); err != nil {
		return nil, err
	}
	if keyID == "" {
		return nil, invalid("key_id: required.")
	}
	k, err := s.keys.Key(ctx, customerID, keyID)
	if err != nil {
		if quantumlock.ErrorCode(err) == quantumlock.ENOTFOUND {
			return nil, errKeyNotFound()
		}
		return nil, err
	}
	if k.CustomerID != customerID || len(k.Versions) == 0 {
		return nil, errKeyNotFound()
	}
	if _, ok := keyAlgs[k.Algorithm]; !ok {
		return nil, fmt.Errorf("keyring: key %s has unknown algorithm %q", k.ID, k.Algorithm)
	}
	return k, nil
}

func keyVersion(k *quantumlock.Key, version int) (quantumlock.KeyVersion, bool) {
	for _, v := range k.Versions {
		if v.Version == version {
			return v, true
		}
	}
	return quantumlock.KeyVersion{}, false
}

// openVersion opens one version's material; the caller must clear it.
func (s *Service) openVersion(k *quantumlock.Key, v quantumlock.KeyVersion) ([]byte, bool, error) {
	m, quantum, err := s.open(versionScope(k, v), v.Sealed)
	if err != nil {
		return nil, false, fmt.Errorf("keyring: open key %s version %d: %w", k.ID, v.Version, err)
	}
	return m, quantum, nil
}

// versionScope is the scope v's material is sealed under.
func versionScope(k *quantumlock.Key, v quantumlock.KeyVersion) scope {
	return scope{kindKey, k.CustomerID, k.ID, v.Version, attrsOf(k), v.PublicKey}
}

// authentic checks that version v of k is as this service stored it and
// reports whether its material was drawn from quantum-verified entropy.
// What Key, Keys and Verify take from the store without otherwise opening
// the material, the provenance flag and the public key, is vouched for
// here: the material must open under the key's attributes, and its public
// key must be the stored one, bound by the seal since format 3 and derived
// from the material and compared for older versions (whose results are
// remembered, as the derivation costs up to milliseconds for RSA).
// Errors: EMASTERKEY (ErrUnseal).
func (s *Service) authentic(k *quantumlock.Key, v quantumlock.KeyVersion) (bool, error) {
	if len(v.Sealed) > 0 && v.Sealed[0] >= sealFormat3 {
		m, quantum, err := s.openVersion(k, v)
		clear(m)
		return quantum, err
	}
	sum := checkedDigest(k, v)
	if quantum, ok := s.checked.get(sum); ok {
		return quantum, nil
	}
	m, quantum, err := s.openVersion(k, v)
	if err != nil {
		return false, err
	}
	defer clear(m)
	var public []byte
	if keyAlgs[k.Algorithm].purpose == quantumlock.PurposeSigning {
		sk, err := newSigningKey(k.Algorithm, m)
		if err != nil {
			return false, fmt.Errorf("keyring: key %s version %d: %w", k.ID, v.Version, err)
		}
		public = sk.public.raw
	}
	if !bytes.Equal(public, v.PublicKey) {
		return false, fmt.Errorf("keyring: key %s version %d: stored public key is not the material's: %w", k.ID, v.Version, ErrUnseal)
	}
	s.checked.put(sum, quantum)
	return quantum, nil
}

// checkedDigest names everything authentic checks of a version sealed
// before format 3, each field length-prefixed so that no bytes can move
// from one field to another: the owner, the key's attributes, the version,
// the sealed material and the stored public key.
func checkedDigest(k *quantumlock.Key, v quantumlock.KeyVersion) [sha256.Size]byte {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	exportable := []byte{0}
	if k.Exportable {
		exportable[0] = 1
	}
	version := binary.BigEndian.AppendUint64(nil, uint64(v.Version))
	for _, f := range [][]byte{[]byte(k.CustomerID), []byte(k.ID), []byte(k.Algorithm), []byte(k.Purpose), exportable, version, v.Sealed, v.PublicKey} {
		field(f)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// maxChecked bounds the older versions whose check authentic remembers:
// two generations of at most maxChecked/2 each. When the newer fills, the
// older is dropped and a new one started, so the memory stays bounded
// (under 2 MiB) however many versions pass through, and a version in use
// stays remembered, moved into the newer generation when found in the
// older.
const maxChecked = 16384

// checkedVersions remembers the versions sealed before format 3 that
// authentic found sound, by a digest of everything it checked, with their
// provenance flag.
type checkedVersions struct {
	mu        sync.Mutex
	cur, prev map[[sha256.Size]byte]bool
}

func (c *checkedVersions) get(digest [sha256.Size]byte) (quantum, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if quantum, ok = c.cur[digest]; ok {
		return quantum, true
	}
	if quantum, ok = c.prev[digest]; ok {
		c.putLocked(digest, quantum)
	}
	return quantum, ok
}

func (c *checkedVersions) put(digest [sha256.Size]byte, quantum bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(digest, quantum)
}

func (c *checkedVersions) putLocked(digest [sha256.Size]byte, quantum bool) {
	if c.cur == nil || len(c.cur) >= maxChecked/2 {
		c.prev, c.cur = c.cur, make(map[[sha256.Size]byte]bool)
	}
	c.cur[digest] = quantum
}

// info describes k; with material (the latest version's) and an exportable
// key it fills Key.
func (s *Service) info(k *quantumlock.Key, material []byte) (*KeyInfo, error) {
	info := &KeyInfo{
		KeyID:      k.ID,
		Algorithm:  k.Algorithm,
		Purpose:    k.Purpose,
		Version:    k.Latest().Version,
		Exportable: k.Exportable,
		Label:      k.Label,
		CreatedAt:  k.CreatedAt,
	}
	for _, v := range k.Versions {
		quantum, err := s.authentic(k, v)
		if err != nil {
			return nil, err
		}
		vi := KeyVersionInfo{Version: v.Version, CreatedAt: v.CreatedAt, QuantumSecured: quantum}
		if len(v.PublicKey) > 0 {
			pub, err := storedPublicKey(k.Algorithm, v.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("keyring: key %s version %d: %w", k.ID, v.Version, err)
			}
			vi.PublicKey = pub.pem()
		}
		info.Versions = append(info.Versions, vi)
	}
	latest := info.Versions[len(info.Versions)-1]
	info.PublicKey, info.QuantumSecured = latest.PublicKey, latest.QuantumSecured
	if material != nil && k.Exportable {
		var err error
		if info.Key, err = exportMaterial(k.Algorithm, material); err != nil {
			return nil, err
		}
	}
	return info, nil
}

// exportMaterial encodes material for the Key field: base64 of the raw key
// for ciphers, PEM PKCS #8 for signature keys (two blocks, Ed25519 first,
// for the hybrid).
func exportMaterial(alg string, material []byte) (string, error) {
	if keyAlgs[alg].purpose == quantumlock.PurposeEncryption {
		return base64.StdEncoding.EncodeToString(material), nil
	}
	sk, err := newSigningKey(alg, material)
	if err != nil {
		return "", err
	}
	return sk.privatePEM()
}
