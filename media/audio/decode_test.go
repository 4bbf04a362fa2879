package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// wavSpec describes a WAV file the tests build.
type wavSpec struct {
	format     uint16 // formatPCM, formatFloat, formatALaw, formatMuLaw
	bits       int
	channels   int
	rate       int
	extensible bool
}

// tone is a sine of freq Hz at amp (fraction of full scale) lasting d, on every
// channel.
func tone(rate int, freq, amp float64, d time.Duration) []float64 {
	n := int(int64(rate) * int64(d) / int64(time.Second))
	s := make([]float64, n)
	for i := range s {
		s[i] = amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
	}
	return s
}

// encodeSample writes one sample v in [-1, 1] in the spec's encoding.
func (s wavSpec) encodeSample(b []byte, v float64) []byte {
	le := binary.LittleEndian
	switch s.format {
	case formatFloat:
		if s.bits == 32 {
			return le.AppendUint32(b, math.Float32bits(float32(v)))
		}
		return le.AppendUint64(b, math.Float64bits(v))
	case formatMuLaw, formatALaw:
		return append(b, g711Encode(s.format, int16(v*32767)))
	}
	switch s.bits {
	case 8:
		return append(b, byte(int(math.Round(v*127))+128))
	case 16:
		return le.AppendUint16(b, uint16(int16(math.Round(v*32767))))
	case 24:
		x := int32(math.Round(v * 8388607))
		return append(b, byte(x), byte(x>>8), byte(x>>16))
	default:
		return le.AppendUint32(b, uint32(int32(math.Round(v*2147483647))))
	}
}

// chunk is a RIFF chunk with its pad byte when the size is odd.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func (s wavSpec) fmtChunk() []byte {
	le := binary.LittleEndian
	block := s.channels * s.bits / 8
	tag := s.format
	if s.extensible {
		tag = formatExtensible
	}
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, uint16(s.channels))
	b = le.AppendUint32(b, uint32(s.rate))
	b = le.AppendUint32(b, uint32(s.rate*block))
	b = le.AppendUint16(b, uint16(block))
	b = le.AppendUint16(b, uint16(s.bits))
	if s.extensible {
		b = le.AppendUint16(b, 22)
		b = le.AppendUint16(b, uint16(s.bits)) // valid bits
		b = le.AppendUint32(b, 0)              // channel mask
		b = le.AppendUint16(b, s.format)
		b = append(b, ksDataFormatTail...)
	}
	return b
}

// build makes a WAV of the spec from mono samples, copied to every channel,
// with extra chunks placed before the data chunk.
func (s wavSpec) build(mono []float64, extra ...[]byte) []byte {
	var data []byte
	for _, v := range mono {
		for range s.channels {
			data = s.encodeSample(data, v)
		}
	}
	body := []byte("WAVE")
	body = append(body, chunk("fmt ", s.fmtChunk())...)
	for _, e := range extra {
		body = append(body, e...)
	}
	body = append(body, chunk("data", data)...)
	return chunk("RIFF", body)
}

// goertzel is the amplitude (fraction of full scale) of freq in samples at 8 kHz.
func goertzel(x []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / Rate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v)/32768 + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / float64(len(x))
}

// rms is the root mean square level as a fraction of full scale.
func rms(x []int16) float64 {
	var sum float64
	for _, v := range x {
		f := float64(v) / 32768
		sum += f * f
	}
	return math.Sqrt(sum / float64(len(x)))
}

func db(x float64) float64 { return 20 * math.Log10(x) }

// middle drops the first and last 50 ms, where the filter meets the file's edges.
func middle(x []int16) []int16 { return x[400 : len(x)-400] }

func TestDecodeFormatsKeepTone(t *testing.T) {
	specs := []wavSpec{
		{formatPCM, 8, 1, 8000, false},
		{formatPCM, 16, 1, 8000, false},
		{formatPCM, 16, 2, 8000, false},
		{formatPCM, 16, 1, 11025, false},
		{formatPCM, 16, 1, 16000, false},
		{formatPCM, 16, 2, 22050, false},
		{formatPCM, 16, 2, 44100, false},
		{formatPCM, 16, 6, 48000, true},
		{formatPCM, 24, 2, 48000, false},
		{formatPCM, 24, 8, 96000, true},
		{formatPCM, 32, 1, 32000, false},
		{formatPCM, 32, 2, 192000, true},
		{formatPCM, 8, 1, 12000, false},
		{formatFloat, 32, 2, 44100, false},
		{formatFloat, 64, 1, 48000, false},
		{formatFloat, 32, 4, 88200, true},
		{formatMuLaw, 8, 1, 8000, false},
		{formatALaw, 8, 1, 8000, false},
		{formatMuLaw, 8, 2, 16000, false},
		{formatPCM, 16, 1, 44056, false}, // ratio 1000/5507: interpolated phases
		{formatPCM, 16, 1, 8001, false},
		{formatPCM, 16, 1, 37800, false},
	}
	for _, s := range specs {
		for _, freq := range []float64{300, 1000, 3000} {
			name := formatName(s.format) + "/" + strconv.Itoa(s.bits) + "bit/" + strconv.Itoa(s.channels) + "ch/" + strconv.Itoa(s.rate) + "Hz/" + strconv.Itoa(int(freq))
			if s.extensible {
				name += "/extensible"
			}
			t.Run(name, func(t *testing.T) {
				const amp = 0.5
				clip, err := Decode(s.build(tone(s.rate, freq, amp, time.Second)))
				if err != nil {
					t.Fatal(err)
				}
				if d := clip.Duration(); d < 990*time.Millisecond || d > time.Second {
					t.Fatalf("duration %v, want 1 s", d)
				}
				x := middle(clip.Samples)
				got := goertzel(x, freq)
				if math.Abs(db(got/amp)) > 0.5 {
					t.Errorf("level of %v Hz: %.2f dB off", freq, db(got/amp))
				}
				// Nearly all energy is at the tone's frequency (sine RMS is amp/√2).
				if r := rms(x); db(r/(got/math.Sqrt2)) > 0.3 {
					t.Errorf("energy off the tone: rms %.4f, tone %.4f", r, got/math.Sqrt2)
				}
			})
		}
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	tests := []struct {
		rate int
		freq float64
	}{
		{44100, 5000}, {44100, 4500}, {44100, 7000}, {44100, 12000}, {44100, 20000},
		{48000, 5000}, {16000, 5000}, {16000, 7500}, {22050, 6000}, {96000, 30000},
		{192000, 5000}, {11025, 4400}, {44056, 5000},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.rate)+"/"+strconv.Itoa(int(tt.freq)), func(t *testing.T) {
			clip, err := Decode(wavSpec{formatPCM, 16, 2, tt.rate, false}.build(tone(tt.rate, tt.freq, 0.9, time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			r := db(rms(middle(clip.Samples)) / (0.9 / math.Sqrt2))
			t.Logf("leak %.1f dB", r)
			if r > -60 {
				t.Errorf("%v Hz at %d Hz leaks through at %.1f dB", tt.freq, tt.rate, r)
			}
		})
	}
}

func TestDecodeChunks(t *testing.T) {
	s := wavSpec{formatPCM, 16, 1, 16000, false}
	mono := tone(16000, 1000, 0.5, 500*time.Millisecond)
	good := s.build(mono)
	tests := []struct {
		name    string
		file    []byte
		samples int
		err     error
	}{
		{"plain", good, 4000, nil},
		{"odd-sized chunk with pad before data", s.build(mono, chunk("LIST", []byte("INFOabc"))), 4000, nil},
		{"several unknown chunks", s.build(mono, chunk("fact", []byte{1, 2, 3, 4}), chunk("bext", make([]byte, 603)), chunk("junk", nil)), 4000, nil},
		{"chunk after data", append(bytes.Clone(good), chunk("LIST", []byte("x"))...), 4000, nil},
		{"data longer than the file", setDataSize(bytes.Clone(good), 0x7FFFFFF0), 4000, nil},
		{"data size 0xFFFFFFFF (streamed)", setDataSize(bytes.Clone(good), 0xFFFFFFFF), 4000, nil},
		{"truncated mid-sample", good[:len(good)-1001], 4000 - 250, nil},
		{"data of 0 samples", s.build(nil), 0, ErrEmpty},
		{"empty file", nil, 0, ErrNotAudio},
		{"RIFF header only", []byte("RIFF\x04\x00\x00\x00WAVE"), 0, ErrNotAudio},
		{"no data chunk", good[:12+8+16], 0, ErrEmpty},
		{"no fmt chunk", append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("data", []byte{1, 2})...), 0, ErrNotAudio},
		{"truncated fmt", append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("fmt ", []byte{1, 0, 1, 0})...), 0, ErrNotAudio},
		{"text file", []byte("hello, this is not audio at all"), 0, ErrNotAudio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clip, err := Decode(tt.file)
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if d := len(clip.Samples) - tt.samples; d < -2 || d > 2 {
				t.Fatalf("%d samples, want %d", len(clip.Samples), tt.samples)
			}
		})
	}
}

// setDataSize rewrites the size of the last data chunk in a built file.
func setDataSize(b []byte, size uint32) []byte {
	i := bytes.LastIndex(b, []byte("data"))
	binary.LittleEndian.PutUint32(b[i+4:], size)
	return b
}

func TestDecodeRefuses(t *testing.T) {
	pcm := wavSpec{formatPCM, 16, 1, 8000, false}
	withFmt := func(mod func(f []byte)) []byte {
		f := pcm.fmtChunk()
		mod(f)
		body := append([]byte("WAVE"), chunk("fmt ", f)...)
		body = append(body, chunk("data", make([]byte, 64))...)
		return chunk("RIFF", body)
	}
	le := binary.LittleEndian
	tests := []struct {
		name string
		file []byte
		err  error
		says string
	}{
		{"IMA ADPCM", withFmt(func(f []byte) { le.PutUint16(f, 0x11) }), ErrUnsupported, "IMA ADPCM"},
		{"MPEG in WAV", withFmt(func(f []byte) { le.PutUint16(f, 0x55) }), ErrUnsupported, "MPEG Layer 3"},
		{"9 channels", withFmt(func(f []byte) { le.PutUint16(f[2:], 9); le.PutUint16(f[12:], 18) }), ErrUnsupported, "9 channels"},
		{"0 channels", withFmt(func(f []byte) { le.PutUint16(f[2:], 0) }), ErrUnsupported, "0 channels"},
		{"4 kHz", withFmt(func(f []byte) { le.PutUint32(f[4:], 4000) }), ErrUnsupported, "4000 Hz"},
		{"384 kHz", withFmt(func(f []byte) { le.PutUint32(f[4:], 384000) }), ErrUnsupported, "384000 Hz"},
		{"16-bit float", withFmt(func(f []byte) { le.PutUint16(f, formatFloat) }), ErrUnsupported, "IEEE float"},
		{"bits above block", withFmt(func(f []byte) { le.PutUint16(f[14:], 24) }), ErrUnsupported, "24-bit"},
		{"Ogg", []byte("OggS\x00\x02rest of an ogg page"), ErrUnsupported, "Ogg"},
		{"FLAC", []byte("fLaC\x00\x00\x00\x22"), ErrUnsupported, "FLAC"},
		{"AIFF", []byte("FORM\x00\x00\x00\x00AIFFCOMM"), ErrUnsupported, "AIFF"},
		{"M4A", []byte("\x00\x00\x00\x20ftypM4A \x00\x00"), ErrUnsupported, "AAC"},
		{"RIFX", []byte("RIFX\x00\x00\x00\x00WAVE"), ErrUnsupported, "RIFX"},
		{"too long", wavSpec{formatMuLaw, 8, 1, 8000, false}.build(make([]float64, 8000*601)), ErrTooLong, "10 minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.file)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.says)) {
				t.Fatalf("error %q does not say %q", err, tt.says)
			}
		})
	}
}

func TestEncodeWAVRoundTrip(t *testing.T) {
	in := []int16{0, 1, -1, 32767, -32768, 1234, -4321}
	b := EncodeWAV(in)
	if len(b) != 44+2*len(in) || string(b[:4]) != "RIFF" || string(b[36:40]) != "data" {
		t.Fatalf("not a canonical WAV: % x", b[:44])
	}
	for name, dec := range map[string]func([]byte) ([]int16, error){
		"DecodeWAV8k": DecodeWAV8k,
		"Decode": func(b []byte) ([]int16, error) {
			c, err := Decode(b)
			if err != nil {
				return nil, err
			}
			return c.Samples, nil
		},
	} {
		out, err := dec(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(in, out) {
			t.Fatalf("%s: %v became %v", name, in, out)
		}
	}
	if _, err := DecodeWAV8k(EncodeWAV(nil)); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
	for _, s := range []wavSpec{{formatPCM, 16, 1, 16000, false}, {formatPCM, 16, 2, 8000, false}, {formatPCM, 8, 1, 8000, false}, {formatMuLaw, 8, 1, 8000, false}} {
		if _, err := DecodeWAV8k(s.build(tone(s.rate, 440, 0.5, 10*time.Millisecond))); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: %v, want ErrUnsupported", s, err)
		}
	}
	if _, err := DecodeWAV8k([]byte("nope")); !errors.Is(err, ErrNotAudio) {
		t.Errorf("not audio: %v", err)
	}
}

func TestClipDuration(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{{0, 0}, {80, 10 * time.Millisecond}, {8000, time.Second}, {8000 * 600, MaxDuration}} {
		if got := (&Clip{Samples: make([]int16, tt.n)}).Duration(); got != tt.want {
			t.Errorf("%d samples: %v, want %v", tt.n, got, tt.want)
		}
	}
	var nilClip *Clip
	if nilClip.Duration() != 0 {
		t.Error("nil clip has a duration")
	}
}

func g711Encode(format uint16, v int16) byte {
	c := codec.PCMU
	if format == formatALaw {
		c = codec.PCMA
	}
	b := make([]byte, 1)
	codec.Encode(c, []int16{v}, b)
	return b[0]
}
