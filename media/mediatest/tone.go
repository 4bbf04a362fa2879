// Package mediatest generates and measures tones for tests that must prove
// audio flowed end to end.
package mediatest

import (
	"math"
	"strings"
)

// SampleRate is the G.711 sample rate.
const SampleRate = 8000

// Tone generates a continuous sine wave frame by frame.
type Tone struct {
	Freq      float64
	Amplitude float64 // peak, in PCM16 units
	phase     float64
}

// Fill writes the next len(pcm) samples.
func (t *Tone) Fill(pcm []int16) {
	step := 2 * math.Pi * t.Freq / SampleRate
	for i := range pcm {
		pcm[i] = int16(t.Amplitude * math.Sin(t.phase))
		t.phase += step
		if t.phase > 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
}

// Goertzel returns the power of freq in pcm, normalised by the block length.
func Goertzel(pcm []int16, freq float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freq/SampleRate)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	return p / float64(len(pcm)*len(pcm))
}

// Energy returns the mean power of pcm.
func Energy(pcm []int16) float64 {
	var e float64
	for _, x := range pcm {
		e += float64(x) * float64(x)
	}
	return e / float64(max(1, len(pcm)))
}

// Dominates reports whether freq holds most of the energy of pcm: the tone is
// present, loud enough, and not drowned by other frequencies.
func Dominates(pcm []int16, freq float64) bool {
	if len(pcm) == 0 {
		return false
	}
	e := Energy(pcm)
	if e < 1e4 { // silence (RMS under 100)
		return false
	}
	// A pure sine of power e has a Goertzel power of e/2 at its frequency.
	return Goertzel(pcm, freq) > 0.25*e
}

// DTMFFreqs are the low and high frequencies of a DTMF digit (ITU-T Q.23).
func DTMFFreqs(d byte) (low, high float64, ok bool) {
	const keys = "123A456B789C*0#D"
	i := strings.IndexByte(keys, d)
	if i < 0 {
		return 0, 0, false
	}
	lows := [4]float64{697, 770, 852, 941}
	highs := [4]float64{1209, 1336, 1477, 1633}
	return lows[i/4], highs[i%4], true
}
