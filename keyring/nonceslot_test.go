package keyring

import (
	"context"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
)

type blockingNonces struct {
	quantumlock.NonceStore
	entered chan struct{}
	unblock chan struct{}
}

func (b *blockingNonces) ConsumeNonce(ctx context.Context, c string, n []byte, e time.Time) (bool, error) {
	b.entered <- struct{}{}
	<-b.unblock
	return b.NonceStore.ConsumeNonce(ctx, c, n, e)
}

// A verification that searched older versions gives its slot back once the
// search is over, before it records the nonce (a write that can wait on
// the store's writer).
func TestVerifySearchSlotFreedBeforeNonce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, withRSAConcurrency(1))
	bn := &blockingNonces{NonceStore: f.db, entered: make(chan struct{}), unblock: make(chan struct{})}
	f.svc.nonces = bn
	key := must[*KeyInfo](t)(f.svc.CreateKey(ctx, custA, CreateKeyRequest{Algorithm: Ed25519}))
	old := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("old"), KeyID: key.KeyID}))
	must[*KeyInfo](t)(f.svc.RotateKey(ctx, custA, key.KeyID))
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Verify(ctx, custA, VerifyRequest{Message: []byte("old"), Signature: old.Signature, QuantumNonce: old.QuantumNonce, KeyID: key.KeyID, ConsumeNonce: true})
		done <- err
	}()
	<-bn.entered
	if len(f.svc.trialGate.all) != 0 {
		t.Errorf("the search's slot is held while the nonce store is written")
	}
	close(bn.unblock)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
