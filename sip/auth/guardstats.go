package auth

import "sync/atomic"

// guardCounters count what the guard saw since start.
type guardCounters struct {
	failures  atomic.Uint64
	authBans  atomic.Uint64
	floodBans atomic.Uint64
	otherBans atomic.Uint64
}

func (c *guardCounters) banned(reason string) {
	switch reason {
	case BanAuthFailures:
		c.authBans.Add(1)
	case BanFlood:
		c.floodBans.Add(1)
	default:
		c.otherBans.Add(1)
	}
}

// GuardStats is a snapshot of the guard for monitoring.
type GuardStats struct {
	// Failures counts authentication failures since start, those from
	// allowed networks included.
	Failures uint64
	// Bans counts the bans made since start, by reason (BanAuthFailures,
	// BanFlood); bans restored from the store at start are not counted.
	Bans map[string]uint64
	// Banned is the number of addresses banned now.
	Banned int
}

// Stats reads the guard's counters.
func (g *Guard) Stats() GuardStats {
	now := g.now()
	g.mu.Lock()
	banned := 0
	for _, b := range g.bans {
		if !now.After(b.Until) {
			banned++
		}
	}
	g.mu.Unlock()
	bans := map[string]uint64{BanAuthFailures: g.counts.authBans.Load(), BanFlood: g.counts.floodBans.Load()}
	if n := g.counts.otherBans.Load(); n > 0 {
		bans["other"] = n
	}
	return GuardStats{Failures: g.counts.failures.Load(), Bans: bans, Banned: banned}
}
