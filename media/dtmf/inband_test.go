package dtmf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

const rate = 8000

// signal builds 8 kHz test audio piece by piece.
type signal struct {
	pcm   []float64
	noise float64 // peak of uniform white noise added everywhere
	rng   *rand.Rand
}

func newSignal(noise float64) *signal {
	return &signal{noise: noise, rng: rand.New(rand.NewPCG(1, 2))}
}

func amp(dbfs float64) float64 { return 32767 * math.Pow(10, dbfs/20) }

func ms(d int) int { return d * rate / 1000 }

// digit appends a DTMF tone: peak is the composite's peak level in dBFS,
// twist how many dB the high group lies below the low group (negative:
// above it).
func (s *signal) digit(d byte, n int, peak, twist float64) {
	row, col := -1, -1
	for r := range keypad {
		for c := range keypad[r] {
			if keypad[r][c] == d {
				row, col = r, c
			}
		}
	}
	lo, hi := freqs[row], freqs[4+col]
	ratio := math.Pow(10, -twist/20)
	a := amp(peak) / (1 + ratio)
	start := len(s.pcm)
	for i := range n {
		t := float64(start+i) / rate
		s.pcm = append(s.pcm, a*math.Sin(2*math.Pi*lo*t)+a*ratio*math.Sin(2*math.Pi*hi*t))
	}
}

func (s *signal) silence(n int) {
	for range n {
		s.pcm = append(s.pcm, 0)
	}
}

// fn appends n samples of f(t).
func (s *signal) fn(n int, f func(t float64) float64) {
	for i := range n {
		s.pcm = append(s.pcm, f(float64(i)/rate))
	}
}

// g711 returns the signal with noise, clipped to 16 bits and passed
// through the codec (Unknown: raw PCM).
func (s *signal) g711(c codec.Codec) []int16 {
	out := make([]int16, len(s.pcm))
	for i, v := range s.pcm {
		v += s.noise * (2*s.rng.Float64() - 1)
		out[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	if c == codec.Unknown {
		return out
	}
	b := make([]byte, len(out))
	codec.Encode(c, out, b)
	codec.Decode(c, b, out)
	return out
}

// detect feeds pcm in 20 ms frames, as packets would carry it.
func detect(pcm []int16) string {
	d := NewDetector()
	var got []byte
	emit := func(b byte) { got = append(got, b) }
	for i := 0; i < len(pcm); i += 160 {
		d.Feed(pcm[i:min(i+160, len(pcm))], emit)
	}
	return string(got)
}

const allDigits = "123A456B789C*0#D"

func TestDetectorLevelsTwistNoise(t *testing.T) {
	tests := []struct {
		peak, twist float64
		noiseDB     float64 // noise peak relative to the tone's peak; 0 for none
	}{
		{-3, 0, 0}, {-3, 0, -20},
		{-10, 0, -20}, {-10, 6, -20}, {-10, -3, -20},
		{-18, 0, -20}, {-18, 6, -20}, {-18, -3, 0},
		{-25, 0, 0}, {-25, 0, -20}, {-25, 5, -25}, {-25, -3, -25},
	}
	for _, tt := range tests {
		for _, c := range []codec.Codec{codec.PCMU, codec.PCMA} {
			t.Run(fmt.Sprintf("%gdBFS/twist%g/noise%g/%s", tt.peak, tt.twist, tt.noiseDB, c), func(t *testing.T) {
				noise := 0.0
				if tt.noiseDB != 0 {
					noise = amp(tt.peak + tt.noiseDB)
				}
				s := newSignal(noise)
				s.silence(ms(100))
				for i := range len(allDigits) {
					s.digit(allDigits[i], ms(60), tt.peak, tt.twist)
					s.silence(ms(60))
				}
				if got := detect(s.g711(c)); got != allDigits {
					t.Fatalf("detected %q, want %q", got, allDigits)
				}
			})
		}
	}
}

func TestDetectorTiming(t *testing.T) {
	tests := []struct {
		name  string
		build func(s *signal)
		want  string
	}{
		{"300ms digits, 100ms gaps", func(s *signal) {
			for i := range len(allDigits) {
				s.digit(allDigits[i], ms(300), -12, 0)
				s.silence(ms(100))
			}
		}, allDigits},
		{"45ms digits, 45ms gaps", func(s *signal) {
			for _, d := range []byte("159#") {
				s.digit(d, ms(45), -12, 0)
				s.silence(ms(45))
			}
		}, "159#"},
		{"a 20ms burst is not a digit", func(s *signal) {
			s.digit('5', ms(20), -12, 0)
			s.silence(ms(200))
		}, ""},
		{"a 10ms break inside a held digit does not repeat it", func(s *signal) {
			s.digit('7', ms(200), -12, 0)
			s.silence(ms(10))
			s.digit('7', ms(200), -12, 0)
			s.silence(ms(100))
		}, "7"},
		{"the same digit twice after a 60ms pause", func(s *signal) {
			s.digit('7', ms(100), -12, 0)
			s.silence(ms(60))
			s.digit('7', ms(100), -12, 0)
			s.silence(ms(100))
		}, "77"},
		{"one digit straight into another", func(s *signal) {
			s.digit('1', ms(100), -12, 0)
			s.digit('2', ms(100), -12, 0)
			s.silence(ms(100))
		}, "12"},
		{"too quiet", func(s *signal) {
			s.digit('3', ms(200), -45, 0)
		}, ""},
		{"twist beyond 8 dB", func(s *signal) {
			s.digit('3', ms(200), -6, 11)
		}, ""},
		{"reverse twist beyond 4 dB", func(s *signal) {
			s.digit('3', ms(200), -6, -7)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSignal(amp(-50))
			tt.build(s)
			if got := detect(s.g711(codec.PCMU)); got != tt.want {
				t.Fatalf("detected %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDetectorRejectsNonDigits: speech-like and musical signals, a test
// tone and noise must not produce digits (talk-off).
func TestDetectorRejectsNonDigits(t *testing.T) {
	sines := func(a float64, fs ...float64) func(float64) float64 {
		return func(t float64) float64 {
			var v float64
			for _, f := range fs {
				v += a * math.Sin(2*math.Pi*f*t)
			}
			return v
		}
	}
	tests := []struct {
		name string
		f    func(t float64) float64
	}{
		{"1 kHz tone", sines(amp(-6), 1000)},
		{"chirp 300-3400 Hz", func(t float64) float64 {
			// Instantaneous frequency 300 + 1550 t Hz over 2 s.
			return amp(-6) * math.Sin(2*math.Pi*(300*t+775*t*t))
		}},
		{"A major chord", sines(amp(-12), 440, 554.37, 659.26, 880)},
		{"F major with octaves", sines(amp(-14), 349.23, 440, 523.25, 698.46, 1396.91)},
		{"C major across octaves", sines(amp(-14), 261.63, 523.25, 659.26, 783.99, 1046.5, 1318.51)},
		{"white noise", nil},
		{"voiced speech, gliding pitch", func(t float64) float64 {
			// Harmonics of a fundamental gliding 100-220 Hz, falling off
			// like a glottal source, with a vowel-like formant near 700 Hz.
			f0 := 100 + 60*t
			phase := 2 * math.Pi * (100*t + 30*t*t)
			var v float64
			for k := 1.0; k*f0 < 3400; k++ {
				g := 1 / k
				if f := k * f0; f > 500 && f < 900 {
					g *= 4
				}
				v += g * math.Sin(k*phase)
			}
			return amp(-20) * v
		}},
	}
	for _, tt := range tests {
		for _, c := range []codec.Codec{codec.PCMU, codec.PCMA} {
			t.Run(tt.name+"/"+c.String(), func(t *testing.T) {
				s := newSignal(0)
				if tt.f == nil {
					s.noise = amp(-6)
					s.silence(ms(2000))
				} else {
					s.fn(ms(2000), tt.f)
				}
				if got := detect(s.g711(c)); got != "" {
					t.Fatalf("false digits %q", got)
				}
			})
		}
	}
}

func TestDetectorAllocatesNothing(t *testing.T) {
	s := newSignal(amp(-40))
	s.digit('9', ms(400), -10, 0)
	pcm := s.g711(codec.Unknown)
	d := NewDetector()
	n := 0
	emit := func(byte) { n++ }
	allocs := testing.AllocsPerRun(20, func() {
		for i := 0; i+160 <= len(pcm); i += 160 {
			d.Feed(pcm[i:i+160], emit)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}

func BenchmarkDetectorFrame(b *testing.B) {
	s := newSignal(amp(-40))
	s.digit('9', ms(20), -10, 0)
	pcm := s.g711(codec.Unknown)
	d := NewDetector()
	emit := func(byte) {}
	b.ReportAllocs()
	for b.Loop() {
		d.Feed(pcm, emit)
	}
}
