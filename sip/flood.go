package sip

import (
	"net/netip"
	"sync"
	"time"
)

// FloodConfig limits what one source address may send before it has shown
// valid credentials: a token bucket per address (Rate packets a second,
// Burst at once). A source that keeps exceeding it (BanAfter packets dropped
// within Window) is banned like a brute-forcer. Sources that authenticated
// recently get TrustedFactor times the allowance, so a busy office behind one
// NAT address is not throttled by its own calls.
type FloodConfig struct {
	Rate          float64
	Burst         float64
	BanAfter      int
	Window        time.Duration
	TrustedFactor float64
	TrustFor      time.Duration
	MaxSources    int // addresses tracked at most; idle ones are forgotten first
}

// DefaultFloodConfig allows 50 packets a second (burst 200) per address and
// bans an address that had 500 packets dropped within 10 s. Trust outlasts
// the longest registration interval, so registered phones keep it.
func DefaultFloodConfig() FloodConfig {
	return FloodConfig{Rate: 50, Burst: 200, BanAfter: 500, Window: 10 * time.Second, TrustedFactor: 20,
		TrustFor: 65 * time.Minute, MaxSources: 100_000}
}

// floodLimiter is the per-source token bucket. It is consulted once per
// packet before any parsing, so it is a map lookup under one mutex.
type floodLimiter struct {
	cfg FloodConfig
	now func() time.Time

	mu      sync.Mutex
	sources map[netip.Addr]*floodSource
}

type floodSource struct {
	tokens       float64
	last         time.Time
	drops        int
	windowStart  time.Time
	trustedUntil time.Time
}

func newFloodLimiter(cfg FloodConfig, now func() time.Time) *floodLimiter {
	if now == nil {
		now = time.Now
	}
	return &floodLimiter{cfg: cfg, now: now, sources: map[netip.Addr]*floodSource{}}
}

// floodOutcome of one packet.
type floodOutcome int

const (
	floodPass floodOutcome = iota
	floodDrop              // over the limit: drop silently
	floodBan               // over the limit for long enough: ban the source
)

// allow charges one packet to ip.
func (l *floodLimiter) allow(ip netip.Addr) floodOutcome {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sources[ip]
	if s == nil {
		if len(l.sources) >= l.cfg.MaxSources {
			l.forgetIdleLocked(now)
		}
		s = &floodSource{tokens: l.cfg.Burst, last: now, windowStart: now}
		l.sources[ip] = s
	}
	rate, burst := l.cfg.Rate, l.cfg.Burst
	if now.Before(s.trustedUntil) {
		rate, burst = rate*l.cfg.TrustedFactor, burst*l.cfg.TrustedFactor
	}
	s.tokens = min(burst, s.tokens+now.Sub(s.last).Seconds()*rate)
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return floodPass
	}
	if now.Sub(s.windowStart) > l.cfg.Window {
		s.windowStart, s.drops = now, 0
	}
	s.drops++
	if s.drops == l.cfg.BanAfter {
		return floodBan
	}
	return floodDrop
}

// trust raises the allowance of ip after it authenticated.
func (l *floodLimiter) trust(ip netip.Addr) {
	now := l.now()
	l.mu.Lock()
	s := l.sources[ip]
	if s == nil {
		s = &floodSource{tokens: l.cfg.Burst, last: now, windowStart: now}
		l.sources[ip] = s
	}
	s.trustedUntil = now.Add(l.cfg.TrustFor)
	s.tokens = max(s.tokens, l.cfg.Burst*l.cfg.TrustedFactor)
	l.mu.Unlock()
}

// trusted reports whether ip authenticated recently.
func (l *floodLimiter) trusted(ip netip.Addr) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sources[ip]
	return s != nil && now.Before(s.trustedUntil)
}

// sweep forgets sources whose bucket is full again and that are not trusted.
func (l *floodLimiter) sweep() {
	now := l.now()
	l.mu.Lock()
	l.forgetIdleLocked(now)
	l.mu.Unlock()
}

func (l *floodLimiter) forgetIdleLocked(now time.Time) {
	refill := time.Duration(l.cfg.Burst / l.cfg.Rate * float64(time.Second))
	for ip, s := range l.sources {
		if now.Sub(s.last) > refill && now.After(s.trustedUntil) {
			delete(l.sources, ip)
		}
	}
	if len(l.sources) >= l.cfg.MaxSources {
		// Still full (a flood from many addresses): forget every untrusted
		// source rather than grow without bound.
		for ip, s := range l.sources {
			if now.After(s.trustedUntil) {
				delete(l.sources, ip)
			}
		}
	}
}
