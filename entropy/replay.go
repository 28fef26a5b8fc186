package entropy

import (
	"hash/maphash"
	"slices"
)

// Sizes of the remote's replay guard: it fingerprints every ReplayBlock
// bytes of an answer (a shorter tail included, when at least
// minReplayBlock long), and apart from them the answer's first
// minReplayBlock bytes, and remembers the last replayMemory fingerprints,
// 64 answers of MaxFetch bytes.
const (
	ReplayBlock    = 32
	minReplayBlock = 16
	replayMemory   = 64 * (MaxFetch/ReplayBlock + 1)
)

// replays refuses a remote answer that repeats bytes the remote sent
// before: a stuck cache or upstream, or a proxy replaying an answer. The
// health tests see one byte at a time and pass such bytes, which look
// random, every time; but bytes said to be quantum are each used once.
// Blocks are fingerprinted from the start of each answer, so an answer
// sent again, whole or cut short, is caught, and so is one that repeats a
// block within itself; a replay shifted by a few bytes is not. The first
// minReplayBlock bytes of every answer are fingerprinted apart (as a
// prefix, never equal to a block's), so that a replay cut to fewer than
// ReplayBlock bytes, as a small top-up of the pool asks for, is caught
// too; one of fewer than minReplayBlock bytes is not. 16 random bytes
// never repeat, so an alarm means a fault. Not safe for concurrent use:
// the fetcher alone feeds it.
type replays struct {
	seed  maphash.Seed
	seen  map[uint64]struct{}
	order []uint64 // fingerprints in arrival order, oldest first
}

// repeats reports whether b holds a block or begins with a prefix the
// guard has seen, and remembers b's when it does not (a replayed answer
// is not remembered twice).
func (g *replays) repeats(b []byte) bool {
	if g.seen == nil {
		g.seed = maphash.MakeSeed()
		g.seen = make(map[uint64]struct{}, replayMemory)
	}
	var fps []uint64
	if len(b) >= minReplayBlock {
		fps = append(fps, g.fingerprint('p', b[:minReplayBlock]))
	}
	for i := 0; len(b)-i >= minReplayBlock; i += ReplayBlock {
		fps = append(fps, g.fingerprint('b', b[i:min(i+ReplayBlock, len(b))]))
	}
	for i, fp := range fps {
		// Seen before, in an earlier answer or earlier in this one (an
		// answer of one block over and over).
		if _, ok := g.seen[fp]; ok || slices.Contains(fps[:i], fp) {
			return true
		}
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

// fingerprint hashes b under kind, 'p' for a prefix and 'b' for a block,
// so that the two never collide on the same bytes.
func (g *replays) fingerprint(kind byte, b []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(g.seed)
	h.WriteByte(kind)
	h.Write(b)
	return h.Sum64()
}
