package codec

import (
	"math"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		codec Codec
		pt    uint8
	}{{PCMU, 0}, {PCMA, 8}}
	for _, tt := range tests {
		t.Run(tt.codec.String(), func(t *testing.T) {
			if tt.codec.PayloadType() != tt.pt || FromPayloadType(tt.pt) != tt.codec || FromName(tt.codec.String()) != tt.codec {
				t.Fatal("payload type or name mapping broken")
			}
			pcm := make([]int16, 160)
			for i := range pcm {
				pcm[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
			}
			enc := make([]byte, 160)
			Encode(tt.codec, pcm, enc)
			dec := make([]int16, 160)
			Decode(tt.codec, enc, dec)
			for i := range pcm {
				if d := math.Abs(float64(pcm[i] - dec[i])); d > 300 {
					t.Fatalf("sample %d: %d became %d", i, pcm[i], dec[i])
				}
			}
		})
	}
}

func TestTranscodeKeepsTheSignal(t *testing.T) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(6000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	u := make([]byte, 160)
	Encode(PCMU, pcm, u)
	Transcode(u, PCMU, PCMA)
	back := make([]int16, 160)
	Decode(PCMA, u, back)
	for i := range pcm {
		if d := math.Abs(float64(pcm[i] - back[i])); d > 400 {
			t.Fatalf("sample %d: %d became %d", i, pcm[i], back[i])
		}
	}
}

func BenchmarkTranscode(b *testing.B) {
	buf := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		Transcode(buf, PCMU, PCMA)
	}
}
