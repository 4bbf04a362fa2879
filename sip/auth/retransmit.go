package auth

import (
	"net/netip"
	"sync"
	"time"
)

const (
	// challengeMemory is how long each generation of recentChallenges
	// lasts: a nonce is remembered for one to two of them, which covers a
	// client's first retransmissions (T1 = 500 ms, doubling up to T2 = 4 s).
	challengeMemory = 8 * time.Second
	// challengeMemoryMax bounds each generation, so that a flood of
	// requests to challenge costs at most a few megabytes; past it, a
	// retransmission gets a new nonce, as it did before.
	challengeMemoryMax = 100_000
)

// withSource mixes src into key (FNV-1a over its 16 bytes), never giving 0.
func withSource(key uint64, src netip.Addr) uint64 {
	a := src.Unmap().As16()
	for _, b := range a {
		key = (key ^ uint64(b)) * 1099511628211
	}
	if key == 0 {
		key = 1
	}
	return key
}

// recentChallenges remembers the nonce head each recently challenged
// request was given, by request key, in two generations of maps without
// pointers (nothing in them for the collector to scan).
type recentChallenges struct {
	mu      sync.Mutex
	cur     map[uint64][16]byte
	prev    map[uint64][16]byte
	rotated time.Time
}

// head returns the nonce head remembered for key, else a fresh one from
// fresh, remembered from now on.
func (r *recentChallenges) head(key uint64, now time.Time, fresh func() [16]byte) [16]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch age := now.Sub(r.rotated); {
	case age >= 2*challengeMemory || age < 0:
		r.prev, r.cur, r.rotated = nil, map[uint64][16]byte{}, now
	case age >= challengeMemory:
		r.prev, r.cur, r.rotated = r.cur, make(map[uint64][16]byte, len(r.cur)), now
	}
	if h, ok := r.cur[key]; ok {
		return h
	}
	if h, ok := r.prev[key]; ok {
		return h
	}
	h := fresh()
	if len(r.cur) < challengeMemoryMax {
		r.cur[key] = h
	}
	return h
}
