package media

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestPortPoolHandsOutEachFreePortOnce(t *testing.T) {
	tests := []struct {
		name     string
		min, max int
		// held are even ports another program holds before the pool starts.
		held []int
	}{
		{"one port", 21000, 21000, nil},
		{"odd bounds", 21101, 21106, nil},
		{"a range of 200", 21200, 21599, nil},
		{"another program holds some ports", 21600, 21639, []int{21600, 21612, 21638}},
		{"another program holds all but one", 21700, 21707, []int{21700, 21702, 21706}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, port := range tt.held {
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
				if err != nil {
					t.Skipf("port %d is busy on this host: %v", port, err)
				}
				defer c.Close()
			}
			p, err := NewPortPool(loopback, tt.min, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			want := p.Size() - len(tt.held)
			seen := map[int]bool{}
			var legs []*Leg
			defer func() {
				for _, l := range legs {
					l.Close()
				}
			}()
			for range want {
				l, err := p.NewLeg(loopback)
				if err != nil {
					t.Fatalf("after %d legs: %v", len(legs), err)
				}
				legs = append(legs, l)
				port := int(l.Local().Port())
				switch {
				case port%2 != 0:
					t.Fatalf("odd port %d", port)
				case port < tt.min || port > tt.max:
					t.Fatalf("port %d outside %d-%d", port, tt.min, tt.max)
				case seen[port]:
					t.Fatalf("port %d handed out twice", port)
				}
				seen[port] = true
			}
			for _, port := range tt.held {
				if seen[port] {
					t.Fatalf("port %d, held by another program, handed out", port)
				}
			}
			if _, err := p.NewLeg(loopback); !errors.Is(err, ErrNoPorts) {
				t.Fatalf("full pool: %v", err)
			}
			if got := p.InUse(); got != want {
				t.Fatalf("in use %d, want %d", got, want)
			}
			// A released port is the only free one: the pool finds it at once.
			freed := legs[len(legs)/2]
			port := freed.Local().Port()
			freed.Close()
			if p.holds(port) {
				t.Fatalf("port %d still marked held after release", port)
			}
			l, err := p.NewLeg(loopback)
			if err != nil {
				t.Fatalf("released port not reused: %v", err)
			}
			legs = append(legs, l)
			if l.Local().Port() != port {
				t.Fatalf("got port %d, want the released %d", l.Local().Port(), port)
			}
		})
	}
}

func TestPortPoolIsRandom(t *testing.T) {
	p, err := NewPortPool(loopback, 22000, 22999)
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for range 16 {
		l, err := p.NewLeg(loopback)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, int(l.Local().Port()))
	}
	// Sequential allocation gives steps of 2 every time; a random draw over
	// 500 ports gives one by chance about once in 250 steps.
	steps := 0
	for i := 1; i < len(ports); i++ {
		if ports[i]-ports[i-1] == 2 {
			steps++
		}
	}
	if steps > 3 {
		t.Fatalf("ports look sequential: %v", ports)
	}
}

func TestPortPoolRefusesBadRanges(t *testing.T) {
	for _, r := range [][2]int{{20000, 10000}, {80, 2000}, {60000, 70000}} {
		if _, err := NewPortPool(loopback, r[0], r[1]); err == nil {
			t.Fatalf("range %d-%d accepted", r[0], r[1])
		}
	}
}

func TestPortPoolOwnAddresses(t *testing.T) {
	p, err := NewPortPool(loopback, 23000, 23099)
	if err != nil {
		t.Fatal(err)
	}
	p.AddSignalling(netip.MustParseAddrPort("127.0.0.1:5060"))
	p.AddSignalling(netip.MustParseAddrPort("203.0.113.5:5060")) // advertised behind NAT
	leg, err := p.NewLeg(loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	held := leg.Local().Port()
	// A port of the range another program holds is that program's. It must
	// not be the leg's pair, whose RTCP port is checked as the range's below.
	otherPort := uint16(23051)
	if otherPort&^1 == held {
		otherPort = 23061
	}
	other, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, otherPort)))
	if err != nil {
		t.Skipf("port %d busy on this host", otherPort)
	}
	defer other.Close()
	free := uint16(23000)
	if free == held {
		free = 23002
	}
	isLeg := func(port uint16) bool { return port&^1 == held } // the pool's draw is random
	tests := []struct {
		name  string
		addr  netip.AddrPort
		own   bool
		loops bool
	}{
		{"the SIP port", netip.MustParseAddrPort("127.0.0.1:5060"), true, true},
		{"the advertised address and SIP port", netip.MustParseAddrPort("203.0.113.5:5060"), true, true},
		{"a leg's RTP port", netip.AddrPortFrom(loopback, held), true, true},
		// The pool binds only the RTP port: the odd one beside it is the
		// range's while nobody holds it, but no socket of the PBX.
		{"a leg's RTCP port", netip.AddrPortFrom(loopback, held+1), true, false},
		{"a free port of the range", netip.AddrPortFrom(loopback, free), true, false},
		{"the last RTCP port of the range", netip.MustParseAddrPort("127.0.0.1:23099"), true, false},
		{"the advertised address, a port of the range", netip.MustParseAddrPort("203.0.113.5:23010"), true, isLeg(23010)},
		{"a port of the range another program holds", netip.AddrPortFrom(loopback, otherPort), false, false},
		{"a port outside the range", netip.MustParseAddrPort("127.0.0.1:23100"), false, false},
		{"another host, a port of the range", netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), held), false, false},
		{"another loopback address", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.77"), held), false, false},
	}
	t.Run("the odd port beside a leg, held by a phone on this host", func(t *testing.T) {
		phone, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, held+1)))
		if err != nil {
			t.Skipf("port %d busy: %v", held+1, err)
		}
		defer phone.Close()
		ap := netip.AddrPortFrom(loopback, held+1)
		if p.IsOwn(ap) || p.loops(ap) {
			t.Fatalf("a phone's media port %s is taken for the PBX's own", ap)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.IsOwn(tt.addr); got != tt.own {
				t.Fatalf("IsOwn(%s) = %v, want %v", tt.addr, got, tt.own)
			}
			if got := p.loops(tt.addr); got != tt.loops {
				t.Fatalf("loops(%s) = %v, want %v (leg on %d)", tt.addr, got, tt.loops, held)
			}
		})
	}
}
