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
// 100 ms each with 60 ms between digits. It blocks until sent.
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
	l.injecting.Store(true)
	defer l.injecting.Store(false)
	ssrc := rand.Uint32() // a source of its own: the leg's stream stays continuous
	var seq uint16
	ts := rand.Uint32()
	pkt := make([]byte, 12, 16)
	for _, code := range codes {
		ts += 800
		for j := range 8 {
			e := dtmf.Event{Code: code, Volume: 10, Duration: uint16(min(j+1, 5) * 160), End: j >= 5}
			pkt = pkt[:12]
			pkt[0], pkt[1] = 0x80, r.DTMFType
			if j == 0 {
				pkt[1] |= 0x80
			}
			seq++
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], ts)
			binary.BigEndian.PutUint32(pkt[8:], ssrc)
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
