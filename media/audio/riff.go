package audio

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// WAVE format tags (RFC 2361 appendix A).
const (
	formatPCM        = 0x0001
	formatFloat      = 0x0003
	formatALaw       = 0x0006
	formatMuLaw      = 0x0007
	formatExtensible = 0xFFFE
)

// wavInfo is what parseWAV learns from a RIFF/WAVE file's fmt and data chunks.
type wavInfo struct {
	format     uint16 // after resolving WAVE_FORMAT_EXTENSIBLE to its sub-format
	channels   int
	rate       int
	bits       int // container bits per sample (block align / channels * 8)
	blockAlign int
	data       []byte // sample bytes actually present in the file
}

func (w *wavInfo) describe() string {
	return fmt.Sprintf("%s, %d Hz, %d channel(s), %d-bit", formatName(w.format), w.rate, w.channels, w.bits)
}

func formatName(tag uint16) string {
	switch tag {
	case formatPCM:
		return "PCM"
	case formatFloat:
		return "IEEE float"
	case formatALaw:
		return "G.711 A-law"
	case formatMuLaw:
		return "G.711 mu-law"
	case 0x0002:
		return "Microsoft ADPCM"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0055:
		return "MPEG Layer 3"
	case 0x0050:
		return "MPEG"
	case 0x0064, 0x0065:
		return "G.721/G.723 ADPCM"
	}
	return fmt.Sprintf("format tag 0x%04X", tag)
}

// isWAV reports whether data starts like a RIFF/WAVE file.
func isWAV(data []byte) bool {
	return len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WAVE"
}

// parseWAV walks the RIFF chunks of a WAVE file. Unknown chunks are skipped,
// odd-sized chunks are followed by a pad byte, and a data chunk that claims more
// bytes than the file holds is cut to what is there. Nothing is allocated from
// header values: data aliases the input.
func parseWAV(data []byte) (*wavInfo, error) {
	if !isWAV(data) {
		return nil, ErrNotAudio
	}
	var (
		w       wavInfo
		haveFmt bool
		samples []byte
		haveDat bool
	)
	off := 12
	for off+8 <= len(data) && !(haveFmt && haveDat) {
		id := string(data[off : off+4])
		size := uint64(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		rest := uint64(len(data) - off)
		body := data[off:]
		if size <= rest {
			body = data[off : off+int(size)]
		}
		switch id {
		case "fmt ":
			if haveFmt {
				break
			}
			if err := w.parseFmt(body); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveDat {
				samples, haveDat = body, true
			}
		}
		if size >= rest {
			break
		}
		off += int(size) + int(size&1)
	}
	if !haveFmt {
		return nil, fmt.Errorf("%w: the WAV file has no format chunk", ErrNotAudio)
	}
	if !haveDat {
		return nil, fmt.Errorf("%w: the WAV file has no data chunk", ErrEmpty)
	}
	// Whole frames only: a trailing partial frame is dropped.
	w.data = samples[:len(samples)-len(samples)%w.blockAlign]
	return &w, nil
}

// extensible sub-format GUID tail: xxxxxxxx-0000-0010-8000-00aa00389b71.
var ksDataFormatTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

func (w *wavInfo) parseFmt(b []byte) error {
	if len(b) < 16 {
		return fmt.Errorf("%w: the WAV format chunk is truncated", ErrNotAudio)
	}
	le := binary.LittleEndian
	w.format = le.Uint16(b[0:])
	w.channels = int(le.Uint16(b[2:]))
	w.rate = int(le.Uint32(b[4:]))
	w.blockAlign = int(le.Uint16(b[12:]))
	declBits := int(le.Uint16(b[14:]))
	if w.format == formatExtensible {
		if len(b) < 40 {
			return fmt.Errorf("%w: the WAV extensible format chunk is truncated", ErrNotAudio)
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], ksDataFormatTail) {
			return fmt.Errorf("%w: WAV extensible sub-format %x", ErrUnsupported, guid)
		}
		w.format = le.Uint16(guid[0:])
		if w.format == formatExtensible {
			return fmt.Errorf("%w: WAV extensible sub-format %x", ErrUnsupported, guid)
		}
	}
	switch w.format {
	case formatPCM, formatFloat, formatALaw, formatMuLaw:
	default:
		return fmt.Errorf("%w: WAV %s", ErrUnsupported, formatName(w.format))
	}
	if w.channels < 1 || w.channels > 8 {
		return fmt.Errorf("%w: %d channels (1 to 8 are supported)", ErrUnsupported, w.channels)
	}
	if w.rate < 8000 || w.rate > 192000 {
		return fmt.Errorf("%w: sample rate %d Hz (8000 to 192000 Hz are supported)", ErrUnsupported, w.rate)
	}
	// The container size comes from the block alignment; bits per sample may be
	// smaller (e.g. 20 valid bits in 24) and left-justified, so it is read whole.
	if w.blockAlign == 0 || w.blockAlign%w.channels != 0 {
		// Some writers leave block align wrong: derive it from the sample size.
		w.blockAlign = (declBits + 7) / 8 * w.channels
	}
	w.bits = w.blockAlign / w.channels * 8
	if declBits > w.bits || declBits == 0 {
		return fmt.Errorf("%w: %d-bit samples in %d-bit blocks", ErrUnsupported, declBits, w.bits)
	}
	ok := false
	switch w.format {
	case formatPCM:
		ok = w.bits == 8 || w.bits == 16 || w.bits == 24 || w.bits == 32
	case formatFloat:
		ok = (w.bits == 32 && declBits == 32) || (w.bits == 64 && declBits == 64)
	case formatALaw, formatMuLaw:
		ok = w.bits == 8
	}
	if !ok {
		return fmt.Errorf("%w: %d-bit %s", ErrUnsupported, declBits, formatName(w.format))
	}
	return nil
}
