package dtmf

import "math"

// In-band DTMF detection (ITU-T Q.23 frequencies, Q.24 style acceptance) for
// legs whose far end does not send RFC 4733 events: a Goertzel filter per
// frequency over blocks of blockSize samples at 8 kHz.
const (
	// blockSize is 12.75 ms at 8 kHz. Its bins are about 78 Hz wide, so the
	// neighbouring row frequencies (73-89 Hz apart) fall near each other's
	// nulls, and a digit's timing is resolved finely enough for 40 ms tones.
	blockSize = 102
	// hitsToBegin consecutive blocks holding the same digit (about 38 ms)
	// report it; missesToEnd blocks without it (about 38 ms) end it, so a
	// digit is reported again only after a pause of that length.
	hitsToBegin = 3
	missesToEnd = 3
	// minToneLevel is the quietest tone accepted, per frequency, in dBFS.
	minToneLevel = -36.0
	// normalTwist is how much weaker (8 dB) the high group may be than the
	// low group, reverseTwist how much stronger (4 dB); as power ratios.
	normalTwist  = 6.31
	reverseTwist = 2.51
	// relativePeak is how far (8 dB) the strongest row (column) must stand
	// above every other row (column).
	relativePeak = 6.31
	// toneShare is the part of the block's energy the two tones must hold:
	// speech, music and noise spread theirs.
	toneShare = 0.6
)

var (
	freqs  = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}
	keypad = [4][4]byte{
		{'1', '2', '3', 'A'},
		{'4', '5', '6', 'B'},
		{'7', '8', '9', 'C'},
		{'*', '0', '#', 'D'},
	}
	coeffs [8]float32
	// minPower is minToneLevel as the mean power of a sine (A²/2).
	minPower float32
)

func init() {
	for i, f := range freqs {
		coeffs[i] = float32(2 * math.Cos(2*math.Pi*f/8000))
	}
	a := 32767 * math.Pow(10, minToneLevel/20)
	minPower = float32(a * a / 2)
}

// Detector finds DTMF digits in 8 kHz mono 16-bit audio. Its zero value is
// not ready; use NewDetector. It is not safe for concurrent use.
type Detector struct {
	s1, s2 [8]float32 // Goertzel state per frequency
	energy float32    // sum of squares over the block
	n      int        // samples in the current block

	cur    byte // the digit being held down, 0 when none
	misses int  // blocks since cur was last seen
	cand   byte // the digit the last blocks held
	hits   int  // consecutive blocks holding cand
}

// NewDetector returns a detector with no digit in progress.
func NewDetector() *Detector { return &Detector{} }

// Reset forgets any block and digit in progress.
func (d *Detector) Reset() { *d = Detector{} }

// Feed runs samples through the detector and calls emit once per key press,
// when the digit has lasted about 40 ms. Blocks carry over from one call to
// the next, so any framing works. It allocates nothing.
func (d *Detector) Feed(pcm []int16, emit func(byte)) {
	for len(pcm) > 0 {
		seg := pcm[:min(len(pcm), blockSize-d.n)]
		pcm = pcm[len(seg):]
		// Four filters at a time: their states stay in registers and their
		// recurrences run side by side.
		for g := 0; g < 8; g += 4 {
			c0, c1, c2, c3 := coeffs[g], coeffs[g+1], coeffs[g+2], coeffs[g+3]
			a1, a2 := d.s1[g], d.s2[g]
			b1, b2 := d.s1[g+1], d.s2[g+1]
			e1, e2 := d.s1[g+2], d.s2[g+2]
			f1, f2 := d.s1[g+3], d.s2[g+3]
			for _, x := range seg {
				v := float32(x)
				a1, a2 = v+c0*a1-a2, a1
				b1, b2 = v+c1*b1-b2, b1
				e1, e2 = v+c2*e1-e2, e1
				f1, f2 = v+c3*f1-f2, f1
			}
			d.s1[g], d.s2[g] = a1, a2
			d.s1[g+1], d.s2[g+1] = b1, b2
			d.s1[g+2], d.s2[g+2] = e1, e2
			d.s1[g+3], d.s2[g+3] = f1, f2
		}
		e := d.energy
		for _, x := range seg {
			v := float32(x)
			e += v * v
		}
		d.energy = e
		if d.n += len(seg); d.n == blockSize {
			d.block(emit)
		}
	}
}

// block classifies one complete block and advances the digit state.
func (d *Detector) block(emit func(byte)) {
	var p [8]float32
	for i := range p {
		s1, s2 := d.s1[i], d.s2[i]
		// |X(f)|² of the block; a sine of amplitude A gives (A·N/2)², so
		// 2|X|²/N² is its mean power A²/2.
		p[i] = (s1*s1 + s2*s2 - coeffs[i]*s1*s2) * (2.0 / (blockSize * blockSize))
	}
	digit := classify(&p, d.energy/blockSize)
	d.s1, d.s2, d.energy, d.n = [8]float32{}, [8]float32{}, 0, 0

	if digit != 0 && digit == d.cand {
		d.hits++
	} else {
		d.cand, d.hits = digit, 0
		if digit != 0 {
			d.hits = 1
		}
	}
	if d.cur != 0 {
		if digit == d.cur {
			d.misses = 0
		} else if d.misses++; d.misses >= missesToEnd {
			d.cur = 0
		}
	}
	if d.cur == 0 && d.cand != 0 && d.hits >= hitsToBegin {
		d.cur, d.misses = d.cand, 0
		emit(d.cur)
	}
}

// classify returns the digit a block holds, or 0. p holds the mean power of
// each frequency, mean the block's mean power.
func classify(p *[8]float32, mean float32) byte {
	row, col := 0, 4
	for i := 1; i < 4; i++ {
		if p[i] > p[row] {
			row = i
		}
		if p[4+i] > p[col] {
			col = 4 + i
		}
	}
	pr, pc := p[row], p[col]
	switch {
	case pr < minPower || pc < minPower:
		return 0
	case pr > pc*normalTwist || pc > pr*reverseTwist:
		return 0
	case pr+pc < toneShare*mean:
		return 0
	}
	for i := range 4 {
		if i != row && p[i]*relativePeak > pr {
			return 0
		}
		if 4+i != col && p[4+i]*relativePeak > pc {
			return 0
		}
	}
	return keypad[row][col-4]
}
