package auth

import (
	"sync"
	"time"
)

// retransmitWindow is how long a client may retransmit a request over UDP:
// 64*T1 (RFC 3261 §17.1.2.2, Timer F).
const retransmitWindow = 32 * time.Second

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
