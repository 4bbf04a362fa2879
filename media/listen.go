package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/dtmf"
)

// ErrLegBusy means something else already reads the leg (a relay or
// another Listen).
var ErrLegBusy = errors.New("media: the leg is already being read")

// Listener takes what a leg's far end sends while Listen reads the leg.
// Its methods run on Listen's goroutine, one at a time, and must not block.
type Listener interface {
	// Audio gets each audio packet decoded to 8 kHz mono 16-bit samples, in
	// arrival order. pcm is reused once Audio returns.
	Audio(pcm []int16)
	// Digit gets each key press once: from RFC 4733 events, or from in-band
	// tones when the far end negotiated no telephone-event.
	Digit(d byte)
}

// Listen reads the leg's socket until ctx ends (then it returns ctx.Err())
// or the leg closes, and hands what the far end sends to h. Packets pass the
// same source check (strict latching) and counters as in a relay, so the
// media timeout keeps working. A leg is read by one thing at a time: Listen
// returns ErrLegBusy while a relay or another Listen reads it; Bridge the
// leg only after Listen returned.
func (l *Leg) Listen(ctx context.Context, h Listener) error {
	if !l.readers.CompareAndSwap(0, 1) {
		return ErrLegBusy
	}
	defer l.readers.Add(-1)
	if err := ctx.Err(); err != nil {
		return err
	}
	_ = l.conn.SetReadDeadline(time.Time{})
	// Unblock the read when ctx ends, as Relay.Stop does; wait for that to
	// be done before returning so no deadline lands on the next reader.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = l.conn.SetReadDeadline(time.Now())
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()

	ls := newListening(h)
	buf := make([]byte, 1500)
	for {
		n, from, err := l.read(buf)
		if err != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// A deadline that is not ours: clear it, unless ctx ended
				// meanwhile and set its own.
				_ = l.conn.SetReadDeadline(time.Time{})
				if err := ctx.Err(); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("media: listen: %w", err)
		}
		now := time.Now()
		if !l.admit(from, buf[:n], now) {
			continue
		}
		ls.packet(l, buf[:n], now)
	}
}

// listening is Listen's per-packet state, reused for every packet.
type listening struct {
	h    Listener
	emit func(byte)
	det  dtmf.Detector
	ev   eventState
	pcm  [1500]int16
}

func newListening(h Listener) *listening {
	return &listening{h: h, emit: h.Digit}
}

// packet decodes one admitted packet and hands it on. It allocates nothing.
func (ls *listening) packet(l *Leg, pkt []byte, now time.Time) {
	hlen, end, ok := rtpBounds(pkt)
	if !ok {
		return
	}
	payload := pkt[hlen:end]
	r := l.remote.Load()
	if r == nil {
		return
	}
	pt := pkt[1] & 0x7f
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	if r.DTMFType != 0 && pt == r.DTMFType {
		l.rx.observe(ssrc, seq, ts, len(pkt), now, false)
		if d, ok := ls.ev.digit(ssrc, ts, payload); ok {
			ls.h.Digit(d)
		}
		return
	}
	in := codec.FromPayloadType(pt)
	if pt == r.PayloadType {
		in = r.Codec
	}
	if in == codec.Unknown {
		return // comfort noise and codecs we did not negotiate
	}
	l.rx.observe(ssrc, seq, ts, len(pkt), now, true)
	pcm := ls.pcm[:min(len(payload), len(ls.pcm))]
	codec.Decode(in, payload[:len(pcm)], pcm)
	ls.h.Audio(pcm)
	if r.DTMFType == 0 {
		ls.det.Feed(pcm, ls.emit)
	}
}

// eventState turns RFC 4733 packets into key presses: every packet of one
// event carries the event's timestamp (§2.5.1.1), so a new timestamp is a
// new press, whichever of its packets (start, update, end or a retransmitted
// end, §2.5.1.4) arrives first.
type eventState struct {
	have  bool
	ssrc  uint32
	ts    uint32
	code  uint8
	ended bool
	dur   uint32 // the longest duration seen for the event
}

// digit reports the digit of a packet that starts a new key press.
func (e *eventState) digit(ssrc, ts uint32, payload []byte) (byte, bool) {
	ev, err := dtmf.Parse(payload)
	if err != nil {
		return 0, false
	}
	if e.have && ssrc == e.ssrc && int32(ts-e.ts) <= 0 {
		if ts == e.ts {
			e.ended = e.ended || ev.End
			e.dur = max(e.dur, uint32(ev.Duration))
		}
		return 0, false // the same event again, or a late packet of an earlier one
	}
	// A press longer than the duration field holds goes on in a new segment
	// whose timestamp follows the last one's (§2.5.2.3): the same press.
	more := e.have && ssrc == e.ssrc && !e.ended && ev.Code == e.code && ts == e.ts+e.dur
	*e = eventState{have: true, ssrc: ssrc, ts: ts, code: ev.Code, ended: ev.End, dur: uint32(ev.Duration)}
	if more {
		return 0, false
	}
	d := dtmf.Digit(ev.Code)
	return d, d != 0
}

// DigitBuffer is a ready-made Listener: it keeps digits in a bounded
// channel for the call engine to read, and passes audio on to a sink that
// can be attached and detached while the leg is listened to (a recording).
type DigitBuffer struct {
	digits  chan byte
	dropped atomic.Uint64
	sink    atomic.Pointer[sinkSlot]
}

// sinkSlot is one attached sink; its lock lets Detach wait out a write in
// progress, so the caller may close the sink right after.
type sinkSlot struct {
	mu     sync.Mutex
	sink   Sink
	err    error
	closed bool
}

// DefaultDigitBuffer is the number of digits a DigitBuffer holds when
// NewDigitBuffer is given no size.
const DefaultDigitBuffer = 32

// NewDigitBuffer returns a buffer for size digits (DefaultDigitBuffer when
// size < 1). Digits pressed while it is full are dropped and counted.
func NewDigitBuffer(size int) *DigitBuffer {
	if size < 1 {
		size = DefaultDigitBuffer
	}
	return &DigitBuffer{digits: make(chan byte, size)}
}

// Digits delivers the key presses in order.
func (b *DigitBuffer) Digits() <-chan byte { return b.digits }

// Digit buffers d, or drops it when the buffer is full.
func (b *DigitBuffer) Digit(d byte) {
	select {
	case b.digits <- d:
	default:
		b.dropped.Add(1)
	}
}

// Dropped is how many digits arrived while the buffer was full.
func (b *DigitBuffer) Dropped() uint64 { return b.dropped.Load() }

// Clear discards the buffered digits (type-ahead the caller should not
// carry into the next question).
func (b *DigitBuffer) Clear() {
	for {
		select {
		case <-b.digits:
		default:
			return
		}
	}
}

// Audio passes pcm to the attached sink, if any. The first error of a sink
// stops writes to it; Detach returns it.
func (b *DigitBuffer) Audio(pcm []int16) {
	s := b.sink.Load()
	if s == nil {
		return
	}
	s.mu.Lock()
	if !s.closed && s.err == nil {
		s.err = s.sink.WriteSamples(pcm)
	}
	s.mu.Unlock()
}

// Attach starts passing audio to sink, replacing (and detaching) the sink
// attached before; it returns that one's error, as Detach does.
func (b *DigitBuffer) Attach(sink Sink) error {
	return detach(b.sink.Swap(&sinkSlot{sink: sink}))
}

// Detach stops passing audio on. When it returns no write to the sink is in
// progress or will follow. It returns the first error the sink returned.
func (b *DigitBuffer) Detach() error {
	return detach(b.sink.Swap(nil))
}

func detach(s *sinkSlot) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.err
}

var _ Listener = (*DigitBuffer)(nil)
