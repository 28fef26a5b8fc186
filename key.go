package quantumlock

import (
	"context"
	"time"
)

// Key purposes.
const (
	PurposeEncryption = "encryption"
	PurposeSigning    = "signing"
)

// Key is a managed key: one customer's, versioned, its material sealed at
// rest. Versions are numbered from 1; the highest is the one new operations
// use, older ones still decrypt and verify.
type Key struct {
	ID         string // "key_" + 24 lowercase hex
	CustomerID string
	Algorithm  string
	Purpose    string
	Exportable bool
	Label      string
	CreatedAt  time.Time
	Versions   []KeyVersion // ascending by Version, never empty
}

// Latest returns the key's newest version.
func (k *Key) Latest() KeyVersion { return k.Versions[len(k.Versions)-1] }

// KeyVersion is one version of a managed key.
type KeyVersion struct {
	Version   int
	Sealed    []byte // private or secret material, sealed; opaque to stores
	PublicKey []byte // public part for asymmetric keys (encoding is keyring's), nil otherwise
	CreatedAt time.Time
}

// KeyLimitError is the EFORBIDDEN of a customer who already has max keys,
// the most it may have.
func KeyLimitError(max int) error {
	return Errorf(EFORBIDDEN, "A customer may have at most %d keys; delete one to make another.", max)
}

// KeyStore persists managed keys. Every method is scoped to a customer;
// another customer's key is exactly "not found".
type KeyStore interface {
	// CreateKey inserts k with its versions. ECONFLICT if the id exists;
	// EFORBIDDEN if the customer already has max keys (0: no limit),
	// counted in the insert's own transaction, so that concurrent calls
	// cannot pass the limit together.
	CreateKey(ctx context.Context, k *Key, max int) error
	// Key returns the customer's key with every version, or ENOTFOUND.
	Key(ctx context.Context, customerID, id string) (*Key, error)
	// Keys returns one page of the customer's keys, oldest first: at most
	// limit of them after the first skip, each with its latest version
	// only, and how many keys the customer has in all.
	Keys(ctx context.Context, customerID string, skip, limit int) ([]*Key, int64, error)
	// AddKeyVersion appends v to the customer's key. v.Version must be one
	// more than the latest, else ECONFLICT (a concurrent rotation won).
	// ENOTFOUND if there is no such key.
	AddKeyVersion(ctx context.Context, customerID, id string, v KeyVersion) error
	// DeleteKey removes the key and all its versions, or ENOTFOUND.
	DeleteKey(ctx context.Context, customerID, id string) error
}

// NonceStore remembers signature nonces for replay protection.
type NonceStore interface {
	// ConsumeNonce records nonce for the customer and reports whether it
	// was new. Of any number of concurrent calls with the same nonce,
	// exactly one reports true. Records may be forgotten after expiresAt.
	ConsumeNonce(ctx context.Context, customerID string, nonce []byte, expiresAt time.Time) (bool, error)
}

// ExchangeSession is the initiator's half of a key exchange (SPEC §8).
type ExchangeSession struct {
	ID            string // "kx_" + 24 lowercase hex
	CustomerID    string // the initiating customer
	Algorithm     string
	KeyBits       int
	PublicKey     []byte // the initiator's public value
	Sealed        []byte // the initiator's private value, sealed
	PeerPublicKey []byte // set once when a peer completes against PublicKey
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// ExchangeStore persists key-exchange sessions.
type ExchangeStore interface {
	// CreateExchangeSession inserts s. ECONFLICT if the id exists.
	CreateExchangeSession(ctx context.Context, s *ExchangeSession) error
	// SetExchangePeer records peer as the answer to the unexpired session
	// whose public key is publicKey, if no answer is recorded yet and
	// keyBits is zero or the session's, and reports whether it did. It
	// returns the session's key bits whenever there is such a session,
	// answered or not (zero when there is none): a responder answering
	// again, or after another answer, must derive with the bits the
	// initiator will. That is all it reads back: the peer may be another
	// customer.
	SetExchangePeer(ctx context.Context, publicKey, peer []byte, keyBits int, now time.Time) (bits int, recorded bool, err error)
	// DeleteExpiredExchangeSessions deletes every session expired at now,
	// sealed private value and all. CreateExchangeSession does it too.
	DeleteExpiredExchangeSessions(ctx context.Context, now time.Time) error
	// ExchangeSession returns, without removing it, the session
	// TakeExchangeSession would take, or ENOTFOUND: the final step checks
	// its request against the session before it takes it, so that a
	// mistaken request never has the session out of the store.
	ExchangeSession(ctx context.Context, customerID, id string, peer []byte, now time.Time) (*ExchangeSession, error)
	// TakeExchangeSession removes and returns the customer's unexpired
	// session with the given id, or when id is empty the one whose recorded
	// peer is peer. Of concurrent calls for one session exactly one gets it;
	// the others, and any miss, get ENOTFOUND.
	TakeExchangeSession(ctx context.Context, customerID, id string, peer []byte, now time.Time) (*ExchangeSession, error)
}

// Store is everything the service persists, plus its lifecycle.
type Store interface {
	CustomerStore
	APIKeyStore
	LicenseStore
	KeyStore
	NonceStore
	ExchangeStore
	// BindMasterKey records fingerprint as the master key this store's
	// sealed data belongs to, on first use, and returns EMASTERKEY if a
	// different one is already recorded, so a wrong key fails at start-up
	// instead of corrupting or losing data.
	BindMasterKey(ctx context.Context, fingerprint string) error
	// BoundMasterKey returns the fingerprint BindMasterKey recorded, or
	// "" before the first.
	BoundMasterKey(ctx context.Context) (string, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
