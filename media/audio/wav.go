package audio

import (
	"encoding/binary"
	"fmt"
)

// EncodeWAV writes samples as a canonical 44-byte-header WAV file:
// PCM, 8 kHz, mono, 16-bit little-endian.
func EncodeWAV(samples []int16) []byte {
	n := len(samples) * 2
	b := make([]byte, 44+n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], formatPCM)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], Rate)
	binary.LittleEndian.PutUint32(b[28:], Rate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	return b
}

// DecodeWAV8k reads a WAV that is already 8 kHz mono 16-bit PCM, as
// EncodeWAV writes it, without resampling. Other formats get ErrUnsupported.
func DecodeWAV8k(data []byte) ([]int16, error) {
	w, err := parseWAV(data)
	if err != nil {
		return nil, err
	}
	if w.format != formatPCM || w.rate != Rate || w.channels != 1 || w.bits != 16 {
		return nil, fmt.Errorf("%w: want 8 kHz mono 16-bit PCM, got %s", ErrUnsupported, w.describe())
	}
	n := len(w.data) / 2
	if n == 0 {
		return nil, ErrEmpty
	}
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(w.data[2*i:]))
	}
	return out, nil
}
