package media

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/dtmf"
	"github.com/dialtone-pbx/dialtone/media/mediatest"
)

// otherPool is a second PBX's ports: a leg of newPool may talk to it
// (legs of one pool never send into each other).
func otherPool(t testing.TB) *PortPool {
	t.Helper()
	p, err := NewPortPool(loopback, 31000, 31999)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// listen runs l.Listen with a DigitBuffer until the test ends.
func listen(t *testing.T, l *Leg) *DigitBuffer {
	t.Helper()
	buf := NewDigitBuffer(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Listen(ctx, buf) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen returned %v", err)
		}
	})
	return buf
}

// digits reads what arrives on buf until quiet passes without a digit.
func digits(buf *DigitBuffer, quiet time.Duration) string {
	var got []byte
	for {
		select {
		case d := <-buf.Digits():
			got = append(got, d)
		case <-time.After(quiet):
			return string(got)
		}
	}
}

func TestListenRFC4733FromAnotherLeg(t *testing.T) {
	l := newLeg(t, newPool(t))
	s := newLeg(t, otherPool(t))
	l.SetRemote(Remote{Addr: s.Local(), Codec: codec.PCMU, PayloadType: 0, DTMFType: 101, Receive: true})
	s.SetRemote(Remote{Addr: l.Local(), Codec: codec.PCMU, PayloadType: 0, DTMFType: 101, Receive: true})
	buf := listen(t, l)
	// Each digit is 8 packets, the end sent three times (RFC 4733 §2.5.1.4).
	if err := s.SendDTMF(context.Background(), "19#*0D"); err != nil {
		t.Fatal(err)
	}
	if got := digits(buf, 300*time.Millisecond); got != "19#*0D" {
		t.Fatalf("heard %q", got)
	}
	if st := l.Stats(); st.PacketsIn != 6*8 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
	if time.Since(l.LastReceived()) > time.Second {
		t.Fatal("LastReceived not updated: the media timeout would fire")
	}
}

// rawEvent is an RFC 4733 packet as a phone would send it.
func rawEvent(seq uint16, ts, ssrc uint32, code uint8, end bool, dur uint16) []byte {
	return rtpPacket(101, seq, ts, ssrc, dtmf.Event{Code: code, End: end, Volume: 10, Duration: dur}.Append(nil))
}

func TestEventState(t *testing.T) {
	type pkt struct {
		ssrc, ts uint32
		code     uint8
		end      bool
		dur      uint16
	}
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"start, updates, three ends", []pkt{{1, 100, 5, false, 160}, {1, 100, 5, false, 320}, {1, 100, 5, true, 480}, {1, 100, 5, true, 480}, {1, 100, 5, true, 480}}, "5"},
		{"only the end packets", []pkt{{1, 100, 11, true, 800}, {1, 100, 11, true, 800}, {1, 100, 11, true, 800}}, "#"},
		{"start lost, an update first", []pkt{{1, 100, 3, false, 480}, {1, 100, 3, true, 800}}, "3"},
		{"the same digit twice", []pkt{{1, 100, 7, true, 800}, {1, 1700, 7, true, 800}}, "77"},
		{"a late end of the previous digit", []pkt{{1, 100, 1, false, 160}, {1, 1700, 2, false, 160}, {1, 100, 1, true, 800}, {1, 1700, 2, true, 800}}, "12"},
		{"a long press in two segments (§2.5.2.3)", []pkt{{1, 100, 4, false, 65535}, {1, 100 + 65535, 4, false, 800}, {1, 100 + 65535, 4, true, 1600}}, "4"},
		{"a new source with the same timestamp", []pkt{{1, 100, 6, true, 800}, {2, 100, 6, true, 800}}, "66"},
		{"flash is not a digit", []pkt{{1, 100, 16, true, 800}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e eventState
			var got []byte
			for _, p := range tt.pkts {
				payload := dtmf.Event{Code: p.code, End: p.end, Duration: p.dur}.Append(nil)
				if d, ok := e.digit(p.ssrc, p.ts, payload); ok {
					got = append(got, d)
				}
			}
			if string(got) != tt.want {
				t.Fatalf("digits %q, want %q", got, tt.want)
			}
		})
	}
}

// TestListenEventsFromAPhone: a phone whose start packets were lost, and a
// stranger sending events next to it: only the phone's presses count, once.
func TestListenEventsFromAPhone(t *testing.T) {
	l := newLeg(t, newPool(t))
	ph, stranger := phone(t), phone(t)
	l.SetRemote(Remote{Addr: addrOf(ph), Codec: codec.PCMA, PayloadType: 8, DTMFType: 101, Receive: true})
	buf := listen(t, l)
	var seq uint16
	send := func(ts uint32, code uint8, end bool, dur uint16) {
		seq++
		_, _ = ph.WriteToUDPAddrPort(rawEvent(seq, ts, 0xabc, code, end, dur), l.Local())
	}
	send(1000, 2, true, 800) // the start and updates of '2' were lost
	send(1000, 2, true, 800)
	send(1000, 2, true, 800)
	_, _ = stranger.WriteToUDPAddrPort(rawEvent(1, 5000, 0xdead, 9, true, 800), l.Local())
	send(3000, 8, false, 160)
	send(3000, 8, false, 320)
	send(3000, 8, true, 480)
	send(3000, 8, true, 480)
	if got := digits(buf, 200*time.Millisecond); got != "28" {
		t.Fatalf("heard %q", got)
	}
	if st := l.Stats(); st.Dropped != 1 {
		t.Fatalf("stats %+v: the stranger's packet was not dropped", st)
	}
}

// dualTone is a DTMF digit's two sines, each at amp.
func dualTone(d byte, n int, amp float64) []int16 {
	lo := map[byte]float64{'1': 697, '2': 697, '3': 697, 'A': 697, '4': 770, '5': 770, '6': 770, 'B': 770,
		'7': 852, '8': 852, '9': 852, 'C': 852, '*': 941, '0': 941, '#': 941, 'D': 941}[d]
	hi := map[byte]float64{'1': 1209, '4': 1209, '7': 1209, '*': 1209, '2': 1336, '5': 1336, '8': 1336, '0': 1336,
		'3': 1477, '6': 1477, '9': 1477, '#': 1477, 'A': 1633, 'B': 1633, 'C': 1633, 'D': 1633}[d]
	pcm := make([]int16, n)
	for i := range pcm {
		t := float64(i) / 8000
		pcm[i] = int16(amp*math.Sin(2*math.Pi*lo*t) + amp*math.Sin(2*math.Pi*hi*t))
	}
	return pcm
}

// sendAudio sends pcm from ph to dst as RTP in c, 20 ms per packet, as fast
// as the socket takes it (Listen looks at samples, not arrival times).
func sendAudio(ph interface {
	WriteToUDPAddrPort([]byte, netip.AddrPort) (int, error)
}, dst netip.AddrPort, c codec.Codec, ssrc uint32, seq *uint16, ts *uint32, pcm []int16) {
	payload := make([]byte, FrameSamples)
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		codec.Encode(c, pcm[i:i+FrameSamples], payload)
		*seq++
		*ts += FrameSamples
		_, _ = ph.WriteToUDPAddrPort(rtpPacket(c.PayloadType(), *seq, *ts, ssrc, payload), dst)
		time.Sleep(time.Millisecond) // no burst beyond the socket's buffer
	}
}

func TestListenInBand(t *testing.T) {
	tests := []struct {
		name     string
		dtmfType uint8
		want     string
	}{
		{"no telephone-event: tones are digits", 0, "258#"},
		{"telephone-event negotiated: tones are only audio", 101, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLeg(t, newPool(t))
			ph := phone(t)
			l.SetRemote(Remote{Addr: addrOf(ph), Codec: codec.PCMU, PayloadType: 0, DTMFType: tt.dtmfType, Receive: true})
			buf := listen(t, l)
			var seq uint16
			var ts uint32
			for _, d := range []byte("258#") {
				sendAudio(ph, l.Local(), codec.PCMU, 7, &seq, &ts, dualTone(d, 800, 6000))
				sendAudio(ph, l.Local(), codec.PCMU, 7, &seq, &ts, make([]int16, 800))
			}
			if got := digits(buf, 300*time.Millisecond); got != tt.want {
				t.Fatalf("heard %q, want %q", got, tt.want)
			}
		})
	}
}

// collector is a Listener keeping the audio it gets.
type collector struct {
	mu  sync.Mutex
	pcm []int16
}

func (c *collector) Audio(pcm []int16) {
	c.mu.Lock()
	c.pcm = append(c.pcm, pcm...)
	c.mu.Unlock()
}

func (c *collector) Digit(byte) {}

func (c *collector) samples() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int16(nil), c.pcm...)
}

func TestListenAudioAndRecord(t *testing.T) {
	l := newLeg(t, newPool(t))
	ph := phone(t)
	l.SetRemote(Remote{Addr: addrOf(ph), Codec: codec.PCMA, PayloadType: 8, Receive: true})
	buf := listen(t, l)
	path := filepath.Join(t.TempDir(), "vm.wav")
	rec, err := CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint16
	var ts uint32
	sendAudio(ph, l.Local(), codec.PCMA, 9, &seq, &ts, tone(400, 800)) // before the recording
	time.Sleep(50 * time.Millisecond)
	if err := buf.Attach(rec); err != nil {
		t.Fatal(err)
	}
	sendAudio(ph, l.Local(), codec.PCMA, 9, &seq, &ts, tone(1000, 8000))
	time.Sleep(100 * time.Millisecond)
	if err := buf.Detach(); err != nil {
		t.Fatal(err)
	}
	sendAudio(ph, l.Local(), codec.PCMA, 9, &seq, &ts, tone(400, 800)) // after it
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	pcm := readWAV(t, path)
	if len(pcm) != 8000 {
		t.Fatalf("recorded %d samples, want 8000", len(pcm))
	}
	if !mediatest.Dominates(pcm, 1000) {
		t.Fatal("the recording does not hold the tone")
	}
}

// TestListenExclusive: a leg has one reader at a time, and comes back to a
// relay after Listen.
func TestListenExclusive(t *testing.T) {
	pool := newPool(t)
	a, b := newLeg(t, pool), newLeg(t, pool)
	pa, pb := phone(t), phone(t)
	a.SetRemote(Remote{Addr: addrOf(pa), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	b.SetRemote(Remote{Addr: addrOf(pb), Codec: codec.PCMU, PayloadType: 0, Receive: true})

	r := Bridge(a, b)
	if err := a.Listen(context.Background(), &collector{}); !errors.Is(err, ErrLegBusy) {
		t.Fatalf("Listen on a bridged leg: %v", err)
	}
	r.Stop()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := &collector{}
	go func() { done <- a.Listen(ctx, c) }()
	for a.readers.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := a.Listen(context.Background(), &collector{}); !errors.Is(err, ErrLegBusy) {
		t.Fatalf("a second Listen: %v", err)
	}
	var seq uint16
	var ts uint32
	sendAudio(pa, a.Local(), codec.PCMU, 1, &seq, &ts, tone(1000, 800))
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Listen returned %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Listen did not return when its ctx ended")
	}
	if got := len(c.samples()); got != 800 {
		t.Fatalf("listened to %d samples", got)
	}

	// Back in a relay: Listen's deadline must not stop it.
	r = Bridge(a, b)
	defer r.Stop()
	sendAudio(pa, a.Local(), codec.PCMU, 1, &seq, &ts, tone(1000, 800))
	if got := receive(pb, 200*time.Millisecond); len(got) != 5 {
		t.Fatalf("the relay after Listen passed %d of 5 packets", len(got))
	}
}

type nopListener struct{ digits int }

func (n *nopListener) Audio([]int16) {}
func (n *nopListener) Digit(byte)    { n.digits++ }

// BenchmarkListenPacket is Listen's per-packet work for audio from a far
// end without telephone-event: source check, counters, decode, in-band
// detector. It must not allocate.
func BenchmarkListenPacket(b *testing.B) {
	l := newLeg(b, newPool(b))
	peer := netip.MustParseAddrPort("192.0.2.7:40000")
	l.SetRemote(Remote{Addr: peer, Codec: codec.PCMU, PayloadType: 0, Receive: true})
	payload := make([]byte, FrameSamples)
	codec.Encode(codec.PCMU, dualTone('5', FrameSamples, 6000), payload)
	pkt := rtpPacket(0, 1, 0, 42, payload)
	ls := newListening(&nopListener{})
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		if !l.admit(peer, pkt, now) {
			b.Fatal("dropped")
		}
		ls.packet(l, pkt, now)
	}
}

// BenchmarkListenEvent is the same for an RFC 4733 event packet.
func BenchmarkListenEvent(b *testing.B) {
	l := newLeg(b, newPool(b))
	peer := netip.MustParseAddrPort("192.0.2.7:40000")
	l.SetRemote(Remote{Addr: peer, Codec: codec.PCMU, PayloadType: 0, DTMFType: 101, Receive: true})
	ls := newListening(&nopListener{})
	now := time.Now()
	b.ReportAllocs()
	i := 0
	pkt := rawEvent(0, 0, 42, 5, false, 160)
	for b.Loop() {
		i++
		// A new event every 8 packets.
		ts := uint32(i/8) * 800
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		if !l.admit(peer, pkt, now) {
			b.Fatal("dropped")
		}
		ls.packet(l, pkt, now)
	}
}

// FuzzListenPacket: whatever arrives, the packet path neither panics nor
// reads outside the packet.
func FuzzListenPacket(f *testing.F) {
	f.Add(rawEvent(1, 160, 42, 5, true, 800), uint8(101))
	f.Add(rtpPacket(0, 1, 0, 42, make([]byte, 160)), uint8(0))
	f.Add([]byte{0xb3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 9, 1, 2, 3}, uint8(0))
	f.Add([]byte{0xa0, 101, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0x80, 0, 160, 0, 0, 2}, uint8(101))
	pool, err := NewPortPool(loopback, 32000, 32099)
	if err != nil {
		f.Fatal(err)
	}
	l, err := pool.NewLeg(loopback)
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	f.Fuzz(func(t *testing.T, pkt []byte, dtmfType uint8) {
		l.SetRemote(Remote{Codec: codec.PCMU, PayloadType: 0, DTMFType: dtmfType & 0x7f, Receive: true})
		newListening(&nopListener{}).packet(l, pkt, time.Now())
	})
}

// TestListenWhilePlaying is an IVR menu with barge-in: a prompt plays while
// the leg is listened to, and the caller's first key press ends it.
func TestListenWhilePlaying(t *testing.T) {
	l := newLeg(t, newPool(t))
	s := newLeg(t, otherPool(t))
	l.SetRemote(Remote{Addr: s.Local(), Codec: codec.PCMU, PayloadType: 0, DTMFType: 101, Receive: true})
	s.SetRemote(Remote{Addr: l.Local(), Codec: codec.PCMU, PayloadType: 0, DTMFType: 101, Receive: true})
	buf := listen(t, l)
	heard := &collector{}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Listen(ctx, heard)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	played := make(chan error, 1)
	go func() { played <- l.Play(ctx, tone(1000, 8000), true) }()
	time.Sleep(200 * time.Millisecond)
	if err := s.SendDTMF(context.Background(), "3"); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-buf.Digits():
		if d != '3' {
			t.Fatalf("digit %c", d)
		}
		cancel()
	case <-time.After(time.Second):
		t.Fatal("no digit while the prompt played")
	}
	if err := <-played; !errors.Is(err, context.Canceled) {
		t.Fatalf("Play returned %v", err)
	}
	if pcm := heard.samples(); len(pcm) < 8*FrameSamples || !mediatest.Dominates(pcm, 1000) {
		t.Fatalf("the caller heard %d samples, not the prompt", len(pcm))
	}
}
