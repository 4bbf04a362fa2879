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
// 100 ms each with 80 ms between digits (also between one call's last digit
// and the next call's first). It blocks until sent; calls on one leg take
// turns, so digits from two senders never interleave. When ctx ends it
// stops: no event starts after that, and an event under way is ended at
// once (its end packets sent), so the far end hears no stuck tone.
//
// The events are a stream of their own (the leg's audio stream stays
// continuous), one for the life of the leg: its timestamps follow the clock
// from one call to the next, so two events never overlap (RFC 4733 §2.5.1.3).
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
	slot := l.slots().dtmf
	if err := takeTurn(ctx, slot); err != nil {
		return err
	}
	defer func() { <-slot }()
	l.injecting.Store(true)
	defer l.injecting.Store(false)
	for _, code := range codes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if gap := time.Until(l.dtmf.ended.Add(eventGap)); gap > 0 {
			if err := pause(ctx, gap); err != nil {
				return err
			}
		}
		if err := l.sendEvent(ctx, r.DTMFType, code); err != nil {
			return err
		}
	}
	return nil
}

// sendEvent sends one event: five packets of growing duration, then the end
// packet three times, 20 ms apart. When ctx ends meanwhile it sends the end
// packets at once and returns ctx's error.
func (l *Leg) sendEvent(ctx context.Context, pt, code uint8) error {
	st := &l.dtmf
	st.next(time.Now())
	pkt := make([]byte, 12, 16)
	var cut error
	duration, ends := uint16(0), 0
	for j := 0; ends < 3; j++ {
		if cut == nil && j < 5 {
			duration += 160
		}
		end := j >= 5 || cut != nil
		pkt = pkt[:12]
		pkt[0], pkt[1] = 0x80, pt
		if j == 0 {
			pkt[1] |= 0x80
		}
		st.seq++
		binary.BigEndian.PutUint16(pkt[2:], st.seq)
		binary.BigEndian.PutUint32(pkt[4:], st.ts)
		binary.BigEndian.PutUint32(pkt[8:], st.ssrc)
		pkt = dtmf.Event{Code: code, Volume: 10, Duration: duration, End: end}.Append(pkt)
		if err := l.write(pkt, time.Now(), true); err != nil && !errors.Is(err, errNoDestination) {
			return err // the leg is closed, or its socket failed
		}
		if end {
			ends++
		}
		if cut == nil && ends < 3 {
			cut = pause(ctx, 20*time.Millisecond)
		}
	}
	st.ended = time.Now()
	return cut
}

// takeTurn takes slot, a channel of one that lets one sender at a time use
// a leg, once it is free; it returns ctx's error if ctx ends first. <-slot
// gives it back.
func takeTurn(ctx context.Context, slot chan struct{}) error {
	select {
	case slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// eventGap is the silence between two events sent to a leg.
const eventGap = 80 * time.Millisecond

// pause waits d, or returns ctx's error when it ends first.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// eventStream is the RTP state of a leg's injected events.
type eventStream struct {
	ssrc  uint32
	seq   uint16
	ts    uint32    // the timestamp of the current event
	start time.Time // when the current event began; zero before the first
	ended time.Time // when the last event's end packets went out
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
