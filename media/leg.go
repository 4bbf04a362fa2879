package media

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// Remote is what the far end of a leg negotiated.
type Remote struct {
	Addr        netip.AddrPort // from SDP; replaced by the source of received packets (symmetric RTP)
	Codec       codec.Codec
	PayloadType uint8
	DTMFType    uint8 // 0 when the far end does not do RFC 4733
	// Receive is false while the far end asked not to be sent media (hold).
	Receive bool
}

// Leg is the RTP endpoint of one call leg: a socket from the pool, the far
// end's parameters, counters, and the state that keeps the stream sent to the
// far end continuous whatever feeds it.
type Leg struct {
	pool  *PortPool
	conn  *net.UDPConn
	port  int
	local netip.AddrPort

	remote  atomic.Pointer[Remote]
	latched atomic.Pointer[netip.AddrPort]
	rx      rxStats

	packetsOut, bytesOut atomic.Uint64

	// tx is the outgoing stream's state; txMu serialises the relay and
	// injected audio (DTMF, prompts) feeding this leg. It is uncontended
	// while only the relay feeds the leg.
	txMu sync.Mutex
	tx   txState
	// injecting mutes the relay towards this leg while DTMF is played to it,
	// so the events' timestamps stay those of one source.
	injecting atomic.Bool

	closeOnce sync.Once
}

type txState struct {
	ssrc      uint32
	started   bool
	srcSSRC   uint32
	seqDelta  uint16
	tsDelta   uint32
	lastSeq   uint16
	lastTS    uint32
	lastWall  time.Time
	markerDue bool
}

// NewLeg opens an RTP endpoint on the next free port. advertise is the address
// put in SDP (the pool may bind to 0.0.0.0).
func (p *PortPool) NewLeg(advertise netip.Addr) (*Leg, error) {
	conn, port, err := p.listen()
	if err != nil {
		return nil, err
	}
	l := &Leg{pool: p, conn: conn, port: port, local: netip.AddrPortFrom(advertise, uint16(port))}
	l.tx.ssrc = rand.Uint32()
	return l, nil
}

// Local is the address to advertise in SDP.
func (l *Leg) Local() netip.AddrPort { return l.local }

// SetRemote applies what the far end negotiated (an answer or a re-INVITE).
func (l *Leg) SetRemote(r Remote) {
	prev := l.remote.Load()
	l.remote.Store(&r)
	if prev == nil || prev.Addr != r.Addr {
		// A new address in SDP: latch again on what arrives next.
		l.latched.Store(nil)
	}
}

// Remote returns the current far-end parameters, or nil before negotiation.
func (l *Leg) Remote() *Remote { return l.remote.Load() }

// Stats returns the leg's counters.
func (l *Leg) Stats() Stats {
	return Stats{
		PacketsIn: l.rx.packets.Load(), BytesIn: l.rx.bytes.Load(),
		PacketsOut: l.packetsOut.Load(), BytesOut: l.bytesOut.Load(),
		Lost: l.rx.lost.Load(), JitterMs: l.rx.jitterMs(),
	}
}

// LastReceived is when the last packet arrived (zero if none has).
func (l *Leg) LastReceived() time.Time {
	n := l.rx.lastRx.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Close releases the socket and its port.
func (l *Leg) Close() error {
	var err error
	l.closeOnce.Do(func() {
		err = l.conn.Close()
		l.pool.release(l.port)
	})
	return err
}

// destination is where packets for the far end go: the latched source, or the SDP address.
func (l *Leg) destination() (netip.AddrPort, bool) {
	if a := l.latched.Load(); a != nil {
		return *a, true
	}
	r := l.remote.Load()
	if r == nil || !r.Addr.IsValid() || r.Addr.Port() == 0 || r.Addr.Addr().IsUnspecified() {
		return netip.AddrPort{}, false
	}
	return r.Addr, true
}

// latch remembers the source of received packets as the far end's address
// (symmetric RTP, RFC 4961), so phones behind NAT are reached.
func (l *Leg) latch(src netip.AddrPort) {
	if a := l.latched.Load(); a != nil && *a == src {
		return
	}
	l.latched.Store(&src)
}

// read receives one packet; it returns the length and source.
func (l *Leg) read(buf []byte) (int, netip.AddrPort, error) {
	return l.conn.ReadFromUDPAddrPort(buf)
}

var errNoDestination = errors.New("media: far end has no address yet")

// send writes one RTP packet to the far end, rewriting its SSRC, sequence
// number and timestamp into this leg's continuous outgoing stream (RFC 3550
// §8.2 and §5.1: a change of source must not look like a jump).
func (l *Leg) send(pkt []byte, now time.Time) error {
	return l.write(pkt, now, false)
}

func (l *Leg) write(pkt []byte, now time.Time, injected bool) error {
	if l.injecting.Load() && !injected {
		return nil
	}
	r := l.remote.Load()
	if r == nil || !r.Receive {
		return nil
	}
	dst, ok := l.destination()
	if !ok {
		return errNoDestination
	}
	l.txMu.Lock()
	l.rewrite(pkt, now)
	n, err := l.conn.WriteToUDPAddrPort(pkt, dst)
	l.txMu.Unlock()
	if err == nil {
		l.packetsOut.Add(1)
		l.bytesOut.Add(uint64(n))
	}
	return err
}

func (l *Leg) rewrite(pkt []byte, now time.Time) {
	t := &l.tx
	srcSSRC := binary.BigEndian.Uint32(pkt[8:12])
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	if !t.started || srcSSRC != t.srcSSRC {
		// A new source: continue our stream right after what we last sent.
		nextSeq, nextTS := uint16(rand.Uint32()), rand.Uint32()
		if t.started {
			nextSeq = t.lastSeq + 1
			elapsed := now.Sub(t.lastWall)
			nextTS = t.lastTS + uint32(max(160, elapsed.Milliseconds()*8))
			t.markerDue = true
		}
		t.seqDelta = nextSeq - seq
		t.tsDelta = nextTS - ts
		t.srcSSRC = srcSSRC
		t.started = true
	}
	outSeq, outTS := seq+t.seqDelta, ts+t.tsDelta
	binary.BigEndian.PutUint16(pkt[2:4], outSeq)
	binary.BigEndian.PutUint32(pkt[4:8], outTS)
	binary.BigEndian.PutUint32(pkt[8:12], t.ssrc)
	if t.markerDue {
		pkt[1] |= 0x80
		t.markerDue = false
	}
	if int16(outSeq-t.lastSeq) > 0 || t.lastWall.IsZero() {
		t.lastSeq, t.lastTS, t.lastWall = outSeq, outTS, now
	}
}
