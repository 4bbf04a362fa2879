package sip

import (
	"net/netip"
	"testing"
	"time"
)

func TestFloodLimiter(t *testing.T) {
	cfg := FloodConfig{Rate: 10, Burst: 20, BanAfter: 50, Window: 10 * time.Second, TrustedFactor: 10,
		TrustFor: time.Minute, MaxSources: 3}
	now := time.Unix(1_800_000_000, 0)
	l := newFloodLimiter(cfg, func() time.Time { return now })
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	count := func(ip netip.Addr, n int) (pass, drop, ban int) {
		for range n {
			switch l.allow(ip) {
			case floodPass:
				pass++
			case floodDrop:
				drop++
			case floodBan:
				ban++
			}
		}
		return
	}
	steps := []struct {
		name             string
		ip               netip.Addr
		advance          time.Duration
		packets          int
		pass, drop, bans int
	}{
		{name: "burst passes", ip: a, packets: 20, pass: 20},
		{name: "beyond the burst is dropped", ip: a, packets: 5, drop: 5},
		{name: "another source has its own bucket", ip: b, packets: 20, pass: 20},
		{name: "refills at the rate", ip: a, advance: time.Second, packets: 12, pass: 10, drop: 2},
		// 7 drops so far in the window: the 50th bans, the rest only drop.
		{name: "sustained excess is banned once", ip: a, packets: 60, drop: 59, bans: 1},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		pass, drop, ban := count(s.ip, s.packets)
		if pass != s.pass || drop != s.drop || ban != s.bans {
			t.Errorf("%s: pass %d drop %d ban %d; want %d %d %d", s.name, pass, drop, ban, s.pass, s.drop, s.bans)
		}
	}

	t.Run("trusted sources get more", func(t *testing.T) {
		c := netip.MustParseAddr("192.0.2.3")
		l.trust(c)
		if pass, _, _ := count(c, 300); pass != 200 {
			t.Fatalf("trusted burst passed %d, want 200", pass)
		}
		now = now.Add(2 * time.Minute) // trust expired
		if pass, _, _ := count(c, 300); pass != 20 {
			t.Fatalf("after trust ended %d passed, want 20", pass)
		}
	})
	t.Run("sources are bounded", func(t *testing.T) {
		now = now.Add(time.Hour)
		for i := range 1000 {
			l.allow(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}))
		}
		if n := len(l.sources); n > cfg.MaxSources {
			t.Fatalf("%d sources tracked, cap %d", n, cfg.MaxSources)
		}
	})
}
