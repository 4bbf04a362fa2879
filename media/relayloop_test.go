package media

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// relayPair bridges two new legs between two phone sockets.
func relayPair(t *testing.T, pool *PortPool) (a, b *Leg, r *Relay, pa, pb *net.UDPConn) {
	t.Helper()
	a, err := pool.NewLeg(loopback)
	if err != nil {
		t.Fatal(err)
	}
	b, err = pool.NewLeg(loopback)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb = phone(t), phone(t)
	a.SetRemote(Remote{Addr: addrOf(pa), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	b.SetRemote(Remote{Addr: addrOf(pb), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	return a, b, Bridge(a, b), pa, pb
}

// relays reports whether a packet sent by from to leg arrives at to.
func relays(t *testing.T, from *net.UDPConn, leg *Leg, to *net.UDPConn, seq uint16) bool {
	t.Helper()
	buf := make([]byte, 1500)
	for i := range 5 {
		_, _ = from.WriteToUDPAddrPort(rtpPacket(0, seq+uint16(i), uint32(i)*160, 0x1234, make([]byte, 160)), leg.Local())
		_ = to.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := to.Read(buf); err == nil {
			return true
		}
	}
	return false
}

// A leg closed while still bridged stops its relay first, so the descriptor
// the kernel hands to the next socket is never read or deregistered on the
// old relay's behalf: relays set up afterwards on reused descriptors carry
// their packets, and a late Stop of the old relay changes nothing.
func TestRelayLegClosedWhileBridged(t *testing.T) {
	pool := newPool(t)
	a, b, old, pa, pb := relayPair(t, pool)
	if !relays(t, pa, a, pb, 1) || !relays(t, pb, b, pa, 100) {
		t.Fatal("the first relay carries nothing")
	}
	_ = a.Close()
	_ = b.Close()
	if !old.stopped.Load() {
		t.Fatal("closing a bridged leg left its relay running")
	}
	var fresh []*Relay
	for i := range 8 {
		c, d, r, pc, pd := relayPair(t, pool)
		defer c.Close()
		defer d.Close()
		fresh = append(fresh, r)
		if !relays(t, pc, c, pd, uint16(200+10*i)) || !relays(t, pd, d, pc, uint16(500+10*i)) {
			t.Fatalf("relay %d on reused descriptors carries nothing", i)
		}
	}
	old.Stop()
	old.Stop()
	c, d, _, pc, pd := relayPair(t, pool)
	defer c.Close()
	defer d.Close()
	if !relays(t, pc, c, pd, 900) || !relays(t, pd, d, pc, 950) {
		t.Fatal("a late Stop of the closed legs' relay broke a newer one")
	}
	for _, r := range fresh {
		r.Stop()
	}
}

// Many relays share the loops; stopping some while packets flow leaves the
// others carrying theirs, and a leg stopped can be bridged again.
func TestRelayLoopsManyRelays(t *testing.T) {
	pool := newPool(t)
	type pair struct {
		a, b   *Leg
		r      *Relay
		pa, pb *net.UDPConn
	}
	var ps []pair
	for range 40 {
		a, b, r, pa, pb := relayPair(t, pool)
		ps = append(ps, pair{a, b, r, pa, pb})
	}
	defer func() {
		for _, p := range ps {
			p.r.Stop()
			_ = p.a.Close()
			_ = p.b.Close()
		}
	}()
	for i, p := range ps {
		if i%2 == 0 {
			p.r.Stop()
		}
	}
	for i, p := range ps {
		if i%2 == 1 && !relays(t, p.pa, p.a, p.pb, uint16(10*i)) {
			t.Fatalf("relay %d stopped carrying when others stopped", i)
		}
	}
	p := ps[0]
	p.r = Bridge(p.a, p.b)
	ps[0] = p
	if !relays(t, p.pb, p.b, p.pa, 3000) {
		t.Fatal("legs bridged again after a Stop carry nothing")
	}
}

// A pool bound to the IPv6 wildcard has dual-stack sockets: IPv4 phones
// reach them as v4-mapped sources and are sent to the same way.
func TestRelayDualStackSockets(t *testing.T) {
	pool, err := NewPortPool(netip.IPv6Unspecified(), 31000, 31999)
	if err != nil {
		t.Skip("no IPv6 sockets here:", err)
	}
	a, b, r, pa, pb := relayPair(t, pool)
	defer a.Close()
	defer b.Close()
	defer r.Stop()
	if !a.v6 {
		t.Skip("the wildcard socket is not IPv6 here")
	}
	if !relays(t, pa, a, pb, 1) || !relays(t, pb, b, pa, 100) {
		t.Fatal("IPv4 phones on dual-stack legs: nothing relayed")
	}
}
