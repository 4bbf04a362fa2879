package audio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// Decode converts an uploaded audio file to 8 kHz mono 16-bit PCM. WAV holds
// integer PCM (8/16/24/32-bit), IEEE float (32/64-bit) or G.711 A-law/mu-law,
// plain or WAVE_FORMAT_EXTENSIBLE, at 8 to 192 kHz with 1 to 8 channels; the
// channels are averaged and the rate is converted through an anti-alias
// low-pass filter. MP3 (MPEG-1/2/2.5 Layer III) is decoded too. Errors wrap ErrNotAudio, ErrEmpty, ErrTooLong or
// ErrUnsupported. Callers bound the input by MaxUploadBytes.
func Decode(data []byte) (*Clip, error) {
	switch {
	case isWAV(data):
		return decodeWAV(data)
	case isMP3(data):
		return decodeMP3(data)
	}
	if name := sniffOther(data); name != "" {
		return nil, fmt.Errorf("%w: %s files are not accepted, use WAV or MP3", ErrUnsupported, name)
	}
	return nil, ErrNotAudio
}

// sniffOther names well-known audio containers that are not decoded here, so
// the error can say what was uploaded.
func sniffOther(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("OggS")):
		return "Ogg (Vorbis/Opus)"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "FLAC"
	case len(b) >= 12 && string(b[0:4]) == "FORM" && (string(b[8:12]) == "AIFF" || string(b[8:12]) == "AIFC"):
		return "AIFF"
	case bytes.HasPrefix(b, []byte(".snd")):
		return "Sun AU"
	case bytes.HasPrefix(b, []byte("RIFX")):
		return "big-endian WAV (RIFX)"
	case bytes.HasPrefix(b, []byte("RF64")):
		return "RF64"
	case bytes.HasPrefix(b, []byte("caff")):
		return "Core Audio (CAF)"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return "MP4/M4A (AAC)"
	case bytes.HasPrefix(b, []byte("#!AMR")):
		return "AMR"
	}
	return ""
}

func decodeWAV(data []byte) (*Clip, error) {
	w, err := parseWAV(data)
	if err != nil {
		return nil, err
	}
	frames := len(w.data) / w.blockAlign
	if frames == 0 {
		return nil, ErrEmpty
	}
	// Checked from the header and chunk size, before any sample is decoded.
	if time.Duration(frames)*time.Second/time.Duration(w.rate) > MaxDuration {
		return nil, ErrTooLong
	}
	if w.format == formatPCM && w.bits == 16 && w.channels == 1 && w.rate == Rate {
		s, err := DecodeWAV8k(data)
		if err != nil {
			return nil, err
		}
		return &Clip{Samples: s}, nil
	}
	mono := make([]float32, frames)
	mixDown(w, mono)
	out := toInt16(resample(mono, w.rate))
	if len(out) == 0 { // fewer input frames than one output sample
		return nil, ErrEmpty
	}
	return &Clip{Samples: out}, nil
}

// mixDown converts every frame to one float sample in int16 units (full
// scale ±32768), averaging the channels.
func mixDown(w *wavInfo, out []float32) {
	ch := w.channels
	size := w.bits / 8
	scale := 1 / float32(ch)
	d := w.data
	le := binary.LittleEndian
	var sample func(b []byte) float32
	switch {
	case w.format == formatMuLaw || w.format == formatALaw:
		c := codec.PCMU
		if w.format == formatALaw {
			c = codec.PCMA
		}
		var table [256]int16
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		codec.Decode(c, all, table[:])
		sample = func(b []byte) float32 { return float32(table[b[0]]) }
	case w.format == formatFloat && size == 4:
		sample = func(b []byte) float32 { return cleanFloat(float64(math.Float32frombits(le.Uint32(b)))) }
	case w.format == formatFloat:
		sample = func(b []byte) float32 { return cleanFloat(math.Float64frombits(le.Uint64(b))) }
	case size == 1: // 8-bit PCM is unsigned
		sample = func(b []byte) float32 { return float32(int(b[0])-128) * 256 }
	case size == 2:
		if ch == 1 {
			for i := range out {
				out[i] = float32(int16(le.Uint16(d[2*i:])))
			}
			return
		}
		sample = func(b []byte) float32 { return float32(int16(le.Uint16(b))) }
	case size == 3:
		sample = func(b []byte) float32 {
			v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
			return float32(v) / 256
		}
	default: // 32-bit PCM
		sample = func(b []byte) float32 { return float32(int32(le.Uint32(b))) / 65536 }
	}
	for i := range out {
		f := d[i*w.blockAlign:]
		var sum float32
		for c := range ch {
			sum += sample(f[c*size:])
		}
		out[i] = sum * scale
	}
}

// cleanFloat scales a float sample to int16 units; NaN and infinities are
// silence, and values beyond full scale are clipped.
func cleanFloat(v float64) float32 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	v = max(-1, min(1, v))
	return float32(v * 32768)
}

// toInt16 rounds and clips float samples in int16 units.
func toInt16(in []float32) []int16 {
	out := make([]int16, len(in))
	for i, v := range in {
		r := math.Round(float64(v))
		out[i] = int16(max(-32768, min(32767, r)))
	}
	return out
}
