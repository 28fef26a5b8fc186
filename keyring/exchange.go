package keyring

import (
	"context"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlock/quantumlock"
)

// Key-exchange algorithms.
const (
	X25519MLKEM768 = "X25519MLKEM768"
	X25519         = "X25519"
	MLKEM768       = "ML-KEM-768"
)

// ExchangeAlgorithms lists the algorithms KeyExchange accepts.
var ExchangeAlgorithms = []string{X25519MLKEM768, X25519, MLKEM768}

// Sizes of the key-exchange values. The initiator's public value is its
// share; the responder's is its X25519 key, its ML-KEM ciphertext, or both.
// The hybrid lays them out as draft-ietf-tls-ecdhe-mlkem does, ML-KEM part
// first.
const (
	X25519PublicSize         = 32
	MLKEM768EncapsulationKey = mlkem.EncapsulationKeySize768
	MLKEM768CiphertextSize   = mlkem.CiphertextSize768
	HybridInitiatorShareSize = MLKEM768EncapsulationKey + X25519PublicSize
	HybridResponderShareSize = MLKEM768CiphertextSize + X25519PublicSize
)

// ExchangeRequest is one step of the key exchange (SPEC §8):
//
//  1. A initiates: no PeerPublicKey, no SessionID.
//  2. A hands its PublicKey to B out of band.
//  3. B completes: PeerPublicKey is A's public key. B gets its own public
//     value and the shared secret.
//  4. A completes: PeerPublicKey is B's public value, and/or SessionID is
//     A's session. A gets the same shared secret.
//
// A call with only PeerPublicKey is step 4 when that value is the recorded
// answer to one of the caller's open sessions, and step 3 otherwise.
type ExchangeRequest struct {
	PeerPublicKey []byte
	SessionID     string
	Algorithm     string // empty: from the session or the peer's value, else X25519MLKEM768
	KeyBits       int    // 128, 192 or 256; 0: the session's, else 256
}

// ExchangeResponse is the result of one step. SharedSecret is nil when
// initiating. It is secret.
type ExchangeResponse struct {
	SessionID    string
	PublicKey    []byte // the caller's own public value
	SharedSecret []byte
	Algorithm    string
	KeyBits      int
	ExpiresAt    time.Time // set when initiating
}

// KeyExchange performs one step of the key exchange; see ExchangeRequest.
// The initiator's private value is sealed in its session, which expires
// after SessionTTL and is consumed by the final step; only the initiating
// customer can take it. Both parties get HKDF-SHA-256 of the raw secret,
// KeyBits/8 bytes long, bound to the algorithm, KeyBits and both public
// values (docs/crypto.md). Errors: EINVALID (algorithm, key_bits,
// peer_public_key), ENOTFOUND (no open session of the caller's matches),
// EUNAVAILABLE (randomness), EMASTERKEY (ErrUnseal).
func (s *Service) KeyExchange(ctx context.Context, customerID string, req ExchangeRequest) (*ExchangeResponse, error) {
	if err := checkCustomer(customerID); err != nil {
		return nil, err
	}
	if req.Algorithm != "" && !isExchangeAlgorithm(req.Algorithm) {
		return nil, invalid("algorithm: unknown key-exchange algorithm %q; use one of %s.", req.Algorithm, strings.Join(ExchangeAlgorithms, ", "))
	}
	if req.KeyBits != 0 && req.KeyBits != 128 && req.KeyBits != 192 && req.KeyBits != 256 {
		return nil, invalid("key_bits: must be 128, 192 or 256, got %d.", req.KeyBits)
	}
	if len(req.PeerPublicKey) > HybridInitiatorShareSize {
		return nil, invalid("peer_public_key: longer than any public value (%d bytes).", HybridInitiatorShareSize)
	}
	now := s.now()
	switch {
	case req.SessionID == "" && len(req.PeerPublicKey) == 0:
		return s.initiate(ctx, customerID, req, now)
	case req.SessionID != "":
		sess, err := s.exchanges.ExchangeSession(ctx, customerID, req.SessionID, nil, now)
		if err != nil {
			s.sweep(ctx, err, now)
			return nil, sessionErr(err)
		}
		return s.finish(ctx, sess, req, now)
	}
	sess, err := s.exchanges.ExchangeSession(ctx, customerID, "", req.PeerPublicKey, now)
	switch {
	case err == nil:
		return s.finish(ctx, sess, req, now)
	case quantumlock.ErrorCode(err) != quantumlock.ENOTFOUND:
		return nil, err
	}
	// Step 3, or a final step by the peer's value alone too late.
	s.sweep(ctx, err, now)
	return s.respond(ctx, req, now)
}

// sweep deletes the sessions expired at now when a step found none of its
// own (err ENOTFOUND): a late final step deletes its session, sealed
// private value and all, rather than leave it for whoever initiates next.
// A sweep that fails leaves them for the next; the step's answer stands.
func (s *Service) sweep(ctx context.Context, err error, now time.Time) {
	if quantumlock.ErrorCode(err) == quantumlock.ENOTFOUND {
		s.exchanges.DeleteExpiredExchangeSessions(ctx, now)
	}
}

func isExchangeAlgorithm(alg string) bool {
	return alg == X25519MLKEM768 || alg == X25519 || alg == MLKEM768
}

func sessionErr(err error) error {
	if quantumlock.ErrorCode(err) == quantumlock.ENOTFOUND {
		return quantumlock.Errorf(quantumlock.ENOTFOUND, "Key-exchange session not found or expired.")
	}
	return err
}

// exchangePrivateSize is the size of the initiator's sealed private value:
// the X25519 scalar, the ML-KEM-768 seed d‖z (FIPS 203), or both, ML-KEM
// first.
func exchangePrivateSize(alg string) int {
	switch alg {
	case X25519:
		return 32
	case MLKEM768:
		return mlkem.SeedSize
	}
	return mlkem.SeedSize + 32
}

// initiatorShare computes the initiator's public value from its private
// value.
func initiatorShare(alg string, private []byte) ([]byte, error) {
	var share []byte
	if alg != X25519 {
		dk, err := mlkem.NewDecapsulationKey768(private[:mlkem.SeedSize])
		if err != nil {
			return nil, err
		}
		share = append(share, dk.EncapsulationKey().Bytes()...)
		private = private[mlkem.SeedSize:]
	}
	if alg != MLKEM768 {
		k, err := ecdh.X25519().NewPrivateKey(private)
		if err != nil {
			return nil, err
		}
		share = append(share, k.PublicKey().Bytes()...)
	}
	return share, nil
}

func (s *Service) initiate(ctx context.Context, customerID string, req ExchangeRequest, now time.Time) (*ExchangeResponse, error) {
	if req.Algorithm == "" {
		req.Algorithm = DefaultExchangeAlgorithm
	}
	if req.KeyBits == 0 {
		req.KeyBits = 256
	}
	private, _, err := s.draw(unclaimed(ctx), exchangePrivateSize(req.Algorithm))
	if err != nil {
		return nil, err
	}
	defer clear(private)
	share, err := initiatorShare(req.Algorithm, private)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		id, err := quantumlock.NewID(unclaimed(ctx), s.rand, "kx_", 12)
		if err != nil {
			return nil, err
		}
		sealed, err := s.seal(ctx, scope{kindExchange, customerID, id, 0, exchangeAttrs(req.Algorithm, req.KeyBits), share}, private, false)
		if err != nil {
			return nil, err
		}
		sess := &quantumlock.ExchangeSession{
			ID:         id,
			CustomerID: customerID,
			Algorithm:  req.Algorithm,
			KeyBits:    req.KeyBits,
			PublicKey:  share,
			Sealed:     sealed,
			CreatedAt:  now.UTC(),
			ExpiresAt:  now.Add(SessionTTL).UTC(),
		}
		err = s.exchanges.CreateExchangeSession(ctx, sess)
		if err == nil {
			return &ExchangeResponse{
				SessionID: id,
				PublicKey: share,
				Algorithm: req.Algorithm,
				KeyBits:   req.KeyBits,
				ExpiresAt: sess.ExpiresAt,
			}, nil
		}
		if quantumlock.ErrorCode(err) != quantumlock.ECONFLICT || attempt == 2 {
			return nil, err
		}
	}
}

// respond is step 3: answer an initiator's share, returning our own public
// value and the secret, and record our value on the initiator's session if
// it is one of this service's.
func (s *Service) respond(ctx context.Context, req ExchangeRequest, now time.Time) (*ExchangeResponse, error) {
	peer := req.PeerPublicKey
	alg := req.Algorithm
	if alg == "" {
		switch len(peer) {
		case X25519PublicSize:
			alg = X25519
		case MLKEM768EncapsulationKey:
			alg = MLKEM768
		case HybridInitiatorShareSize:
			alg = X25519MLKEM768
		case MLKEM768CiphertextSize, HybridResponderShareSize:
			return nil, sessionErr(quantumlock.Errorf(quantumlock.ENOTFOUND, ""))
		default:
			return nil, invalid("peer_public_key: %d bytes is not a key-exchange public value.", len(peer))
		}
	}
	if want := initiatorShareSize(alg); len(peer) != want {
		if len(peer) == responderShareSize(alg) && alg != X25519 {
			// A responder's value that answers none of the caller's sessions.
			return nil, sessionErr(quantumlock.Errorf(quantumlock.ENOTFOUND, ""))
		}
		return nil, invalid("peer_public_key: a %s public key is %d bytes, got %d.", alg, want, len(peer))
	}
	bits := req.KeyBits
	if bits == 0 {
		bits = 256
	}
	var share, raw []byte
	if alg != X25519 {
		ek, err := mlkem.NewEncapsulationKey768(peer[:MLKEM768EncapsulationKey])
		if err != nil {
			return nil, invalid("peer_public_key: not a valid ML-KEM-768 encapsulation key.")
		}
		// Encapsulation randomness comes from the OS CSPRNG; crypto/mlkem
		// takes no other source.
		ss, ct := ek.Encapsulate()
		share, raw = append(share, ct...), append(raw, ss...)
	}
	if alg != MLKEM768 {
		ours, _, err := s.draw(unclaimed(ctx), 32)
		if err != nil {
			return nil, err
		}
		k, err := ecdh.X25519().NewPrivateKey(ours)
		clear(ours)
		if err != nil {
			return nil, err
		}
		theirs, err := ecdh.X25519().NewPublicKey(peer[len(peer)-X25519PublicSize:])
		if err != nil {
			return nil, invalid("peer_public_key: not a valid X25519 public key.")
		}
		ss, err := k.ECDH(theirs)
		if err != nil {
			return nil, invalid("peer_public_key: X25519 public key of low order.")
		}
		share, raw = append(share, k.PublicKey().Bytes()...), append(raw, ss...)
	}
	defer clear(raw)
	id, err := quantumlock.NewID(unclaimed(ctx), s.rand, "kx_", 12)
	if err != nil {
		return nil, err
	}
	// On this service's own session the answer takes the key bits the
	// initiator chose when the request names none, also when the session
	// has its answer already (this one is a retry, or another answered
	// first): the initiator derives with them whichever answer it
	// finishes with. One that names others is not recorded as the
	// session's answer, so the initiator's finish by our value alone
	// cannot find it (docs/crypto.md says what each algorithm then does).
	if sessBits, _, err := s.exchanges.SetExchangePeer(ctx, peer, share, req.KeyBits, now); err != nil {
		return nil, err
	} else if req.KeyBits == 0 && sessBits != 0 {
		bits = sessBits
	}
	return &ExchangeResponse{
		SessionID:    id,
		PublicKey:    share,
		SharedSecret: deriveSecret(alg, bits, peer, share, raw),
		Algorithm:    alg,
		KeyBits:      bits,
	}, nil
}

func initiatorShareSize(alg string) int {
	switch alg {
	case X25519:
		return X25519PublicSize
	case MLKEM768:
		return MLKEM768EncapsulationKey
	}
	return HybridInitiatorShareSize
}

func responderShareSize(alg string) int {
	switch alg {
	case X25519:
		return X25519PublicSize
	case MLKEM768:
		return MLKEM768CiphertextSize
	}
	return HybridResponderShareSize
}

// finish is step 4 on sess, read from the store and still there. The
// request is checked against it, and the secret computed, before the
// session is taken: a request at fault leaves it in place, so a client's
// mistake neither burns it nor hides it, for a moment, from a responder
// recording its answer or from a correct final step.
func (s *Service) finish(ctx context.Context, sess *quantumlock.ExchangeSession, req ExchangeRequest, now time.Time) (*ExchangeResponse, error) {
	// The final step needs the peer's value from the caller. The answer
	// recorded on the session only finds the session: anyone who saw the
	// initiator's public value can answer first, so trusting the recorded
	// value would let a third party take the peer's place.
	peer := req.PeerPublicKey
	var reqErr error
	switch {
	case req.Algorithm != "" && req.Algorithm != sess.Algorithm:
		reqErr = invalid("algorithm: session %s uses %s.", sess.ID, sess.Algorithm)
	case req.KeyBits != 0 && req.KeyBits != sess.KeyBits:
		reqErr = invalid("key_bits: session %s was initiated with %d.", sess.ID, sess.KeyBits)
	case len(peer) == 0:
		reqErr = invalid("peer_public_key: required to finish session %s; send the public value your peer received, with or without session_id.", sess.ID)
	case len(peer) != responderShareSize(sess.Algorithm):
		reqErr = invalid("peer_public_key: a %s answer is %d bytes, got %d.", sess.Algorithm, responderShareSize(sess.Algorithm), len(peer))
	}
	if reqErr != nil {
		return nil, reqErr
	}
	// An X25519 value of low order shows only in the computation.
	raw, err := s.rawSecret(sess, peer)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	// Single use: of concurrent final steps, the one that takes it answers;
	// the others find it gone, as after it.
	if _, err := s.exchanges.TakeExchangeSession(ctx, sess.CustomerID, sess.ID, nil, now); err != nil {
		return nil, sessionErr(err)
	}
	return &ExchangeResponse{
		SessionID:    sess.ID,
		PublicKey:    sess.PublicKey,
		SharedSecret: deriveSecret(sess.Algorithm, sess.KeyBits, sess.PublicKey, peer, raw),
		Algorithm:    sess.Algorithm,
		KeyBits:      sess.KeyBits,
	}, nil
}

// exchangeAttrs are the attributes an exchange session's seal binds: its
// algorithm and, in the purpose's place, its key_bits. A writer of the
// database who relabels a session (another algorithm, fewer bits) makes
// its private value no longer open.
func exchangeAttrs(algorithm string, keyBits int) keyAttrs {
	return keyAttrs{algorithm: algorithm, purpose: "key_bits=" + strconv.Itoa(keyBits)}
}

// rawSecret computes the initiator's raw secret of sess with the
// responder's value peer, of the right size. A peer value the computation
// rejects is EINVALID.
func (s *Service) rawSecret(sess *quantumlock.ExchangeSession, peer []byte) ([]byte, error) {
	sc := scope{kindExchange, sess.CustomerID, sess.ID, 0, exchangeAttrs(sess.Algorithm, sess.KeyBits), sess.PublicKey}
	private, _, err := s.open(sc, sess.Sealed)
	if errors.Is(err, ErrUnseal) {
		// A session sealed before its algorithm and key_bits were bound,
		// with empty attributes: one begun by an older binary at most
		// SessionTTL before this one started. A session sealed with them
		// never opens this way, so an edited row still fails.
		sc.attrs = keyAttrs{}
		private, _, err = s.open(sc, sess.Sealed)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: open exchange session %s: %w", sess.ID, err)
	}
	defer clear(private)
	if len(private) != exchangePrivateSize(sess.Algorithm) {
		return nil, fmt.Errorf("keyring: exchange session %s: bad private value", sess.ID)
	}
	var raw []byte
	if sess.Algorithm != X25519 {
		dk, err := mlkem.NewDecapsulationKey768(private[:mlkem.SeedSize])
		if err != nil {
			return nil, err
		}
		// Decapsulation never fails on a well-sized ciphertext (FIPS 203
		// implicit rejection): a tampered one yields an unrelated secret.
		ss, err := dk.Decapsulate(peer[:MLKEM768CiphertextSize])
		if err != nil {
			return nil, invalid("peer_public_key: not a valid ML-KEM-768 ciphertext.")
		}
		raw = append(raw, ss...)
		private = private[mlkem.SeedSize:]
	}
	if sess.Algorithm != MLKEM768 {
		k, err := ecdh.X25519().NewPrivateKey(private)
		if err != nil {
			return nil, err
		}
		theirs, err := ecdh.X25519().NewPublicKey(peer[len(peer)-X25519PublicSize:])
		if err != nil {
			return nil, invalid("peer_public_key: not a valid X25519 public key.")
		}
		ss, err := k.ECDH(theirs)
		if err != nil {
			clear(raw)
			return nil, invalid("peer_public_key: X25519 public key of low order.")
		}
		raw = append(raw, ss...)
	}
	return raw, nil
}

// exchangeLabel starts the HKDF info of every derived secret.
const exchangeLabel = "QuantumLock key exchange v1"

// deriveSecret returns HKDF-SHA-256 (RFC 5869) of raw, no salt, bits/8
// bytes, with info
//
//	"QuantumLock key exchange v1" 0x00 algorithm 0x00 uint16(bits)
//	uint32(len(initiator)) initiator uint32(len(responder)) responder
//
// (integers big endian). raw is the X25519 secret, the ML-KEM shared key,
// or for the hybrid the ML-KEM key followed by the X25519 secret, as in
// draft-ietf-tls-ecdhe-mlkem. Binding both public values means a party
// that swapped either one gets a different secret.
func deriveSecret(alg string, bits int, initiator, responder, raw []byte) []byte {
	info := make([]byte, 0, len(exchangeLabel)+len(alg)+12+len(initiator)+len(responder))
	info = append(info, exchangeLabel...)
	info = append(info, 0)
	info = append(info, alg...)
	info = append(info, 0)
	info = binary.BigEndian.AppendUint16(info, uint16(bits))
	info = binary.BigEndian.AppendUint32(info, uint32(len(initiator)))
	info = append(info, initiator...)
	info = binary.BigEndian.AppendUint32(info, uint32(len(responder)))
	info = append(info, responder...)
	out, err := hkdf.Key(sha256.New, raw, nil, string(info), bits/8)
	if err != nil {
		panic("keyring: " + err.Error()) // only for lengths beyond 255*32
	}
	return out
}
