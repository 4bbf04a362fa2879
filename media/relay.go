package media

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// Relay carries RTP both ways between two legs, transcoding PCMU<->PCMA and
// mapping telephone-event payload types when the legs negotiated differently.
//
// On Linux the relays share a few event loops (relayloop_linux.go), one per
// CPU, instead of two goroutines each: a packet costs one receive and one
// send, no goroutine wakes up for it, and a call holds no stack or buffer of
// its own. Elsewhere each direction has a goroutine (relay_pump.go).
type Relay struct {
	a, b    *Leg
	stopped atomic.Bool
	once    sync.Once
	// tap, when set, records both directions (see Tap); one atomic load
	// per packet while it is not.
	tap atomic.Pointer[mixer]
	run relayRun // what moves the packets: loop registrations or pumps
}

// Bridge starts relaying between a and b. It returns at once; Stop ends it.
// Nothing else may read the legs meanwhile (a Listen, Discard, another
// relay): a Listen started on a bridged leg returns ErrLegBusy.
func Bridge(a, b *Leg) *Relay {
	r := &Relay{a: a, b: b}
	for _, l := range [2]*Leg{a, b} {
		if l.readers.Add(1) > 1 {
			l.log.Error("rtp leg read by a relay and another reader", "port", l.port)
		}
		// A leg may come back to a relay after a Stop or a Listen left a
		// deadline in the past.
		_ = l.conn.SetReadDeadline(time.Time{})
		l.relay.Store(r)
	}
	r.start()
	return r
}

// Stop ends the relay and waits until no packet of it is being handled. It
// does not close the legs.
func (r *Relay) Stop() {
	r.once.Do(func() {
		r.stopped.Store(true)
		r.stop()
		for _, l := range [2]*Leg{r.a, r.b} {
			l.relay.CompareAndSwap(r, nil)
			l.readers.Add(-1)
		}
	})
	r.wait()
}

// handle relays one packet received on src from the far end at from
// towards dst; dir (0: a to b, 1: b to a) names the direction for the tap.
// It allocates nothing.
func (r *Relay) handle(src, dst *Leg, dir int, pkt []byte, from netip.AddrPort, now time.Time) {
	if !src.admit(from, pkt, now) {
		return // not the far end: never relayed, never counted
	}
	out, ok := forward(src, dst, pkt, now)
	if !ok {
		return
	}
	if m := r.tap.Load(); m != nil {
		m.add(dir, out, dst)
	}
	_ = dst.send(out, now)
}

// rtpBounds finds the payload of an RTP packet: it starts at hlen, past the
// fixed header, CSRCs and header extension (RFC 3550 §5.1, §5.3.1), and
// ends at end, before any padding. It reports false for what is not RTP or
// is RTCP sharing the port (RFC 5761 §4). It allocates nothing.
func rtpBounds(pkt []byte) (hlen, end int, ok bool) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return 0, 0, false
	}
	if pt := pkt[1] & 0x7f; pt >= 72 && pt <= 76 {
		return 0, 0, false
	}
	hlen = 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < hlen+4 {
			return 0, 0, false
		}
		hlen += 4 + 4*int(binary.BigEndian.Uint16(pkt[hlen+2:hlen+4]))
	}
	end = len(pkt)
	if pkt[0]&0x20 != 0 {
		pad := int(pkt[end-1])
		if pad == 0 {
			return 0, 0, false
		}
		end -= pad
	}
	if end < hlen {
		return 0, 0, false
	}
	return hlen, end, true
}

// forward checks one packet received on src and prepares it for dst in place.
// It reports false for packets to drop. It allocates nothing.
func forward(src, dst *Leg, pkt []byte, now time.Time) ([]byte, bool) {
	hlen, end, ok := rtpBounds(pkt)
	if !ok {
		return nil, false
	}
	pt := pkt[1] & 0x7f
	if end < len(pkt) { // padding
		pkt = pkt[:end]
		pkt[0] &^= 0x20
	}
	sr, dr := src.remote.Load(), dst.remote.Load()
	if sr == nil || dr == nil {
		return nil, false
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	marker := pkt[1] & 0x80
	switch {
	case sr.DTMFType != 0 && pt == sr.DTMFType:
		src.rx.observe(ssrc, seq, ts, len(pkt), now, false)
		if dr.DTMFType == 0 {
			return nil, false // the far end cannot take RFC 4733
		}
		pkt[1] = marker | dr.DTMFType
	default:
		in := codec.FromPayloadType(pt)
		if pt == sr.PayloadType {
			in = sr.Codec
		}
		if in == codec.Unknown {
			return nil, false // comfort noise and codecs we did not negotiate
		}
		src.rx.observe(ssrc, seq, ts, len(pkt), now, true)
		if in != dr.Codec {
			codec.Transcode(pkt[hlen:], in, dr.Codec)
		}
		pkt[1] = marker | dr.PayloadType
	}
	if hlen > 12 {
		// Drop CSRCs and extensions: this leg's stream has one source, us.
		copy(pkt[12:], pkt[hlen:])
		pkt = pkt[:len(pkt)-(hlen-12)]
		pkt[0] &^= 0x1f
	}
	return pkt, true
}

// WatchMedia calls onIdle once, with the leg, when a leg whose far end is
// expected to send has received nothing for idle, whatever the other legs
// receive. A far end that negotiated not to send (recvonly or inactive,
// RFC 3264 §6.1) is not waited for; the wait starts again when it becomes
// expected to send. It returns at once: the legs are looked at from a timer,
// with no goroutine of their own, until onIdle is called or stop is. A
// watch lasts as long as its call, so it holds no more than the timer: no
// context, which would cost a context and its parent's bookkeeping per call.
func WatchMedia(idle time.Duration, onIdle func(*Leg), legs ...*Leg) (stop func()) {
	w := &mediaWatch{start: time.Now(), idle: idle, onIdle: onIdle, legs: legs,
		every: max(min(idle/4, 5*time.Second), 10*time.Millisecond)}
	w.mu.Lock()
	w.timer = time.AfterFunc(w.every, w.check)
	w.mu.Unlock()
	return w.stop
}

// mediaWatch is one WatchMedia.
type mediaWatch struct {
	start  time.Time
	idle   time.Duration
	every  time.Duration
	onIdle func(*Leg)
	legs   []*Leg

	mu    sync.Mutex
	timer *time.Timer
	done  bool
}

func (w *mediaWatch) check() {
	now := time.Now()
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	for _, l := range w.legs {
		if l.silentFor(now, w.start) >= w.idle {
			w.done = true
			w.mu.Unlock()
			w.onIdle(l)
			return
		}
	}
	w.timer.Reset(w.every)
	w.mu.Unlock()
}

func (w *mediaWatch) stop() {
	w.mu.Lock()
	w.done = true
	w.timer.Stop()
	w.mu.Unlock()
}

// silentFor is how long the far end, expected to send, has sent nothing
// (counted from since at the earliest); zero when it is not expected to send.
func (l *Leg) silentFor(now, since time.Time) time.Duration {
	r := l.remote.Load()
	if r == nil || r.Silent {
		return 0
	}
	last := since
	if t := time.Unix(0, l.expectSince.Load()); t.After(last) {
		last = t
	}
	if t := l.LastReceived(); t.After(last) {
		last = t
	}
	return now.Sub(last)
}
