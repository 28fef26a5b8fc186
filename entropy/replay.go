package entropy

import (
	"hash/maphash"
	"slices"
)

// Sizes of the remote's replay guard: it fingerprints every ReplayBlock
// bytes of an answer (a shorter tail included, when at least
// minReplayBlock long) and remembers the fingerprints of its last
// replayMemory blocks, 64 answers of MaxFetch bytes.
const (
	ReplayBlock    = 32
	minReplayBlock = 16
	replayMemory   = 64 * MaxFetch / ReplayBlock
)

// replays refuses a remote answer that repeats bytes the remote sent
// before: a stuck cache or upstream, or a proxy replaying an answer. The
// health tests see one byte at a time and pass such bytes, which look
// random, every time; but bytes said to be quantum are each used once.
// Blocks are fingerprinted from the start of each answer, so an answer
// sent again, whole or cut short, is caught, and so is one that repeats a
// block within itself; a replay shifted by a few bytes is not. 32 random
// bytes never repeat, so an alarm means a fault. Not safe for concurrent
// use: the fetcher alone feeds it.
type replays struct {
	seed  maphash.Seed
	seen  map[uint64]struct{}
	order []uint64 // fingerprints in arrival order, oldest first
}

// repeats reports whether b holds a block the guard has seen, and
// remembers b's blocks when it does not (a replayed answer is not
// remembered twice).
func (g *replays) repeats(b []byte) bool {
	if g.seen == nil {
		g.seed = maphash.MakeSeed()
		g.seen = make(map[uint64]struct{}, replayMemory)
	}
	var fps []uint64
	for i := 0; len(b)-i >= minReplayBlock; i += ReplayBlock {
		fp := maphash.Bytes(g.seed, b[i:min(i+ReplayBlock, len(b))])
		// A block seen before, in an earlier answer or earlier in this
		// one (an answer of one block over and over).
		if _, ok := g.seen[fp]; ok || slices.Contains(fps, fp) {
			return true
		}
		fps = append(fps, fp)
	}
	for _, fp := range fps {
		g.seen[fp] = struct{}{}
		g.order = append(g.order, fp)
	}
	if over := len(g.order) - replayMemory; over > 0 {
		for _, fp := range g.order[:over] {
			delete(g.seen, fp)
		}
		g.order = append(g.order[:0], g.order[over:]...)
	}
	return false
}
