package media

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

const (
	// FrameSamples is the audio of one packet Play sends: 20 ms at 8 kHz,
	// the default G.711 packetisation (RFC 3551 §4.5).
	FrameSamples = 160
	frameTime    = 20 * time.Millisecond
	// maxLag is how far Play may fall behind its clock (a stalled process)
	// before it resumes from now instead of sending the backlog in a burst.
	maxLag = 200 * time.Millisecond
)

// Play sends pcm (8 kHz mono 16-bit) to the leg's far end as RTP in the
// codec it negotiated, one 20 ms packet at a time paced against the start
// time, the last frame padded with silence. It returns nil once the audio
// has played, or, with loop (music on hold), plays it again and again until
// ctx ends; it returns ctx.Err() when ctx ends first.
//
// The prompt is a source of its own in the leg's continuous outgoing stream,
// so the far end sees one SSRC and a sequence and timestamps that carry on
// across relay, prompt and relay. While Play runs the relay's packets to this
// leg are dropped: the far end hears only the prompt (and DTMF that SendDTMF
// plays, which takes precedence over it). A far end that asked not to
// receive (hold) is sent nothing, but Play keeps time all the same.
//
// One Play runs on a leg at a time: a second waits for the first to end
// (or its own ctx to end), so prompts queue up rather than overlap.
func (l *Leg) Play(ctx context.Context, pcm []int16, loop bool) error {
	slot := l.slots().play
	if err := takeTurn(ctx, slot); err != nil {
		return err
	}
	defer func() { <-slot }()
	l.playing.Add(1)
	defer l.playing.Add(-1)

	p := newPlayer(pcm, loop)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for n := 0; ; n++ {
		// Frame n is due n frames after the start; the loop waits out the
		// last frame before it returns, so the next Play (or the relay)
		// follows it in time.
		due := start.Add(time.Duration(n) * frameTime)
		switch wait := time.Until(due); {
		case wait > 0:
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		case wait < -maxLag:
			start = start.Add(-wait)
			fallthrough
		default:
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !p.more() {
			return nil
		}
		if err := l.playFrame(p, time.Now()); err != nil {
			return err
		}
	}
}

// playFrame sends the player's next frame, or lets it pass unsent while the
// far end takes no media or DTMF is being played to it.
func (l *Leg) playFrame(p *player, now time.Time) error {
	r := l.remote.Load()
	if r == nil || !r.Receive || l.injecting.Load() {
		p.skip()
		return nil
	}
	err := l.transmit(p.build(r), now)
	switch {
	case err == nil, errors.Is(err, errNoDestination):
		return nil
	case errors.Is(err, net.ErrClosed), errors.Is(err, errLoop):
		return err
	}
	return nil // a transient send error loses one packet, as the network would
}

// player cuts samples into RTP packets in one reused buffer.
type player struct {
	pcm  []int16
	loop bool
	pos  int

	ssrc uint32
	seq  uint16
	ts   uint32
	sent bool

	frame [FrameSamples]int16
	pkt   [12 + FrameSamples]byte
}

func newPlayer(pcm []int16, loop bool) *player {
	return &player{pcm: pcm, loop: loop, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
}

// more reports whether samples remain to be sent.
func (p *player) more() bool { return p.loop || p.pos < len(p.pcm) }

// fill takes the next frame of samples: wrapping round when looping,
// padded with silence at the end otherwise.
func (p *player) fill() {
	f := p.frame[:]
	for len(f) > 0 {
		if p.pos >= len(p.pcm) {
			if !p.loop || len(p.pcm) == 0 {
				clear(f)
				p.pos = len(p.pcm)
				return
			}
			p.pos = 0
		}
		k := copy(f, p.pcm[p.pos:])
		p.pos += k
		f = f[k:]
	}
}

// skip lets one frame's time pass without a packet: the timestamp advances
// with the sampling clock, the sequence number only with packets sent
// (RFC 3550 §5.1).
func (p *player) skip() {
	p.fill()
	p.ts += FrameSamples
}

// build encodes the next frame for r into the packet buffer; the marker
// bit flags the prompt's first packet (RFC 3551 §4.1). It allocates nothing.
func (p *player) build(r *Remote) []byte {
	p.fill()
	b := p.pkt[:]
	codec.Encode(r.Codec, p.frame[:], b[12:])
	b[0], b[1] = 0x80, r.PayloadType&0x7f
	if !p.sent {
		b[1] |= 0x80
	}
	b[2], b[3] = byte(p.seq>>8), byte(p.seq)
	b[4], b[5], b[6], b[7] = byte(p.ts>>24), byte(p.ts>>16), byte(p.ts>>8), byte(p.ts)
	b[8], b[9], b[10], b[11] = byte(p.ssrc>>24), byte(p.ssrc>>16), byte(p.ssrc>>8), byte(p.ssrc)
	p.seq++
	p.ts += FrameSamples
	p.sent = true
	return b
}
