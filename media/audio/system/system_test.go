package system

import (
	"bytes"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/audio"
)

var want = []string{
	"beep", "call-recorded", "caller-number",
	"digit-0", "digit-1", "digit-2", "digit-3", "digit-4",
	"digit-5", "digit-6", "digit-7", "digit-8", "digit-9",
	"enter-name", "goodbye", "invalid-option", "leave-message", "mode-day", "mode-night",
	"moh-default", "no-match", "not-available", "please-hold", "press-1-to-connect",
}

func TestNames(t *testing.T) {
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	if got := Languages(); !slices.Contains(got, "en") {
		t.Fatalf("languages %v lack en", got)
	}
	if Has("no-such-prompt") || !Has("goodbye") {
		t.Fatal("Has is wrong")
	}
}

func TestEveryPromptPlays(t *testing.T) {
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			b, ok := WAV("en", name)
			if !ok {
				t.Fatal("no WAV")
			}
			if len(b) > 600<<10 {
				t.Errorf("%d bytes: too big to ship", len(b))
			}
			// The shipped file is exactly the call-time format.
			s, err := audio.DecodeWAV8k(b)
			if err != nil {
				t.Fatal(err)
			}
			c, err := audio.Decode(b)
			if err != nil || !slices.Equal(c.Samples, s) {
				t.Fatalf("Decode disagrees with DecodeWAV8k: %v", err)
			}
			got, ok := Samples("en", name)
			if !ok || !slices.Equal(got, s) {
				t.Fatal("Samples disagrees with the WAV")
			}
			d := c.Duration()
			if name == "moh-default" {
				if d < 20*time.Second || d > 40*time.Second {
					t.Errorf("music on hold lasts %v, want 20-40 s", d)
				}
			} else if d <= 0 || d >= 10*time.Second {
				t.Errorf("lasts %v, want under 10 s", d)
			}
			peak, rms := levels(s)
			if rms < 0.01 {
				t.Errorf("near silent: rms %.4f", rms)
			}
			// Prompts are normalised to -3 dBFS peak, the music to -12 dBFS.
			wantPeak := -3.0
			if name == "moh-default" {
				wantPeak = -12
			}
			if p := 20 * math.Log10(peak); math.Abs(p-wantPeak) > 1 {
				t.Errorf("peak %.1f dBFS, want %.0f", p, wantPeak)
			}
			// Trimmed: speech starts and ends within 50 ms of the file's edges.
			if name != "moh-default" && (quietLead(s) > 400 || quietLead(reversed(s)) > 400) {
				t.Errorf("untrimmed silence: %d samples lead, %d trail", quietLead(s), quietLead(reversed(s)))
			}
		})
	}
}

func TestFallbackAndUnknown(t *testing.T) {
	en, _ := WAV("en", "goodbye")
	de, ok := WAV("xx", "goodbye")
	if !ok || !bytes.Equal(de, en) {
		t.Fatal("a language without the recording does not fall back to en")
	}
	if _, ok := WAV("en", "nope"); ok {
		t.Fatal("unknown name found")
	}
	if _, ok := Samples("fr", "nope"); ok {
		t.Fatal("unknown name decoded")
	}
}

func TestSamplesConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	res := make([][]int16, 16)
	for i := range res {
		wg.Go(func() { res[i], _ = Samples("en", "please-hold") })
	}
	wg.Wait()
	for _, r := range res {
		if len(r) == 0 || &r[0] != &res[0][0] {
			t.Fatal("decoded more than once or not at all")
		}
	}
}

func levels(s []int16) (peak, rms float64) {
	var sum float64
	for _, v := range s {
		f := math.Abs(float64(v)) / 32768
		peak = max(peak, f)
		sum += f * f
	}
	return peak, math.Sqrt(sum / float64(len(s)))
}

// quietLead counts the samples before the first one above -40 dBFS.
func quietLead(s []int16) int {
	for i, v := range s {
		if math.Abs(float64(v)) > 328 {
			return i
		}
	}
	return len(s)
}

func reversed(s []int16) []int16 {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
