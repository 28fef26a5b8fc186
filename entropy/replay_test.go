package entropy

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestReplays(t *testing.T) {
	t.Parallel()
	var g replays
	first := rand.Text() + rand.Text() + rand.Text() // 78 bytes: blocks of 32, 32 and 14 (too short to count)
	if g.repeats([]byte(first)) {
		t.Fatal("a first answer repeats")
	}
	for name, b := range map[string]string{
		"whole":                 first,
		"cut short":             first[:40],
		"cut to one block":      first[:ReplayBlock],
		"cut below one block":   first[:minReplayBlock],
		"cut to 31 bytes":       first[:ReplayBlock-1],
		"from its second block": first[ReplayBlock:],
	} {
		if !g.repeats([]byte(b)) {
			t.Errorf("%s: a replayed answer passes", name)
		}
	}
	if g.repeats([]byte(rand.Text())) {
		t.Error("a fresh answer repeats")
	}
	// An answer of exactly one prefix's length: its prefix and its one
	// (short) block are the same bytes, and not a repeat.
	if g.repeats([]byte(rand.Text()[:minReplayBlock])) {
		t.Error("a fresh answer of minReplayBlock bytes repeats")
	}
	// One block over and over, in a single answer.
	block := make([]byte, ReplayBlock)
	rand.Read(block)
	if !g.repeats(bytes.Repeat(block, 4)) {
		t.Error("an answer repeating a block within itself passes")
	}
	// Answers too short to fingerprint, and blocks forgotten after
	// replayMemory newer ones, pass.
	short := []byte(first[:minReplayBlock-1])
	for range 2 {
		if g.repeats(short) {
			t.Error("a block shorter than minReplayBlock was fingerprinted")
		}
	}
	for range replayMemory / (MaxFetch/ReplayBlock + 1) {
		fresh := make([]byte, MaxFetch)
		rand.Read(fresh)
		if g.repeats(fresh) {
			t.Fatal("fresh bytes repeat")
		}
	}
	if g.repeats([]byte(first)) {
		t.Error("an answer older than the guard's memory is still remembered")
	}
	if len(g.order) != replayMemory || len(g.seen) != len(g.order) {
		t.Errorf("remembers %d fingerprints (%d in the set), want %d", len(g.order), len(g.seen), replayMemory)
	}
}
