// Package codec converts G.711 u-law and A-law (ITU-T G.711) to and from PCM16,
// and between each other by table lookup.
package codec

import "github.com/zaf/g711"

// Codec is an audio codec Dialtone speaks on RTP.
type Codec int

// Codecs. Unknown is the zero value.
const (
	Unknown Codec = iota
	PCMU
	PCMA
)

// Static RTP payload types (RFC 3551 §6).
const (
	PayloadPCMU = 0
	PayloadPCMA = 8
)

func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "unknown"
}

// PayloadType is the static RTP payload type of the codec.
func (c Codec) PayloadType() uint8 {
	if c == PCMA {
		return PayloadPCMA
	}
	return PayloadPCMU
}

// FromPayloadType maps a static payload type to its codec.
func FromPayloadType(pt uint8) Codec {
	switch pt {
	case PayloadPCMU:
		return PCMU
	case PayloadPCMA:
		return PCMA
	}
	return Unknown
}

// FromName maps an SDP encoding name (case-insensitive) to its codec.
func FromName(name string) Codec {
	switch name {
	case "PCMU", "pcmu":
		return PCMU
	case "PCMA", "pcma":
		return PCMA
	}
	return Unknown
}

var (
	ulawToAlaw [256]byte
	alawToUlaw [256]byte
	ulawToPCM  [256]int16
	alawToPCM  [256]int16
)

func init() {
	for i := range 256 {
		ulawToAlaw[i] = g711.Ulaw2AlawFrame(uint8(i))
		alawToUlaw[i] = g711.Alaw2UlawFrame(uint8(i))
		ulawToPCM[i] = g711.DecodeUlawFrame(uint8(i))
		alawToPCM[i] = g711.DecodeAlawFrame(uint8(i))
	}
}

// Transcode converts G.711 samples in place from one law to the other.
func Transcode(b []byte, from, to Codec) {
	switch {
	case from == PCMU && to == PCMA:
		for i, v := range b {
			b[i] = ulawToAlaw[v]
		}
	case from == PCMA && to == PCMU:
		for i, v := range b {
			b[i] = alawToUlaw[v]
		}
	}
}

// Decode converts G.711 samples to PCM16 into pcm, which must be at least len(b) long.
func Decode(c Codec, b []byte, pcm []int16) {
	table := &ulawToPCM
	if c == PCMA {
		table = &alawToPCM
	}
	for i, v := range b {
		pcm[i] = table[v]
	}
}

// Encode converts PCM16 samples to G.711 into b, which must be at least len(pcm) long.
func Encode(c Codec, pcm []int16, b []byte) {
	for i, s := range pcm {
		if c == PCMA {
			b[i] = g711.EncodeAlawFrame(s)
		} else {
			b[i] = g711.EncodeUlawFrame(s)
		}
	}
}
