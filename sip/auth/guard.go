package auth

import (
	"net/netip"
	"sort"
	"sync"
	"time"
)

// GuardConfig sets how many failures from one address within a window lead
// to a ban, and for how long.
type GuardConfig struct {
	MaxFailures int
	Window      time.Duration
	BanFor      time.Duration
}

// DefaultGuardConfig bans an address failing 10 times in 60 s for 15 minutes.
func DefaultGuardConfig() GuardConfig {
	return GuardConfig{MaxFailures: 10, Window: time.Minute, BanFor: 15 * time.Minute}
}

// Ban is an address refused for a while.
type Ban struct {
	IP       netip.Addr
	Since    time.Time
	Until    time.Time
	Failures int
	Reason   string // BanAuthFailures or BanFlood
}

// Ban reasons.
const (
	BanAuthFailures = "auth_failures"
	BanFlood        = "flood"
)

// Guard counts authentication failures per source address and bans addresses
// that fail too often.
type Guard struct {
	cfg GuardConfig
	now func() time.Time

	mu       sync.Mutex
	failures map[netip.Addr][]time.Time
	bans     map[netip.Addr]Ban
	onBan    func(Ban)
	// allowed holds networks that are never banned, by origin (such as
	// "trunks" and "api"), so each origin replaces only its own list.
	allowed map[string][]netip.Prefix
}

// NewGuard returns a guard; now may be nil for the wall clock.
func NewGuard(cfg GuardConfig, now func() time.Time) *Guard {
	if now == nil {
		now = time.Now
	}
	return &Guard{cfg: cfg, now: now, failures: map[netip.Addr][]time.Time{}, bans: map[netip.Addr]Ban{},
		allowed: map[string][]netip.Prefix{}}
}

// OnBan registers a function called (outside the guard's lock) for each new ban.
func (g *Guard) OnBan(f func(Ban)) { g.onBan = f }

// Banned reports whether ip is banned now.
func (g *Guard) Banned(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.bans[ip]
	if !ok {
		return false
	}
	if g.now().After(b.Until) {
		delete(g.bans, ip)
		return false
	}
	return true
}

// SetAllowed replaces the networks of one origin that are never banned.
func (g *Guard) SetAllowed(origin string, nets []netip.Prefix) {
	g.mu.Lock()
	g.allowed[origin] = nets
	for ip := range g.bans {
		if g.allowedLocked(ip) {
			delete(g.bans, ip)
		}
	}
	g.mu.Unlock()
}

// Allowed reports whether ip is in a network that is never banned.
func (g *Guard) Allowed(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allowedLocked(ip)
}

func (g *Guard) allowedLocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, nets := range g.allowed {
		for _, p := range nets {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// BanNow bans ip at once for reason (unless it is allowed or already banned)
// and reports whether a new ban was made.
func (g *Guard) BanNow(ip netip.Addr, reason string) bool {
	now := g.now()
	g.mu.Lock()
	if g.allowedLocked(ip) {
		g.mu.Unlock()
		return false
	}
	if b, ok := g.bans[ip]; ok && !now.After(b.Until) {
		g.mu.Unlock()
		return false
	}
	b := Ban{IP: ip, Since: now, Until: now.Add(g.cfg.BanFor), Reason: reason}
	g.bans[ip] = b
	g.mu.Unlock()
	if g.onBan != nil {
		g.onBan(b)
	}
	return true
}

// Fail records one failure from ip and reports whether it caused a ban.
// Failures from allowed networks are not counted.
func (g *Guard) Fail(ip netip.Addr) bool {
	now := g.now()
	g.mu.Lock()
	if g.allowedLocked(ip) {
		g.mu.Unlock()
		return false
	}
	recent := g.failures[ip][:0]
	for _, t := range g.failures[ip] {
		if now.Sub(t) < g.cfg.Window {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	g.failures[ip] = recent
	if len(recent) < g.cfg.MaxFailures {
		g.mu.Unlock()
		return false
	}
	delete(g.failures, ip)
	b := Ban{IP: ip, Since: now, Until: now.Add(g.cfg.BanFor), Failures: len(recent), Reason: BanAuthFailures}
	g.bans[ip] = b
	g.sweepLocked(now)
	g.mu.Unlock()
	if g.onBan != nil {
		g.onBan(b)
	}
	return true
}

// Succeed forgets the failures of ip after a successful authentication.
func (g *Guard) Succeed(ip netip.Addr) {
	g.mu.Lock()
	delete(g.failures, ip)
	g.mu.Unlock()
}

// Bans lists current bans, oldest first.
func (g *Guard) Bans() []Ban {
	now := g.now()
	g.mu.Lock()
	g.sweepLocked(now)
	out := make([]Ban, 0, len(g.bans))
	for _, b := range g.bans {
		out = append(out, b)
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Unban lifts the ban on ip; it reports whether there was one.
func (g *Guard) Unban(ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.bans[ip]
	delete(g.bans, ip)
	delete(g.failures, ip)
	return ok
}

func (g *Guard) sweepLocked(now time.Time) {
	for ip, b := range g.bans {
		if now.After(b.Until) {
			delete(g.bans, ip)
		}
	}
	for ip, ts := range g.failures {
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) > g.cfg.Window {
			delete(g.failures, ip)
		}
	}
}
