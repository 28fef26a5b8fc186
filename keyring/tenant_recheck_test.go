package keyring

import (
	"context"
	"testing"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/sqlite"
)

// leakyKeys is a key store whose Key ignores the customer, as a store with
// a missing tenant filter would (a new engine, a refactored query).
type leakyKeys struct{ *sqlite.DB }

func (l leakyKeys) Key(ctx context.Context, _ string, id string) (*quantumlock.Key, error) {
	for _, c := range []string{custA, custB, custC} {
		if k, err := l.DB.Key(ctx, c, id); err == nil {
			return k, nil
		}
	}
	return nil, quantumlock.Errorf(quantumlock.ENOTFOUND, "Key not found.")
}

// SPEC §3 says another customer's key is reported exactly as a
// missing one. The keyring re-checks the owner the store returns, so a
// store that forgets its tenant filter still leaks nothing; without the
// re-check customer B could use A's key, since the seal is opened under the
// key's own (A's) scope.
func TestKeyOwnerRecheckedAfterStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	leaky := f.service(t, f.db, f.mk, func(c *Config) { c.Keys = leakyKeys{f.db} })
	k := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Exportable: true}))

	_, err := leaky.Key(ctx, custB, k.KeyID)
	wantCode(t, err, quantumlock.ENOTFOUND)
	_, err = leaky.Encrypt(ctx, custB, EncryptRequest{KeyID: k.KeyID, Plaintext: []byte("x")})
	wantCode(t, err, quantumlock.ENOTFOUND)
	_, err = leaky.ExportKey(ctx, custB, k.KeyID, 0)
	wantCode(t, err, quantumlock.ENOTFOUND)
}
