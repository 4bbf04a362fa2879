package media

import (
	"sync/atomic"
	"time"
)

// Stats are the counters of one leg, as seen by the PBX.
type Stats struct {
	PacketsIn  uint64
	BytesIn    uint64
	PacketsOut uint64
	BytesOut   uint64
	// Lost is the number of packets missing from the received sequence (RFC 3550 §6.4.1).
	Lost uint64
	// JitterMs is the interarrival jitter of the received stream (RFC 3550 §6.4.1).
	JitterMs float64
	// Dropped counts packets refused before the relay looked at them: from
	// sources other than the far end, or not RTP.
	Dropped uint64
}

// rxStats is written only by the leg's read loop; others read it atomically.
type rxStats struct {
	packets, bytes atomic.Uint64
	lost           atomic.Uint64
	jitter         atomic.Uint64 // in 1/16 timestamp units (RFC 3550 A.8)
	lastRx         atomic.Int64  // unix nanoseconds

	// owned by the read loop
	started  bool
	ssrc     uint32
	baseSeq  uint32
	maxSeq   uint32 // extended
	received uint64
	transit  int64
}

// observe updates the counters for one received audio packet (RFC 3550 A.1, A.8).
func (s *rxStats) observe(ssrc uint32, seq uint16, ts uint32, size int, now time.Time, audio bool) {
	s.packets.Add(1)
	s.bytes.Add(uint64(size))
	s.lastRx.Store(now.UnixNano())
	if !s.started || ssrc != s.ssrc {
		s.started, s.ssrc = true, ssrc
		s.baseSeq, s.maxSeq = uint32(seq), uint32(seq)
		s.received = 1
		s.transit = 0
		return
	}
	s.received++
	cycles := s.maxSeq &^ 0xffff
	ext := cycles | uint32(seq)
	// Pick the extension closest to the highest sequence seen so far.
	if d := int32(ext - s.maxSeq); d < -0x8000 {
		ext += 0x10000
	} else if d > 0x8000 {
		ext -= 0x10000
	}
	if int32(ext-s.maxSeq) > 0 {
		s.maxSeq = ext
	}
	expected := uint64(s.maxSeq-s.baseSeq) + 1
	if expected > s.received {
		s.lost.Store(expected - s.received)
	} else {
		s.lost.Store(0)
	}
	if !audio {
		return
	}
	arrival := now.UnixNano() * 8000 / int64(time.Second)
	transit := arrival - int64(ts)
	if s.transit != 0 {
		d := transit - s.transit
		if d < 0 {
			d = -d
		}
		j := int64(s.jitter.Load())
		j += d - (j+8)>>4
		if j < 0 {
			j = 0
		}
		s.jitter.Store(uint64(j))
	}
	s.transit = transit
}

func (s *rxStats) jitterMs() float64 {
	return float64(s.jitter.Load()) / 16 / 8
}
