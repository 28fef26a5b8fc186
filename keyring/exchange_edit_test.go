package keyring

import (
	"context"
	"database/sql"
	"testing"
)

// An exchange session's seal binds its id, customer and share but
// not its algorithm (attrs are zero for exchanges), so a writer of the
// database can relabel a session. The private value's size check is then all that stands
// between the edited row and a slice-bounds panic in the final step.
func TestExchangeAlgorithmEditIsAnErrorNotAPanic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a := must[*ExchangeResponse](t)(f.svc.KeyExchange(ctx, custA, ExchangeRequest{Algorithm: X25519}))

	raw, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE exchange_sessions SET algorithm = ? WHERE id = ?`, MLKEM768, a.SessionID); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("final step on an edited session panicked: %v", r)
		}
	}()
	resp, err := f.svc.KeyExchange(ctx, custA, ExchangeRequest{SessionID: a.SessionID, PeerPublicKey: make([]byte, MLKEM768CiphertextSize)})
	if err == nil {
		t.Fatalf("final step on an edited session succeeded: %+v", resp)
	}
}
