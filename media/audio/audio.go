// Package audio decodes uploaded audio files to the PBX's one internal format,
// 8 kHz mono signed 16-bit PCM, and writes that format as canonical WAV.
package audio

import (
	"errors"
	"time"
)

// Rate is the sample rate of every Clip: narrowband telephony (G.711).
const Rate = 8000

// MaxDuration is the longest audio Decode accepts.
const MaxDuration = 10 * time.Minute

// MaxUploadBytes is the largest file callers should hand to Decode.
const MaxUploadBytes = 20 << 20

// Errors of Decode; test with errors.Is.
var (
	ErrNotAudio    = errors.New("not a recognised audio file (expected WAV or MP3)")
	ErrEmpty       = errors.New("the audio file contains no sound samples")
	ErrTooLong     = errors.New("the audio is longer than the 10 minute limit")
	ErrUnsupported = errors.New("unsupported audio encoding")
)

// Clip is 8 kHz mono signed 16-bit PCM.
type Clip struct {
	Samples []int16
}

// Duration is the playing time of the clip.
func (c *Clip) Duration() time.Duration {
	if c == nil {
		return 0
	}
	return time.Duration(len(c.Samples)) * time.Second / Rate
}
