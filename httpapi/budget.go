package httpapi

import "sync"

// An answer is encoded whole before it is written, so a client that reads
// it slowly holds it in the server's memory until the write timeout: a
// page of a thousand licenses is megabytes, and a few hundred connections
// that never read theirs took a server past 2 GB. Answers of
// largeResponse bytes or more therefore count against two budgets while
// they are written: their customer's, so that one customer's slow readers
// cannot take the memory every customer's answers need, and, for GETs, the
// server's, a bound on all of them. A GET (or HEAD) whose answer would
// exceed either is refused with 429 and Retry-After. No answer the API
// can give is refused for its size alone: a customer's first answer in
// flight is held to the server's budget only, and a GET answer goes,
// however large, whenever no other is in flight. Other methods' answers count against their customer's budget but
// are never refused: by the time the answer is encoded the request has
// taken effect (an encrypt without key_id has made a key), and a 429 would
// tell the client to do it again. Nor do they count against the server's:
// answers that are never refused would fill it, and one customer's
// unread POST answers would then have every other customer's GETs
// refused. What bounds them is the connection cap (README).
const (
	largeResponse          = 64 << 10
	customerResponseBudget = 64 << 20
	serverResponseBudget   = 512 << 20
)

// responseBudget counts the bytes of large answers being written, per
// customer and in all. The zero value is not usable; see
// newResponseBudget.
type responseBudget struct {
	perCustomer, all int64

	mu         sync.Mutex
	total      int64            // GET answers', against all
	byCustomer map[string]int64 // every answer's, per customer; "" for answers without a customer
}

func newResponseBudget(perCustomer, all int64) *responseBudget {
	return &responseBudget{perCustomer: perCustomer, all: all, byCustomer: map[string]int64{}}
}

// take reserves n bytes for an answer to customer and reports true, or
// reports false if that would exceed a budget. A forced answer (not a
// GET's) is never refused and counts against its customer's budget only.
func (b *responseBudget) take(customer string, n int64, force bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	mine := b.byCustomer[customer]
	if !force && ((mine > 0 && mine+n > b.perCustomer) || (b.total > 0 && b.total+n > b.all)) {
		return false
	}
	b.byCustomer[customer] = mine + n
	if !force {
		b.total += n
	}
	return true
}

// give returns n bytes taken for customer, with the force they were taken
// with.
func (b *responseBudget) give(customer string, n int64, force bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if left := b.byCustomer[customer] - n; left > 0 {
		b.byCustomer[customer] = left
	} else {
		delete(b.byCustomer, customer)
	}
	if !force {
		b.total -= n
	}
}
