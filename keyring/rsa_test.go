package keyring

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/internal/entropytest"
)

func TestGenerateRSA(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Verified quantum randomness, to check RSA keys still do not claim it.
	f := newFixture(t, withRandomness(entropytest.Quantum{}))
	sizes := []int{0, 2048}
	if !testing.Short() {
		sizes = append(sizes, 4096)
	}
	for _, bits := range sizes {
		exportable := bits != 2048
		key, err := f.svc.GenerateRSA(ctx, custA, GenerateRSARequest{Bits: bits, Exportable: exportable})
		if err != nil {
			t.Fatal(err)
		}
		want := bits
		if want == 0 {
			want = DefaultRSABits
		}
		if key.Bits != want || key.QuantumSecured || !keyIDPattern.MatchString(key.KeyID) {
			t.Fatalf("key %+v", key)
		}
		block, rest := pem.Decode([]byte(key.PublicKey))
		if block == nil || block.Type != "PUBLIC KEY" || len(rest) != 0 {
			t.Fatalf("public key %q", key.PublicKey)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil || pub.(*rsa.PublicKey).N.BitLen() != want {
			t.Fatalf("public key: %v", err)
		}
		if !exportable {
			if key.PrivateKey != "" {
				t.Fatal("private key of a non-exportable key returned")
			}
		} else {
			block, _ := pem.Decode([]byte(key.PrivateKey))
			if block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("private key %q", key.PrivateKey)
			}
			priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil || !priv.(*rsa.PrivateKey).PublicKey.Equal(pub) {
				t.Fatalf("private key does not match: %v", err)
			}
		}
		info := must[*KeyInfo](t)(f.svc.Key(ctx, custA, key.KeyID))
		if info.Algorithm != fmt.Sprintf("RSA-%d", want) || info.Purpose != quantumlock.PurposeSigning || info.QuantumSecured {
			t.Fatalf("managed key %+v", info)
		}
		sig := must[*SignResponse](t)(f.svc.Sign(ctx, custA, SignRequest{Message: []byte("m"), KeyID: key.KeyID}))
		if sig.Algorithm != SHA3512RSA || !plainVerify(t, SHA3512RSA, key.PublicKey, sig.QuantumNonce, []byte("m"), sig.Signature) {
			t.Fatalf("RSA-%d signature does not verify", want)
		}
	}
	for _, bits := range []int{1024, 3000, 8192, -1} {
		_, err := f.svc.GenerateRSA(ctx, custA, GenerateRSARequest{Bits: bits})
		wantCode(t, err, quantumlock.EINVALID)
	}
}

// TestGenerateRSABound checks that a generation waiting for a slot gives up
// when its context ends, and makes no key.
func TestGenerateRSABound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withRSAConcurrency(1))
	if cap(f.svc.rsaGate.all) != 1 {
		t.Fatalf("bound %d, want 1", cap(f.svc.rsaGate.all))
	}
	f.svc.rsaGate.all <- struct{}{} // a generation in progress
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := f.svc.GenerateRSA(ctx, custA, GenerateRSARequest{Bits: 2048})
		done <- err
	}()
	// Cancelled only once the call waits in the gate: cancelled at once,
	// it failed earlier (counting the customer's keys) and never tried
	// the gate's own handling of a cancelled wait.
	for waiting := false; !waiting; time.Sleep(time.Millisecond) {
		f.svc.rsaGate.mu.Lock()
		waiting = f.svc.rsaGate.mine[custA] != nil
		f.svc.rsaGate.mu.Unlock()
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("GenerateRSA = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled call still waits in the gate")
	}
	if keys, total, err := f.svc.Keys(context.Background(), custA, 0, DefaultListLimit); err != nil || total != 0 || len(keys) != 0 {
		t.Fatalf("a key was made: %v of %d, %v", keys, total, err)
	}
	<-f.svc.rsaGate.all
	if _, err := f.svc.GenerateRSA(context.Background(), custA, GenerateRSARequest{Bits: 2048}); err != nil {
		t.Fatalf("after the slot freed: %v", err)
	}
}

func BenchmarkGenerateRSA3072(b *testing.B) {
	f := newFixture(b)
	for b.Loop() {
		if _, err := f.svc.GenerateRSA(context.Background(), custA, GenerateRSARequest{Bits: 3072}); err != nil {
			b.Fatal(err)
		}
	}
}
