package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hajimehoshi/go-mp3"
)

// isMP3 reports whether b starts with an ID3v2 tag or an MPEG audio frame sync.
func isMP3(b []byte) bool {
	if len(b) >= 3 && string(b[:3]) == "ID3" {
		return true
	}
	return len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0 && b[1]&0x06 != 0
}

// skipID3 drops leading ID3v2 tags (ID3v2.4 §3.1: a 10-byte header with a
// syncsafe size, plus a 10-byte footer when flagged). The decoder would
// allocate a tag's claimed size, so tags are skipped here, against what the
// file really holds.
func skipID3(b []byte) []byte {
	for len(b) >= 10 && string(b[:3]) == "ID3" {
		size := int(b[6]&0x7F)<<21 | int(b[7]&0x7F)<<14 | int(b[8]&0x7F)<<7 | int(b[9]&0x7F)
		size += 10
		if b[5]&0x10 != 0 {
			size += 10
		}
		if size >= len(b) {
			return nil
		}
		b = b[size:]
	}
	return b
}

// decodeMP3 decodes MPEG-1/2/2.5 Layer III. The length is found by walking the
// frame headers before any frame is decoded, so an overlong file is refused
// early.
func decodeMP3(data []byte) (clip *Clip, err error) {
	data = skipID3(data)
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: the MP3 file holds only tags", ErrEmpty)
	}
	defer func() {
		// A damaged stream must not take the server down.
		if r := recover(); r != nil {
			clip, err = nil, fmt.Errorf("%w: the MP3 stream is damaged", ErrNotAudio)
		}
	}()
	d, err := mp3.NewDecoder(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the MP3 file has no complete frame", ErrEmpty)
		}
		return nil, fmt.Errorf("%w: %v", ErrNotAudio, err)
	}
	rate := d.SampleRate()
	if rate < 8000 || rate > 192000 {
		return nil, fmt.Errorf("%w: MP3 sample rate %d Hz", ErrUnsupported, rate)
	}
	// Output is always 16-bit little-endian stereo: 4 bytes a frame.
	frames := d.Length() / 4
	if frames <= 0 {
		return nil, ErrEmpty
	}
	if time.Duration(frames)*time.Second/time.Duration(rate) > MaxDuration {
		return nil, ErrTooLong
	}
	mono := make([]int16, 0, frames)
	buf := make([]byte, 4*1152*4)
	for {
		n, rerr := io.ReadFull(d, buf)
		n -= n % 4
		for i := 0; i < n && len(mono) < int(frames); i += 4 {
			l := int32(int16(uint16(buf[i]) | uint16(buf[i+1])<<8))
			r := int32(int16(uint16(buf[i+2]) | uint16(buf[i+3])<<8))
			mono = append(mono, int16((l+r)>>1))
		}
		if rerr != nil {
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if len(mono) == 0 {
				return nil, fmt.Errorf("%w: %v", ErrNotAudio, rerr)
			}
			break // keep what decoded before the damage
		}
	}
	out := toInt16(resample(mono, rate))
	if len(out) == 0 {
		return nil, ErrEmpty
	}
	return &Clip{Samples: out}, nil
}
