package audio

import (
	"math"
	"sync"
)

// resample converts mono samples at rate to Rate (8 kHz) with a windowed-sinc
// polyphase low-pass filter: a Kaiser window (beta 8.6, about 85 dB stop-band)
// around a sinc whose cutoff is 3.75 kHz, passing 3.4 kHz and stopping at
// 4.1 kHz, so nothing above the new Nyquist frequency folds back into the band
// a telephone carries. Input at Rate is returned as it is.
func resample[T int16 | float32](in []T, rate int) []float32 {
	if rate == Rate {
		out := make([]float32, len(in))
		for i, v := range in {
			out[i] = float32(v)
		}
		return out
	}
	// Ratio up/down in lowest terms: output n sits at input position n*down/up.
	g := gcd(rate, Rate)
	up, down := Rate/g, rate/g
	f := cachedFilter(rate, up)

	n := int(int64(len(in)) * int64(up) / int64(down))
	out := make([]float32, n)
	half := f.half
	for k := range out {
		pos := int64(k) * int64(down)
		i := int(pos / int64(up))
		// Phase of the fractional position, rounded to the table's resolution.
		p := int(((pos%int64(up))*int64(f.phases)*2 + int64(up)) / (2 * int64(up)))
		if p == f.phases {
			p, i = 0, i+1
		}
		taps := f.coef[p*f.taps : (p+1)*f.taps]
		lo := i - half + 1
		var acc float32
		if lo >= 0 && lo+f.taps <= len(in) {
			x := in[lo : lo+f.taps]
			for j, c := range taps {
				acc += c * float32(x[j])
			}
		} else {
			for j, c := range taps {
				if idx := lo + j; idx >= 0 && idx < len(in) {
					acc += c * float32(in[idx])
				}
			}
		}
		out[k] = acc
	}
	return out
}

// filter is a windowed-sinc kernel sampled at phases fractional offsets
// between input samples; phase p, tap j weights input sample i-half+1+j for
// an output at position i + p/phases.
type filter struct {
	phases int
	taps   int
	half   int
	coef   []float32
}

const (
	cutoffHz     = 3750.0
	transitionHz = 700.0
	kaiserBeta   = 8.6
	maxPhases    = 512
)

// filters holds the kernels of the last few rates seen; most uploads come at
// 44.1 or 48 kHz, and designing an odd rate's kernel takes tens of ms.
var filters struct {
	sync.Mutex
	byRate map[int]*filter
}

const maxCachedFilters = 8

func cachedFilter(rate, up int) *filter {
	filters.Lock()
	f := filters.byRate[rate]
	filters.Unlock()
	if f != nil {
		return f
	}
	f = newFilter(rate, up)
	filters.Lock()
	if filters.byRate == nil || len(filters.byRate) >= maxCachedFilters {
		filters.byRate = make(map[int]*filter, maxCachedFilters)
	}
	filters.byRate[rate] = f
	filters.Unlock()
	return f
}

func newFilter(rate, up int) *filter {
	// Kaiser's estimate of the length: (A - 8) / (2.285 * delta-omega), A ≈ 85 dB.
	dw := 2 * math.Pi * transitionHz / float64(rate)
	length := int(math.Ceil((85-8)/(2.285*dw))) + 1
	half := (length + 1) / 2
	phases := min(up, maxPhases)
	f := &filter{phases: phases, taps: 2 * half, half: half, coef: make([]float32, phases*2*half)}
	fc := cutoffHz / float64(rate) // cycles per input sample
	win := kaiserWindow()
	for p := range phases {
		frac := float64(p) / float64(phases)
		row := f.coef[p*f.taps : (p+1)*f.taps]
		var sum float64
		w := make([]float64, f.taps)
		for j := range w {
			// Distance from the output position to input sample i-half+1+j.
			x := frac - float64(j-half+1)
			r := math.Abs(x) / float64(half)
			if r >= 1 {
				continue
			}
			// The window is read from a fine table, linearly interpolated.
			pos := r * windowPoints
			k := int(pos)
			wv := win[k] + (win[k+1]-win[k])*(pos-float64(k))
			w[j] = 2 * fc * sinc(2*fc*x) * wv
			sum += w[j]
		}
		// Unity gain at DC for every phase, so a steady level stays steady.
		for j := range w {
			row[j] = float32(w[j] / sum)
		}
	}
	return f
}

const windowPoints = 8192

var kaiserWindow = sync.OnceValue(func() []float64 {
	w := make([]float64, windowPoints+2)
	i0b := besselI0(kaiserBeta)
	for k := range windowPoints + 1 {
		r := float64(k) / windowPoints
		w[k] = besselI0(kaiserBeta*math.Sqrt(1-r*r)) / i0b
	}
	return w
})

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0, by its
// power series (converges fast for the arguments a Kaiser window uses).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / 2) / float64(k)
		sum += term * term
		if term*term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
