package media

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// Payload bytes that tell streams apart at the far end (PCMU passes through
// the relay untouched between two PCMU legs).
const (
	fromPeer     = 0x11
	fromStranger = 0x77
	fromMover    = 0x55
)

// syncBuffer is a log sink the read loops write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bridged is two PCMU legs relayed to each other, A's far end being the
// phone pa and B's the phone pb, both named in SDP.
type bridged struct {
	a, b   *Leg
	pa, pb *net.UDPConn
	log    *syncBuffer
}

func newBridged(t *testing.T) *bridged {
	t.Helper()
	pool := newPool(t)
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := pool.NewLeg(loopback, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	b, err := pool.NewLeg(loopback, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	br := &bridged{a: a, b: b, pa: phone(t), pb: phone(t), log: buf}
	a.SetRemote(Remote{Addr: addrOf(br.pa), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	b.SetRemote(Remote{Addr: addrOf(br.pb), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	r := Bridge(a, b)
	t.Cleanup(r.Stop)
	return br
}

// stranger is a socket on another loopback address, as another host would be.
func stranger(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		c, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stream sends n PCMU packets of one SSRC with consecutive sequence numbers
// from c to dst, every interval (back to back when interval is 0).
func stream(c *net.UDPConn, dst netip.AddrPort, ssrc uint32, seq uint16, n int, interval time.Duration, mark byte) {
	payload := bytes.Repeat([]byte{mark}, 160)
	for i := range n {
		_, _ = c.WriteToUDPAddrPort(rtpPacket(0, seq+uint16(i), uint32(i*160), ssrc, payload), dst)
		if interval > 0 {
			time.Sleep(interval)
		}
	}
}

// heard drains what c receives until nothing arrives for quiet, and counts
// the packets by their payload mark.
func heard(t *testing.T, c *net.UDPConn, quiet time.Duration) map[byte]int {
	t.Helper()
	got := map[byte]int{}
	buf := make([]byte, 1500)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			return got
		}
		if n > 12 {
			got[buf[12]]++
		}
	}
}

// waitPeer waits (a second at most) for l to be locked onto want.
func waitPeer(t *testing.T, l *Leg, want netip.AddrPort) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		got, ok := l.Peer()
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("locked onto %v (%v), want %s", got, ok, want)
		}
	}
}

// lockOnPeer has phone A speak so leg A locks onto it, and checks B hears it.
func (br *bridged) lockOnPeer(t *testing.T) {
	t.Helper()
	stream(br.pa, br.a.Local(), 0xaaaa, 100, 5, 20*time.Millisecond, fromPeer)
	waitPeer(t, br.a, addrOf(br.pa))
	if got := heard(t, br.pb, 200*time.Millisecond); got[fromPeer] != 5 {
		t.Fatalf("B heard %v of A's 5 packets", got)
	}
}

func TestLatchIgnoresStrangers(t *testing.T) {
	tests := []struct {
		name string
		// send is what the stranger does at leg A's port, A having locked.
		send func(s *net.UDPConn, dst netip.AddrPort)
		// peerTalks keeps phone A sending meanwhile.
		peerTalks bool
	}{
		{"one stray packet", func(s *net.UDPConn, dst netip.AddrPort) {
			stream(s, dst, 0x7777, 1, 1, 0, fromStranger)
		}, false},
		{"a short burst of sequential packets", func(s *net.UDPConn, dst netip.AddrPort) {
			stream(s, dst, 0x7777, 1, 50, 0, fromStranger)
		}, false},
		{"a spray of random packets", func(s *net.UDPConn, dst netip.AddrPort) {
			for range 60 {
				_, _ = s.WriteToUDPAddrPort(rtpPacket(0, uint16(rand.Uint32()), rand.Uint32(), rand.Uint32(),
					bytes.Repeat([]byte{fromStranger}, 160)), dst)
				time.Sleep(10 * time.Millisecond)
			}
		}, false},
		{"a sustained sequential stream next to a live peer", func(s *net.UDPConn, dst netip.AddrPort) {
			stream(s, dst, 0x7777, 1, 60, 20*time.Millisecond, fromStranger)
		}, true},
		{"non-RTP garbage", func(s *net.UDPConn, dst netip.AddrPort) {
			for i := range 30 {
				_, _ = s.WriteToUDPAddrPort([]byte(strings.Repeat("x", 20+i)), dst)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := newBridged(t)
			br.lockOnPeer(t)
			s := stranger(t, "127.0.0.77")
			done := make(chan struct{})
			if tt.peerTalks {
				go func() {
					defer close(done)
					stream(br.pa, br.a.Local(), 0xaaaa, 105, 70, 20*time.Millisecond, fromPeer)
				}()
			} else {
				close(done)
			}
			tt.send(s, br.a.Local())
			<-done
			got := heard(t, br.pb, 300*time.Millisecond)
			if got[fromStranger] != 0 {
				t.Fatalf("B heard %d of the stranger's packets", got[fromStranger])
			}
			if tt.peerTalks && got[fromPeer] != 70 {
				t.Fatalf("B heard %d of A's 70 packets", got[fromPeer])
			}
			if p, _ := br.a.Peer(); p != addrOf(br.pa) {
				t.Fatalf("leg A moved to %s", p)
			}
			if br.a.Stats().Dropped == 0 {
				t.Fatal("no packet counted as dropped")
			}
			if strings.Contains(br.log.String(), "rtp source switched") {
				t.Fatalf("a switch was logged:\n%s", br.log.String())
			}
			// B's side still goes to A, not to the stranger.
			stream(br.pb, br.b.Local(), 0xbbbb, 1, 3, 0, fromPeer)
			if got := heard(t, br.pa, 200*time.Millisecond); got[fromPeer] != 3 {
				t.Fatalf("A heard %v of B's 3 packets", got)
			}
		})
	}
}

func TestLatchFollowsASustainedMove(t *testing.T) {
	br := newBridged(t)
	br.lockOnPeer(t)
	// Phone A's NAT binding changes: the old source falls silent and the
	// same phone now sends from another address.
	moved := stranger(t, "127.0.0.78")
	stream(moved, br.a.Local(), 0xaaab, 500, 50, 20*time.Millisecond, fromMover)
	waitPeer(t, br.a, addrOf(moved))
	got := heard(t, br.pb, 200*time.Millisecond)
	// Probation and the old peer's quiet time hold the first packets back;
	// what follows the switch is relayed.
	if got[fromMover] == 0 || got[fromMover] >= 50 {
		t.Fatalf("B heard %d of the moved phone's 50 packets", got[fromMover])
	}
	if log := br.log.String(); !strings.Contains(log, "rtp source switched") || !strings.Contains(log, addrOf(moved).String()) {
		t.Fatalf("switch not logged:\n%s", log)
	}
	// Symmetric RTP: B's audio now goes to the new address.
	stream(br.pb, br.b.Local(), 0xbbbb, 1, 3, 0, fromPeer)
	if got := heard(t, moved, 200*time.Millisecond); got[fromPeer] != 3 {
		t.Fatalf("the moved phone heard %v of B's 3 packets", got)
	}
}

func TestLatchLearnsASourceBehindNAT(t *testing.T) {
	br := newBridged(t)
	// SDP named pa, but the phone's packets come from its NAT's address.
	nat := stranger(t, "127.0.0.79")
	stream(nat, br.a.Local(), 0xaaaa, 1, 3, 20*time.Millisecond, fromPeer)
	if _, ok := br.a.Peer(); ok {
		t.Fatal("locked onto an unsignalled source after three packets")
	}
	stream(nat, br.a.Local(), 0xaaaa, 4, 20, 20*time.Millisecond, fromPeer)
	waitPeer(t, br.a, addrOf(nat))
	if log := br.log.String(); !strings.Contains(log, "rtp source locked") || strings.Contains(log, "rtp source switched") {
		t.Fatalf("log:\n%s", log)
	}
	// A new address in SDP (a re-INVITE) starts learning afresh.
	next := phone(t)
	br.a.SetRemote(Remote{Addr: addrOf(next), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	if _, ok := br.a.Peer(); ok {
		t.Fatal("still locked after SDP named a new address")
	}
	stream(next, br.a.Local(), 0xcccc, 1, 1, 0, fromPeer)
	waitPeer(t, br.a, addrOf(next))
}

func TestLatchNeverOntoThePBX(t *testing.T) {
	br := newBridged(t)
	br.lockOnPeer(t)
	// Another leg of the same PBX streams at A's port: a loop, never a peer.
	other, err := br.a.pool.NewLeg(loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	payload := bytes.Repeat([]byte{fromStranger}, 160)
	for i := range 60 {
		_, _ = other.conn.WriteToUDPAddrPort(rtpPacket(0, uint16(i), uint32(i*160), 0x5e1f, payload), br.a.Local())
		time.Sleep(20 * time.Millisecond)
	}
	if p, _ := br.a.Peer(); p != addrOf(br.pa) {
		t.Fatalf("leg A moved to %s", p)
	}
	if got := heard(t, br.pb, 200*time.Millisecond); got[fromStranger] != 0 {
		t.Fatalf("B heard %d packets of the PBX's own leg", got[fromStranger])
	}
}

func TestSendNeverLoopsIntoThePBX(t *testing.T) {
	pool := newPool(t)
	a, _ := pool.NewLeg(loopback)
	b, _ := pool.NewLeg(loopback)
	defer a.Close()
	defer b.Close()
	// Signalling that slipped through points A at B's own port.
	a.SetRemote(Remote{Addr: b.Local(), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	pkt := rtpPacket(0, 1, 0, 1, make([]byte, 160))
	if err := a.send(pkt, time.Now()); err != errLoop {
		t.Fatalf("send to the PBX's own port: %v", err)
	}
	if a.Stats().PacketsOut != 0 {
		t.Fatal("a packet went out")
	}
}

func TestWatchMediaPerLeg(t *testing.T) {
	tests := []struct {
		name string
		// aTalks and bTalks: whether each far end sends during the test.
		aTalks, bTalks bool
		bSilent        bool // B's far end negotiated recvonly or inactive
		want           string
	}{
		{"both talk", true, true, false, ""},
		{"B stops while A talks", true, false, false, "B"},
		{"A stops while B talks", false, true, false, "A"},
		{"B is held and not expected to send", true, false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := newBridged(t)
			if tt.bSilent {
				r := *br.b.Remote()
				r.Silent = true
				br.b.SetRemote(r)
			}
			idle := make(chan string, 1)
			stop := WatchMedia(400*time.Millisecond, func(l *Leg) {
				if l == br.a {
					idle <- "A"
				} else {
					idle <- "B"
				}
			}, br.a, br.b)
			var wg sync.WaitGroup
			talk := func(c *net.UDPConn, dst netip.AddrPort) {
				defer wg.Done()
				stream(c, dst, rand.Uint32(), 1, 60, 20*time.Millisecond, fromPeer)
			}
			if tt.aTalks {
				wg.Add(1)
				go talk(br.pa, br.a.Local())
			}
			if tt.bTalks {
				wg.Add(1)
				go talk(br.pb, br.b.Local())
			}
			var got string
			select {
			case got = <-idle:
			case <-time.After(1200 * time.Millisecond):
			}
			stop()
			wg.Wait()
			if got != tt.want {
				t.Fatalf("timed out leg %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAdmitAllocatesNothing guards the packet path: admission of the peer
// and refusal of strangers cost no allocation.
func TestAdmitAllocatesNothing(t *testing.T) {
	pool := newPool(t)
	l, _ := pool.NewLeg(loopback)
	defer l.Close()
	peer := netip.MustParseAddrPort("192.0.2.7:40000")
	l.SetRemote(Remote{Addr: peer, Codec: codec.PCMU, Receive: true})
	pkt := rtpPacket(0, 1, 0, 42, make([]byte, 160))
	now := time.Now()
	other := netip.MustParseAddrPort("198.51.100.1:9")
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		l.admit(peer, pkt, now)
		l.admit(other, pkt, now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

// TestLatchTakeover feeds admit the packets of a locked peer and of another
// source, each with the time the read loop takes it, and reports whether and
// when the other source took over.
func TestLatchTakeover(t *testing.T) {
	peer := netip.MustParseAddrPort("192.0.2.7:40000")
	other := netip.MustParseAddrPort("198.51.100.9:5004")
	type arrival struct {
		src netip.AddrPort
		seq uint16
		at  time.Duration // when the read loop takes it
	}
	// interleaved: the peer every ptime from 0 to until, the other source
	// every otherPtime from offset to otherUntil; held: every packet that
	// arrives within [from, to) is taken at to, in the order it arrived.
	interleaved := func(ptime, until, otherPtime, offset, otherUntil, from, to time.Duration) []arrival {
		var out []arrival
		for at := time.Duration(0); at < until; at += ptime {
			out = append(out, arrival{peer, uint16(at / ptime), at})
		}
		for at := offset; at < otherUntil; at += otherPtime {
			out = append(out, arrival{other, uint16(1000 + (at-offset)/otherPtime), at})
		}
		slices.SortStableFunc(out, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
		for i := range out {
			if out[i].at >= from && out[i].at < to {
				out[i].at = to
			}
		}
		return out
	}
	const ms = time.Millisecond
	tests := []struct {
		name       string
		packets    []arrival
		wantSwitch bool
		// the switch comes no sooner than minQuiet after the peer's last packet
		minQuiet time.Duration
	}{
		{"another stream beside a live peer", interleaved(20*ms, 3000*ms, 20*ms, 7*ms, 3000*ms, 0, 0), false, 0},
		// Held from just after a peer's packet: the other source's packet is
		// the first the loop takes, 600 ms after the peer's last.
		{"a read loop held up 600 ms", interleaved(20*ms, 3000*ms, 20*ms, -3*ms, 3000*ms, 1010*ms, 1610*ms), false, 0},
		{"a read loop held up 2 s", interleaved(20*ms, 4000*ms, 20*ms, -3*ms, 4000*ms, 1010*ms, 3010*ms), false, 0},
		{"a read loop held up 600 ms, the other source 3 packets to the peer's one",
			interleaved(20*ms, 3000*ms, 20*ms/3, -3*ms, 3000*ms, 1010*ms, 1610*ms), false, 0},
		{"a phone that moved (20 ms packets)", interleaved(20*ms, 1000*ms, 20*ms, 1010*ms, 3000*ms, 0, 0), true, peerQuiet},
		{"a phone that moved (60 ms packets)", interleaved(60*ms, 1020*ms, 60*ms, 1050*ms, 3000*ms, 0, 0), true, peerQuiet},
		{"a phone that moved while the loop was held up",
			interleaved(20*ms, 1000*ms, 20*ms, 1010*ms, 3000*ms, 900*ms, 1500*ms), true, peerQuiet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newPool(t)
			l, err := pool.NewLeg(loopback)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			l.SetRemote(Remote{Addr: peer, Codec: codec.PCMU, Receive: true})
			start := time.Now()
			var lastPeer time.Duration
			switched := time.Duration(-1)
			for _, a := range tt.packets {
				pkt := rtpPacket(0, a.seq, uint32(a.seq)*160, 0x5e00+uint32(a.src.Port()), make([]byte, 160))
				ok := l.admit(a.src, pkt, start.Add(a.at))
				switch {
				case a.src == peer && ok:
					lastPeer = a.at
				case a.src == other && ok && switched < 0:
					switched = a.at
				}
			}
			if got := switched >= 0; got != tt.wantSwitch {
				t.Fatalf("switched: %v (at %v), want %v", got, switched, tt.wantSwitch)
			}
			if tt.wantSwitch && switched-lastPeer < tt.minQuiet {
				t.Fatalf("switched %v after the peer's last packet, before %v", switched-lastPeer, tt.minQuiet)
			}
		})
	}
}
