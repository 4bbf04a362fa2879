package audio

import (
	"errors"
	"os"
	"testing"
	"time"
)

func FuzzDecode(f *testing.F) {
	short := tone(8000, 1000, 0.5, 5*time.Millisecond)
	for _, s := range []wavSpec{
		{formatPCM, 16, 1, 8000, false},
		{formatPCM, 8, 2, 11025, false},
		{formatPCM, 24, 2, 44100, true},
		{formatFloat, 32, 1, 48000, false},
		{formatMuLaw, 8, 1, 8000, false},
	} {
		good := s.build(short)
		f.Add(good)
		f.Add(good[:len(good)/2])
		f.Add(setDataSize(append([]byte(nil), good...), 0xFFFFFFF0))
	}
	f.Add(EncodeWAV([]int16{1, 2, 3}))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\xff"))
	f.Add([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte{0xFF, 0xFB, 0x90, 0x00})
	f.Add([]byte("OggS"))
	for _, name := range []string{"tone-1k-44k1-stereo.mp3", "tone-5k-22k05-mono-id3.mp3"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 1500)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		clip, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrNotAudio) && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Nothing is sized from what a header claims: WAV at 8 kHz never
		// gives more samples than the input has bytes, and the smallest MP3
		// frame (72 bytes for 576 samples at 8 kHz) fewer than 8 a byte.
		limit := len(data)
		if isMP3(data) {
			limit = 8 * len(data)
		}
		if len(clip.Samples) == 0 || len(clip.Samples) > limit {
			t.Fatalf("%d samples from %d bytes", len(clip.Samples), len(data))
		}
		if clip.Duration() > MaxDuration {
			t.Fatalf("clip of %v", clip.Duration())
		}
		if s, err := DecodeWAV8k(data); err == nil && len(s) > len(data)/2 {
			t.Fatalf("DecodeWAV8k: %d samples from %d bytes", len(s), len(data))
		}
	})
}

func BenchmarkDecode44kStereo10s(b *testing.B) {
	file := wavSpec{formatPCM, 16, 2, 44100, false}.build(tone(44100, 1000, 0.5, 10*time.Second))
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(file); err != nil {
			b.Fatal(err)
		}
	}
}
