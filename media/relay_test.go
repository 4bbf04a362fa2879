package media

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/mediatest"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func newPool(t testing.TB) *PortPool {
	t.Helper()
	p, err := NewPortPool(loopback, 30000, 30999)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12+len(payload))
	b[0] = 0x80
	b[1] = pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	copy(b[12:], payload)
	return b
}

func phone(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// waitStats waits up to a second for l's counters to satisfy ok. A leg
// counts a packet once its send has returned, which can be after the far
// end has read it.
func waitStats(l *Leg, ok func(Stats) bool) (Stats, bool) {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		st := l.Stats()
		if ok(st) || time.Now().After(deadline) {
			return st, ok(st)
		}
	}
}

func TestRelayTranscodesAndRewrites(t *testing.T) {
	pool := newPool(t)
	a, err := pool.NewLeg(loopback)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pool.NewLeg(loopback)
	defer a.Close()
	defer b.Close()
	pa, pb := phone(t), phone(t)
	a.SetRemote(Remote{Addr: addrOf(pa), Codec: codec.PCMU, PayloadType: 0, DTMFType: 101, Receive: true})
	// Phone B signalled a wrong address in SDP: symmetric RTP must still reach it.
	b.SetRemote(Remote{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Codec: codec.PCMA, PayloadType: 8, DTMFType: 96, Receive: true})
	r := Bridge(a, b)
	defer r.Stop()

	// B speaks first, from an address SDP did not name (NAT): after a
	// probation run of sequential packets the leg locks onto its source.
	for i := range probationPackets + 4 {
		_, _ = pb.WriteToUDPAddrPort(rtpPacket(8, uint16(1+i), uint32(i*160), 0xbbbb, make([]byte, 160)), b.Local())
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		if _, ok := b.Peer(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay did not lock onto B's source address")
		}
	}
	if got, _ := b.Peer(); got != addrOf(pb) {
		t.Fatalf("locked onto %s, want %s", got, addrOf(pb))
	}
	tone := &mediatest.Tone{Freq: 1000, Amplitude: 8000}
	pcm := make([]int16, 160)
	heard := []int16{}
	var seqs []uint16
	var ssrcs = map[uint32]bool{}
	buf := make([]byte, 1500)
	for i := range 50 {
		tone.Fill(pcm)
		payload := make([]byte, 160)
		codec.Encode(codec.PCMU, pcm, payload)
		ssrc := uint32(0xaaaa)
		if i >= 25 {
			ssrc = 0xcccc // the source changes mid-stream, e.g. a transfer
		}
		_, _ = pa.WriteToUDPAddrPort(rtpPacket(0, uint16(1000+i*7), uint32(i*160), ssrc, payload), a.Local())
		if i%10 == 0 { // B goes on talking
			_, _ = pb.WriteToUDPAddrPort(rtpPacket(8, uint16(100+i), uint32(i*160), 0xbbbb, make([]byte, 160)), b.Local())
		}
		_ = pb.SetReadDeadline(time.Now().Add(time.Second))
		n, err := pb.Read(buf)
		if err != nil {
			t.Fatalf("packet %d did not arrive: %v", i, err)
		}
		if buf[1]&0x7f != 8 {
			t.Fatalf("payload type %d, want 8", buf[1]&0x7f)
		}
		seqs = append(seqs, binary.BigEndian.Uint16(buf[2:]))
		ssrcs[binary.BigEndian.Uint32(buf[8:])] = true
		dec := make([]int16, n-12)
		codec.Decode(codec.PCMA, buf[12:n], dec)
		heard = append(heard, dec...)
	}
	if !mediatest.Dominates(heard, 1000) {
		t.Fatal("the 1 kHz tone did not survive PCMU -> PCMA")
	}
	if len(ssrcs) != 1 {
		t.Fatalf("the far end saw %d SSRCs", len(ssrcs))
	}
	for i := 1; i < len(seqs); i++ {
		if d := seqs[i] - seqs[i-1]; d == 0 || d > 7 {
			t.Fatalf("sequence jumps from %d to %d", seqs[i-1], seqs[i])
		}
	}
	// Sequence gaps of 7 on A's side count as loss.
	if st := a.Stats(); st.PacketsIn != 50 || st.Lost == 0 {
		t.Fatalf("A stats %+v", st)
	}
	if st, ok := waitStats(b, func(st Stats) bool { return st.PacketsOut == 50 }); !ok {
		t.Fatalf("B stats %+v", st)
	}

	// RFC 4733 events keep flowing, with B's payload type.
	_, _ = pa.WriteToUDPAddrPort(rtpPacket(101, 2000, 9000, 0xaaaa, []byte{5, 0x0a, 0, 160}), a.Local())
	_ = pb.SetReadDeadline(time.Now().Add(time.Second))
	n, err := pb.Read(buf)
	if err != nil || buf[1]&0x7f != 96 || buf[12] != 5 || n != 16 {
		t.Fatalf("dtmf relay: n=%d pt=%d err=%v", n, buf[1]&0x7f, err)
	}
}

func TestStatsLossAndWrap(t *testing.T) {
	var s rxStats
	now := time.Now()
	seqs := []uint16{65533, 65534, 65535, 0, 2, 3} // 1 is lost across the wrap
	for i, q := range seqs {
		s.observe(1, q, uint32(i*160), 172, now.Add(time.Duration(i)*20*time.Millisecond), true)
	}
	if s.lost.Load() != 1 {
		t.Fatalf("lost %d, want 1", s.lost.Load())
	}
	if s.jitterMs() > 1 {
		t.Fatalf("jitter %.2f ms for a steady stream", s.jitterMs())
	}
}

// BenchmarkForward measures the per-packet work of the relay (parse, count,
// transcode, rewrite) without the sockets. It must not allocate.
func BenchmarkForward(b *testing.B) {
	pool := newPool(b)
	src, _ := pool.NewLeg(loopback)
	dst, _ := pool.NewLeg(loopback)
	defer src.Close()
	defer dst.Close()
	src.SetRemote(Remote{Codec: codec.PCMU, PayloadType: 0, Receive: true})
	dst.SetRemote(Remote{Codec: codec.PCMA, PayloadType: 8, Receive: true})
	pkt := rtpPacket(0, 1, 0, 42, make([]byte, 160))
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	i := 0
	for b.Loop() {
		i++
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		pkt[1] = 0
		out, ok := forward(src, dst, pkt, now)
		if !ok {
			b.Fatal("dropped")
		}
		dst.rewrite(out, now)
	}
}

// BenchmarkRelaySockets pushes packets through a bridged pair of legs over
// loopback sockets, one packet in flight at a time.
func BenchmarkRelaySockets(b *testing.B) {
	pool := newPool(b)
	a, _ := pool.NewLeg(loopback)
	c, _ := pool.NewLeg(loopback)
	defer a.Close()
	defer c.Close()
	tx, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	rx, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer tx.Close()
	defer rx.Close()
	a.SetRemote(Remote{Addr: tx.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	c.SetRemote(Remote{Addr: rx.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	r := Bridge(a, c)
	defer r.Stop()
	pkt := rtpPacket(0, 1, 0, 42, make([]byte, 160))
	buf := make([]byte, 1500)
	dst := a.Local()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		_, _ = tx.WriteToUDPAddrPort(pkt, dst)
		_ = rx.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := rx.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdmitForward is the whole per-packet work of the relay for a
// packet from the locked peer: the source check, then BenchmarkForward's.
// It must not allocate.
func BenchmarkAdmitForward(b *testing.B) {
	pool := newPool(b)
	src, _ := pool.NewLeg(loopback)
	dst, _ := pool.NewLeg(loopback)
	defer src.Close()
	defer dst.Close()
	peer := netip.MustParseAddrPort("192.0.2.7:40000")
	src.SetRemote(Remote{Addr: peer, Codec: codec.PCMU, PayloadType: 0, Receive: true})
	dst.SetRemote(Remote{Addr: netip.MustParseAddrPort("192.0.2.8:40000"), Codec: codec.PCMA, PayloadType: 8, Receive: true})
	pkt := rtpPacket(0, 1, 0, 42, make([]byte, 160))
	now := time.Now()
	if !src.admit(peer, pkt, now) {
		b.Fatal("the signalled address was not admitted")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	i := 0
	for b.Loop() {
		i++
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		pkt[1] = 0
		if !src.admit(peer, pkt, now) {
			b.Fatal("the peer was dropped")
		}
		out, ok := forward(src, dst, pkt, now)
		if !ok {
			b.Fatal("dropped")
		}
		dst.rewrite(out, now)
	}
}

// BenchmarkAdmitStranger is the cost of dropping a packet from a source
// other than the locked peer (a spray): it must stay cheap and not allocate.
func BenchmarkAdmitStranger(b *testing.B) {
	pool := newPool(b)
	src, _ := pool.NewLeg(loopback)
	defer src.Close()
	peer := netip.MustParseAddrPort("192.0.2.7:40000")
	src.SetRemote(Remote{Addr: peer, Codec: codec.PCMU, PayloadType: 0, Receive: true})
	pkt := rtpPacket(0, 1, 0, 42, make([]byte, 160))
	now := time.Now()
	src.admit(peer, pkt, now)
	stranger := netip.MustParseAddrPort("198.51.100.9:5004")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		binary.BigEndian.PutUint16(pkt[2:], uint16(i*7))
		if src.admit(stranger, pkt, now) {
			b.Fatal("a stranger was admitted")
		}
	}
}
