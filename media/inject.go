package media

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/dialtone-pbx/dialtone/media/dtmf"
)

// ErrNoTelephoneEvent means the far end did not negotiate RFC 4733.
var ErrNoTelephoneEvent = errors.New("media: the far end does not accept RFC 4733 events")

// SendDTMF plays digits to the far end as RFC 4733 events (§2.5: one
// timestamp per event, growing durations, the end packet sent three times),
// 100 ms each with 60 ms between digits. It blocks until sent; calls on one
// leg take turns, so digits from two senders never interleave.
//
// The events go out in a stream of their own (the leg's audio stream stays
// continuous), one stream for the life of the leg: the same SSRC, sequence
// numbers and timestamps going on from one call to the next, so the far end
// sees one source, not a new one per digit (RFC 3550 §6.4.1, §A.1).
func (l *Leg) SendDTMF(ctx context.Context, digits string) error {
	r := l.remote.Load()
	if r == nil || r.DTMFType == 0 {
		return ErrNoTelephoneEvent
	}
	codes := make([]uint8, len(digits))
	for i := 0; i < len(digits); i++ {
		c, ok := dtmf.Code(digits[i])
		if !ok {
			return errors.New("media: not a DTMF digit: " + string(digits[i]))
		}
		codes[i] = c
	}
	l.dtmfMu.Lock()
	defer l.dtmfMu.Unlock()
	l.injecting.Store(true)
	defer l.injecting.Store(false)
	st := &l.dtmf
	pkt := make([]byte, 12, 16)
	for _, code := range codes {
		st.next(time.Now())
		for j := range 8 {
			e := dtmf.Event{Code: code, Volume: 10, Duration: uint16(min(j+1, 5) * 160), End: j >= 5}
			pkt = pkt[:12]
			pkt[0], pkt[1] = 0x80, r.DTMFType
			if j == 0 {
				pkt[1] |= 0x80
			}
			st.seq++
			binary.BigEndian.PutUint16(pkt[2:], st.seq)
			binary.BigEndian.PutUint32(pkt[4:], st.ts)
			binary.BigEndian.PutUint32(pkt[8:], st.ssrc)
			pkt = e.Append(pkt)
			if err := l.write(pkt, time.Now(), true); err != nil && !errors.Is(err, errNoDestination) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(60 * time.Millisecond):
		}
	}
	return nil
}

// eventStream is the RTP state of a leg's injected events.
type eventStream struct {
	ssrc  uint32
	seq   uint16
	ts    uint32    // the timestamp of the current event
	start time.Time // when the current event began; zero before the first
}

// eventSamples is how far an event's timestamp is ahead of the one before
// at least: the 100 ms (at 8 kHz) an event lasts, so two never overlap.
const eventSamples = 800

// next starts an event at now. The first starts the stream at random
// values (RFC 3550 §5.1); each later one is stamped with the time passed
// since the one before, at 8 kHz, so timestamps keep pace with time across
// pauses between digits and between calls.
func (s *eventStream) next(now time.Time) {
	if s.start.IsZero() {
		s.ssrc, s.seq, s.ts = rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()
		s.start = now
		return
	}
	s.ts += uint32(max(eventSamples, now.Sub(s.start)/(time.Second/8000)))
	s.start = now
}
