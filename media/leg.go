package media

import (
	"encoding/binary"
	"errors"
	"log/slog"
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
	// Addr is where the far end asked for RTP in SDP. Packets go there until
	// the leg locks onto the source the far end actually sends from
	// (symmetric RTP, RFC 4961), which is what reaches phones behind NAT.
	Addr        netip.AddrPort
	Codec       codec.Codec
	PayloadType uint8
	DTMFType    uint8 // 0 when the far end does not do RFC 4733
	// Receive is false while the far end asked not to be sent media (hold).
	Receive bool
	// Silent is true when the far end said it will not send (it negotiated
	// recvonly or inactive, RFC 3264 §6.1): its silence is no media timeout.
	Silent bool
}

// Leg is the RTP endpoint of one call leg: a socket from the pool, the far
// end's parameters, counters, and the state that keeps the stream sent to the
// far end continuous whatever feeds it.
type Leg struct {
	pool  *PortPool
	conn  *net.UDPConn
	port  int
	local netip.AddrPort
	log   *slog.Logger

	remote atomic.Pointer[Remote]
	// remoteMu serialises the writers of the far end's address: SetRemote
	// (signalling) and the read loop when it locks onto a source.
	remoteMu sync.Mutex
	sdpAddr  netip.AddrPort // the last usable address SDP named; under remoteMu
	// gen counts the addresses SDP named; the read loop starts latching
	// afresh when it changes.
	gen atomic.Uint32
	// dst is where packets for the far end go: the locked source, else the
	// SDP address; nil while there is neither.
	dst atomic.Pointer[destination]
	// peer is the source the leg is locked onto, nil while it is learning.
	peer atomic.Pointer[netip.AddrPort]
	// expectSince is when the far end last became expected to send (unix ns).
	expectSince atomic.Int64

	latch   latchState // owned by the read loop
	rx      rxStats
	dropped atomic.Uint64

	packetsOut, bytesOut atomic.Uint64

	// tx is the outgoing stream's state; txMu serialises the relay and
	// injected audio (DTMF, prompts) feeding this leg. It is uncontended
	// while only the relay feeds the leg.
	txMu sync.Mutex
	tx   txState
	// injecting mutes the relay towards this leg while DTMF is played to it,
	// so the events' timestamps stay those of one source.
	injecting atomic.Bool
	// turns are the slots that let one SendDTMF and one Play run at a time
	// (made by the first of them: most legs only relay). dtmf, owned by the
	// holder of the DTMF slot, is the state of the events' own stream, which
	// goes on from one SendDTMF to the next.
	turns atomic.Pointer[legTurns]
	dtmf  eventStream
	// playing counts the players sending to this leg; the relay's packets
	// towards it are dropped meanwhile.
	playing atomic.Int32
	// readers counts what reads the leg's socket: relays and listeners.
	readers atomic.Int32
	// relay is the relay reading the leg, stopped before the socket closes;
	// fd is the socket's descriptor, read and written directly on Linux,
	// and v6 whether it is an IPv6 socket (IPv4 peers are then v4-mapped).
	relay atomic.Pointer[Relay]
	fd    int
	v6    bool

	closeOnce sync.Once
}

// legTurns holds a leg's turn to send DTMF and its turn to play: a slot is
// taken by sending into it and given back by receiving from it.
type legTurns struct{ dtmf, play chan struct{} }

// slots returns the leg's turns, made on first use.
func (l *Leg) slots() *legTurns {
	if t := l.turns.Load(); t != nil {
		return t
	}
	t := &legTurns{dtmf: make(chan struct{}, 1), play: make(chan struct{}, 1)}
	if l.turns.CompareAndSwap(nil, t) {
		return t
	}
	return l.turns.Load()
}

// destination is an address the leg sends to; self marks one of the PBX's
// own addresses, where the send path checks for a loop into its own sockets.
type destination struct {
	addr netip.AddrPort
	self bool
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

// LegOption adjusts a new leg.
type LegOption func(*Leg)

// WithLogger makes the leg log through log (a call's logger, say); by
// default it logs nothing.
func WithLogger(log *slog.Logger) LegOption {
	return func(l *Leg) {
		if log != nil {
			l.log = log
		}
	}
}

// NewLeg opens an RTP endpoint on a free port picked at random. advertise is
// the address put in SDP (the pool may bind to 0.0.0.0).
func (p *PortPool) NewLeg(advertise netip.Addr, opts ...LegOption) (*Leg, error) {
	conn, port, err := p.listen()
	if err != nil {
		return nil, err
	}
	l := &Leg{pool: p, conn: conn, port: port, local: netip.AddrPortFrom(advertise, uint16(port)),
		log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(l)
	}
	l.tx.ssrc = rand.Uint32()
	l.fd = -1
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { l.fd, l.v6 = int(fd), isIPv6Socket(int(fd)) })
	}
	return l, nil
}

// Local is the address to advertise in SDP.
func (l *Leg) Local() netip.AddrPort { return l.local }

// SetRemote applies what the far end negotiated (an answer or a re-INVITE).
// A new address in SDP starts latching afresh; an unspecified one (the
// RFC 2543 hold convention, RFC 3264 §8.4) keeps the source the leg is
// locked onto.
func (l *Leg) SetRemote(r Remote) {
	l.remoteMu.Lock()
	defer l.remoteMu.Unlock()
	prev := l.remote.Load()
	l.remote.Store(&r)
	if !r.Silent && (prev == nil || prev.Silent) {
		l.expectSince.Store(time.Now().UnixNano())
	}
	a := r.Addr
	if !a.IsValid() || a.Port() == 0 || a.Addr().IsUnspecified() || a == l.sdpAddr {
		return
	}
	l.sdpAddr = a
	l.gen.Add(1)
	l.peer.Store(nil)
	l.dst.Store(&destination{addr: a, self: l.pool.isSelfAddr(a.Addr())})
}

// Remote returns the current far-end parameters, or nil before negotiation.
func (l *Leg) Remote() *Remote { return l.remote.Load() }

// Peer is the source address the leg is locked onto; false while it has
// not locked onto any.
func (l *Leg) Peer() (netip.AddrPort, bool) {
	if p := l.peer.Load(); p != nil {
		return *p, true
	}
	return netip.AddrPort{}, false
}

// Stats returns the leg's counters.
func (l *Leg) Stats() Stats {
	return Stats{
		PacketsIn: l.rx.packets.Load(), BytesIn: l.rx.bytes.Load(),
		PacketsOut: l.packetsOut.Load(), BytesOut: l.bytesOut.Load(),
		Lost: l.rx.lost.Load(), JitterMs: l.rx.jitterMs(), Dropped: l.dropped.Load(),
	}
}

// LastReceived is when the last packet from the far end arrived (zero if
// none has).
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
		if r := l.relay.Load(); r != nil {
			r.Stop() // before its descriptor can be reused
		}
		// Nothing sends on the raw descriptor once it may be reused:
		// later sends go through the closed socket and fail.
		l.txMu.Lock()
		l.fd = -1
		l.txMu.Unlock()
		err = l.conn.Close()
		l.pool.release(l.port)
	})
	return err
}

// read receives one packet; it returns the length and source. An IPv4
// source on a dual-stack socket (a pool bound to a wildcard address) comes
// out as IPv4, as SDP names it, so the latch knows it from the first packet.
func (l *Leg) read(buf []byte) (int, netip.AddrPort, error) {
	n, from, err := l.conn.ReadFromUDPAddrPort(buf)
	if from.Addr().Is4In6() {
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	}
	return n, from, err
}

var (
	errNoDestination = errors.New("media: far end has no address yet")
	errLoop          = errors.New("media: far end's address is one of the PBX's own sockets")
)

// send writes one RTP packet to the far end, rewriting its SSRC, sequence
// number and timestamp into this leg's continuous outgoing stream (RFC 3550
// §8.2 and §5.1: a change of source must not look like a jump).
func (l *Leg) send(pkt []byte, now time.Time) error {
	return l.write(pkt, now, false)
}

func (l *Leg) write(pkt []byte, now time.Time, injected bool) error {
	if !injected && (l.injecting.Load() || l.playing.Load() != 0) {
		return nil
	}
	return l.transmit(pkt, now)
}

// transmit sends one packet of whatever source to the far end, in its
// continuous stream.
func (l *Leg) transmit(pkt []byte, now time.Time) error {
	r := l.remote.Load()
	if r == nil || !r.Receive {
		return nil
	}
	d := l.dst.Load()
	if d == nil {
		return errNoDestination
	}
	if d.self && l.pool.selfPort(d.addr.Port()) {
		// Never into one of the PBX's own sockets, whatever signalling said.
		return errLoop
	}
	l.txMu.Lock()
	l.rewrite(pkt, now)
	n, err := l.sendto(pkt, d.addr)
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
