package audio

import (
	"errors"
	"math"
	"os"
	"testing"
	"time"
)

// The MP3 files in testdata were encoded by LAME from sox tones: 1 s of 1 kHz
// at half scale, 44.1 kHz stereo 64 kbit/s; 1 s of 5 kHz at 0.9, 22.05 kHz
// mono, behind an ID3v2 tag.
func TestDecodeMP3(t *testing.T) {
	tests := []struct {
		file  string
		freq  float64
		amp   float64 // expected level of freq, fraction of full scale
		maxDB float64 // for a tone that must be filtered out: the highest leak
	}{
		{"tone-1k-44k1-stereo.mp3", 1000, 0.5, 0},
		{"tone-5k-22k05-mono-id3.mp3", 5000, 0, -55},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			clip, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			// Encoder delay and padding add some tens of ms.
			if d := clip.Duration(); d < time.Second || d > 1200*time.Millisecond {
				t.Fatalf("duration %v", d)
			}
			x := clip.Samples[800 : len(clip.Samples)-800]
			if tt.maxDB != 0 {
				if r := db(rms(x) / (0.9 / math.Sqrt2)); r > tt.maxDB {
					t.Fatalf("%v Hz leaks at %.1f dB", tt.freq, r)
				}
				return
			}
			if got := goertzel(x, tt.freq); math.Abs(db(got/tt.amp)) > 1 {
				t.Fatalf("level %.2f dB off", db(got/tt.amp))
			}
		})
	}
}

func TestDecodeMP3Broken(t *testing.T) {
	good, err := os.ReadFile("testdata/tone-1k-44k1-stereo.mp3")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file []byte
		err  error
	}{
		{"tag only", []byte("ID3\x03\x00\x00\x00\x00\x00\x05hello"), ErrEmpty},
		{"tag claiming 256 MB", []byte("ID3\x03\x00\x00\x7f\x7f\x7f\x7fshort"), ErrEmpty},
		{"sync then garbage", []byte{0xFF, 0xFB, 0x90, 0x00, 1, 2, 3}, nil},
		{"first frame only", good[:600], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.file)
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrNotAudio) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("untyped error %v", err)
			}
		})
	}
}
