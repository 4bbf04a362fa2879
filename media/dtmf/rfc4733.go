// Package dtmf encodes and decodes RFC 4733 telephone events.
package dtmf

import (
	"encoding/binary"
	"errors"
)

// Event is one RFC 4733 §2.3 telephone-event payload.
type Event struct {
	Code     uint8 // 0-9, 10 = *, 11 = #, 12-15 = A-D, 16 = flash
	End      bool
	Volume   uint8 // 0 to 63, in -dBm0
	Duration uint16
}

// PayloadSize is the size of one event payload.
const PayloadSize = 4

// ErrShort means the payload is shorter than one event.
var ErrShort = errors.New("dtmf: payload shorter than 4 bytes")

// Parse decodes the first event of an RTP payload (RFC 4733 §2.3).
func Parse(p []byte) (Event, error) {
	if len(p) < PayloadSize {
		return Event{}, ErrShort
	}
	return Event{
		Code:     p[0],
		End:      p[1]&0x80 != 0,
		Volume:   p[1] & 0x3f,
		Duration: binary.BigEndian.Uint16(p[2:4]),
	}, nil
}

// Append encodes the event onto b.
func (e Event) Append(b []byte) []byte {
	flags := e.Volume & 0x3f
	if e.End {
		flags |= 0x80
	}
	return append(b, e.Code, flags, byte(e.Duration>>8), byte(e.Duration))
}

const digits = "0123456789*#ABCD"

// Digit returns the character of an event code, or 0 when it is not a digit.
func Digit(code uint8) byte {
	if int(code) < len(digits) {
		return digits[code]
	}
	return 0
}

// Code returns the event code of a digit character.
func Code(d byte) (uint8, bool) {
	if d >= 'a' && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i := range len(digits) {
		if digits[i] == d {
			return uint8(i), true
		}
	}
	return 0, false
}
