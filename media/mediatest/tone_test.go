package mediatest

import "testing"

func TestDominates(t *testing.T) {
	pcm := make([]int16, 1600)
	(&Tone{Freq: 1000, Amplitude: 8000}).Fill(pcm)
	tests := []struct {
		freq float64
		want bool
	}{{1000, true}, {600, false}, {1400, false}}
	for _, tt := range tests {
		if got := Dominates(pcm, tt.freq); got != tt.want {
			t.Errorf("Dominates(%v) = %v", tt.freq, got)
		}
	}
	if Dominates(make([]int16, 1600), 1000) {
		t.Error("silence holds a tone")
	}
}
