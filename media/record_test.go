package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/mediatest"
)

// parseWAV checks b is a canonical 8 kHz mono 16-bit PCM WAV whose sizes
// match its length, and returns its samples.
func parseWAV(t *testing.T, b []byte) []int16 {
	t.Helper()
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
		t.Fatalf("not a canonical WAV header: % x", b[:min(len(b), 44)])
	}
	le := binary.LittleEndian
	if riff := le.Uint32(b[4:]); int(riff) != len(b)-8 {
		t.Fatalf("RIFF size %d for a file of %d bytes", riff, len(b))
	}
	if le.Uint32(b[16:]) != 16 || le.Uint16(b[20:]) != 1 || le.Uint16(b[22:]) != 1 ||
		le.Uint32(b[24:]) != 8000 || le.Uint32(b[28:]) != 16000 || le.Uint16(b[32:]) != 2 || le.Uint16(b[34:]) != 16 {
		t.Fatalf("not 8 kHz mono 16-bit PCM: % x", b[16:36])
	}
	n := int(le.Uint32(b[40:]))
	if n != len(b)-44 {
		t.Fatalf("data size %d for %d bytes of data", n, len(b)-44)
	}
	pcm := make([]int16, n/2)
	for i := range pcm {
		pcm[i] = int16(le.Uint16(b[44+2*i:]))
	}
	return pcm
}

func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseWAV(t, b)
}

func TestWAVRecorder(t *testing.T) {
	ramp := make([]int16, 20000)
	for i := range ramp {
		ramp[i] = int16(i*7 - 70000)
	}
	tests := []struct {
		name   string
		chunks []int
	}{
		{"empty", nil},
		{"one sample", []int{1}},
		{"packets", []int{160, 160, 160, 160}},
		{"uneven writes past the flush size", []int{7, 4000, 1, 9000, 6992}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "r.wav"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// The recording starts where the writer stands.
			if _, err := f.WriteString("prefix"); err != nil {
				t.Fatal(err)
			}
			r := NewWAVRecorder(f)
			var want []int16
			for _, n := range tt.chunks {
				if err := r.WriteSamples(ramp[len(want) : len(want)+n]); err != nil {
					t.Fatal(err)
				}
				want = ramp[:len(want)+n]
			}
			if d := r.Duration(); d != time.Duration(len(want))*time.Second/8000 {
				t.Fatalf("duration %v", d)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteSamples(ramp[:1]); !errors.Is(err, ErrRecorderClosed) {
				t.Fatalf("write after Close: %v", err)
			}
			// Close leaves the writer open, after the data.
			if _, err := f.WriteString("suffix"); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("prefix")) || !bytes.HasSuffix(b, []byte("suffix")) {
				t.Fatal("the recording overwrote what surrounds it")
			}
			got := parseWAV(t, b[6:len(b)-6])
			if !slicesEqual(got, want) {
				t.Fatalf("read back %d samples, want %d (or they differ)", len(got), len(want))
			}
		})
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCreateWAV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tone.wav")
	r, err := CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm := tone(1000, 4000)
	for i := 0; i < len(pcm); i += FrameSamples {
		if err := r.WriteSamples(pcm[i : i+FrameSamples]); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readWAV(t, path); !slicesEqual(got, pcm) {
		t.Fatal("the file does not hold the samples written")
	}
	if _, err := CreateWAV(filepath.Join(t.TempDir(), "missing", "x.wav")); err == nil {
		t.Fatal("CreateWAV in a missing directory succeeded")
	}
}

// frames records what a mixer writes.
type frames struct{ got [][]int16 }

func (f *frames) WriteSamples(pcm []int16) error {
	f.got = append(f.got, append([]int16(nil), pcm...))
	return nil
}

func constant(v int16, n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = v
	}
	return pcm
}

func TestMixer(t *testing.T) {
	type in struct {
		dir int
		pcm []int16
	}
	tests := []struct {
		name string
		ins  []in
		// want is each frame written: its length and first sample.
		want [][2]int
	}{
		{"both directions, frame by frame", []in{{0, constant(100, 160)}, {1, constant(20, 160)}, {1, constant(30, 160)}, {0, constant(200, 160)}},
			[][2]int{{160, 120}, {160, 230}}},
		{"one direction alone waits out the lag, then goes", []in{{0, constant(5, 160)}, {0, constant(6, 160)}, {0, constant(7, 160)}},
			[][2]int{{160, 5}, {160, 6}, {160, 7}}},
		{"saturates", []in{{0, constant(30000, 160)}, {1, constant(30000, 160)}, {0, constant(-30000, 160)}, {1, constant(-30000, 160)}},
			[][2]int{{160, 32767}, {160, -32768}}},
		{"close flushes a partial frame", []in{{0, constant(9, 80)}, {1, constant(1, 40)}},
			[][2]int{{80, 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &frames{}
			m := &mixer{sink: sink}
			dst := &Leg{}
			dst.remote.Store(&Remote{Codec: codec.PCMA, PayloadType: 8})
			for _, x := range tt.ins {
				payload := make([]byte, len(x.pcm))
				codec.Encode(codec.PCMA, x.pcm, payload)
				m.add(x.dir, rtpPacket(8, 1, 0, 1, payload), dst)
			}
			if err := m.close(); err != nil {
				t.Fatal(err)
			}
			if len(sink.got) != len(tt.want) {
				t.Fatalf("%d frames, want %d", len(sink.got), len(tt.want))
			}
			for i, w := range tt.want {
				f := sink.got[i]
				// A-law rounds: compare within its step.
				if len(f) != w[0] || abs(int(f[0])-w[1]) > abs(w[1])/16+8 {
					t.Fatalf("frame %d: %d samples from %d, want %d from %d", i, len(f), f[0], w[0], w[1])
				}
			}
			// Events are no audio.
			m2 := &mixer{sink: sink}
			m2.add(0, rtpPacket(101, 1, 0, 1, []byte{1, 0, 0, 160}), dst)
			if m2.q[0].n != 0 {
				t.Fatal("an event went into the mix")
			}
		})
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestRelayTapRecordsBothParties: a tapped relay writes one WAV holding
// what both phones said, mixed, about as long as the call.
func TestRelayTapRecordsBothParties(t *testing.T) {
	pool := newPool(t)
	a, b := newLeg(t, pool), newLeg(t, pool)
	pa, pb := phone(t), phone(t)
	a.SetRemote(Remote{Addr: addrOf(pa), Codec: codec.PCMU, PayloadType: 0, DTMFType: 101, Receive: true})
	b.SetRemote(Remote{Addr: addrOf(pb), Codec: codec.PCMA, PayloadType: 8, DTMFType: 101, Receive: true})
	r := Bridge(a, b)
	defer r.Stop()
	path := filepath.Join(t.TempDir(), "call.wav")
	rec, err := CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tap(rec); err != nil {
		t.Fatal(err)
	}
	go receive(pa, time.Second)
	go receive(pb, time.Second)
	ta := &mediatest.Tone{Freq: 600, Amplitude: 6000}
	tb := &mediatest.Tone{Freq: 1400, Amplitude: 6000}
	pcm := make([]int16, FrameSamples)
	payload := make([]byte, FrameSamples)
	tick := time.NewTicker(frameTime)
	for i := range 50 {
		ta.Fill(pcm)
		codec.Encode(codec.PCMU, pcm, payload)
		_, _ = pa.WriteToUDPAddrPort(rtpPacket(0, uint16(i), uint32(i*FrameSamples), 1, payload), a.Local())
		tb.Fill(pcm)
		codec.Encode(codec.PCMA, pcm, payload)
		_, _ = pb.WriteToUDPAddrPort(rtpPacket(8, uint16(i), uint32(i*FrameSamples), 2, payload), b.Local())
		if i == 25 { // an RFC 4733 event is relayed but not recorded
			_, _ = pa.WriteToUDPAddrPort(rtpPacket(101, 100, 4000, 1, []byte{5, 0x8a, 3, 0x20}), a.Local())
		}
		<-tick.C
	}
	tick.Stop()
	time.Sleep(50 * time.Millisecond)
	if err := r.Untap(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	got := readWAV(t, path)
	if len(got) != 50*FrameSamples {
		t.Fatalf("recorded %d samples of a 1 s call, want 8000", len(got))
	}
	e := mediatest.Energy(got)
	// Two sines of equal amplitude: each holds half the power, a quarter
	// of it in Goertzel terms.
	for _, f := range []float64{600, 1400} {
		if g := mediatest.Goertzel(got, f); g < 0.2*e {
			t.Fatalf("%v Hz holds %.0f of %.0f: not in the recording", f, g, e)
		}
	}
	// After Untap nothing more is written.
	if err := r.Tap(nil); err != nil {
		t.Fatal(err)
	}
}

// TestRelayTapOneSided: while one party is silent (no packets at all) the
// other is recorded all the same.
func TestRelayTapOneSided(t *testing.T) {
	pool := newPool(t)
	a, b := newLeg(t, pool), newLeg(t, pool)
	pa, pb := phone(t), phone(t)
	a.SetRemote(Remote{Addr: addrOf(pa), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	b.SetRemote(Remote{Addr: addrOf(pb), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	r := Bridge(a, b)
	defer r.Stop()
	sink := &frames{}
	if err := r.Tap(sink); err != nil {
		t.Fatal(err)
	}
	var seq uint16
	var ts uint32
	sendAudio(pa, a.Local(), codec.PCMU, 1, &seq, &ts, tone(1000, 20*FrameSamples))
	time.Sleep(50 * time.Millisecond)
	if err := r.Untap(); err != nil {
		t.Fatal(err)
	}
	var pcm []int16
	for _, f := range sink.got {
		pcm = append(pcm, f...)
	}
	if len(pcm) != 20*FrameSamples || !mediatest.Dominates(pcm, 1000) {
		t.Fatalf("recorded %d samples (want %d) of one party's tone", len(pcm), 20*FrameSamples)
	}
}

// failing is a sink that refuses audio.
type failing struct{ calls int }

func (f *failing) WriteSamples([]int16) error { f.calls++; return errors.New("disk full") }

func TestTapSinkError(t *testing.T) {
	m := &mixer{sink: &failing{}}
	dst := &Leg{}
	dst.remote.Store(&Remote{Codec: codec.PCMU, PayloadType: 0})
	for range 10 {
		m.add(0, rtpPacket(0, 1, 0, 1, make([]byte, 480)), dst)
	}
	if err := m.close(); err == nil || m.sink.(*failing).calls != 1 {
		t.Fatalf("close: %v after %d writes: the first error must stop the writes", err, m.sink.(*failing).calls)
	}
}
