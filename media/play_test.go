package media

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/mediatest"
)

// received is one RTP packet as a test phone got it.
type received struct {
	at      time.Time
	pt      uint8
	marker  bool
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// receive reads packets on c until none arrives for quiet.
func receive(c *net.UDPConn, quiet time.Duration) []received {
	var out []received
	buf := make([]byte, 1500)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		if n < 12 {
			continue
		}
		out = append(out, received{
			at: time.Now(), pt: buf[1] & 0x7f, marker: buf[1]&0x80 != 0,
			seq: binary.BigEndian.Uint16(buf[2:]), ts: binary.BigEndian.Uint32(buf[4:]),
			ssrc: binary.BigEndian.Uint32(buf[8:]), payload: append([]byte(nil), buf[12:n]...),
		})
	}
}

func tone(freq float64, n int) []int16 {
	pcm := make([]int16, n)
	(&mediatest.Tone{Freq: freq, Amplitude: 8000}).Fill(pcm)
	return pcm
}

func newLeg(t testing.TB, pool *PortPool) *Leg {
	t.Helper()
	l, err := pool.NewLeg(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestPlayPacesTone(t *testing.T) {
	for _, c := range []codec.Codec{codec.PCMU, codec.PCMA} {
		t.Run(c.String(), func(t *testing.T) {
			leg := newLeg(t, newPool(t))
			ph := phone(t)
			leg.SetRemote(Remote{Addr: addrOf(ph), Codec: c, PayloadType: c.PayloadType(), Receive: true})
			// 49 whole frames and 60 samples: the 50th packet is padded.
			pcm := tone(1000, 49*FrameSamples+60)
			var got []received
			done := make(chan struct{})
			go func() { got = receive(ph, 300*time.Millisecond); close(done) }()
			start := time.Now()
			if err := leg.Play(context.Background(), pcm, false); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			<-done
			if took < 980*time.Millisecond || took > 1300*time.Millisecond {
				t.Fatalf("Play took %v for 1 s of audio", took)
			}
			if len(got) != 50 {
				t.Fatalf("%d packets, want 50", len(got))
			}
			var heard []int16
			for i, p := range got {
				if p.pt != c.PayloadType() || len(p.payload) != FrameSamples {
					t.Fatalf("packet %d: pt %d, %d bytes", i, p.pt, len(p.payload))
				}
				if p.marker != (i == 0) {
					t.Fatalf("packet %d: marker %v", i, p.marker)
				}
				if i > 0 {
					q := got[i-1]
					if p.ssrc != q.ssrc || p.seq != q.seq+1 || p.ts != q.ts+FrameSamples {
						t.Fatalf("packet %d: ssrc %x seq %d ts %d after %x %d %d", i, p.ssrc, p.seq, p.ts, q.ssrc, q.seq, q.ts)
					}
				}
				dec := make([]int16, FrameSamples)
				codec.Decode(c, p.payload, dec)
				heard = append(heard, dec...)
			}
			// Paced, not bursted: 49 intervals of 20 ms.
			if span := got[49].at.Sub(got[0].at); span < 900*time.Millisecond || span > 1100*time.Millisecond {
				t.Fatalf("50 packets spread over %v, want about 980 ms", span)
			}
			if !mediatest.Dominates(heard[:len(pcm)], 1000) {
				t.Fatal("the tone did not arrive")
			}
			if e := mediatest.Energy(heard[len(pcm):]); e > 100 {
				t.Fatalf("the padding is not silence (energy %v)", e)
			}
			if st, ok := waitStats(leg, func(st Stats) bool { return st.PacketsOut == 50 }); !ok {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestPlayBetweenRelayedAudio: relay -> prompt -> relay reaches the phone
// as one stream: one SSRC, sequence +1 at each packet, timestamps that
// follow the wall clock across both changes of source.
func TestPlayBetweenRelayedAudio(t *testing.T) {
	pool := newPool(t)
	a, b := newLeg(t, pool), newLeg(t, pool)
	pa, pb := phone(t), phone(t)
	a.SetRemote(Remote{Addr: addrOf(pa), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	b.SetRemote(Remote{Addr: addrOf(pb), Codec: codec.PCMA, PayloadType: 8, Receive: true})
	r := Bridge(a, b)
	defer r.Stop()

	// Phone A talks (400 Hz) for 1.2 s.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		talk := &mediatest.Tone{Freq: 400, Amplitude: 8000}
		pcm := make([]int16, FrameSamples)
		payload := make([]byte, FrameSamples)
		tick := time.NewTicker(frameTime)
		defer tick.Stop()
		for i := range 60 {
			talk.Fill(pcm)
			codec.Encode(codec.PCMU, pcm, payload)
			_, _ = pa.WriteToUDPAddrPort(rtpPacket(0, uint16(5000+i), uint32(i*FrameSamples), 0x1234, payload), a.Local())
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var got []received
	done := make(chan struct{})
	go func() { got = receive(pb, 300*time.Millisecond); close(done) }()
	time.Sleep(300 * time.Millisecond)
	if err := b.Play(ctx, tone(1000, 15*FrameSamples), false); err != nil {
		t.Fatal(err)
	}
	<-done

	if len(got) < 50 {
		t.Fatalf("only %d packets", len(got))
	}
	// Which packets are the prompt (1 kHz) and which A's voice (400 Hz).
	kinds := make([]byte, len(got))
	for i, p := range got {
		pcm := make([]int16, len(p.payload))
		codec.Decode(codec.PCMA, p.payload, pcm)
		switch {
		case mediatest.Dominates(pcm, 1000):
			kinds[i] = 'P'
		case mediatest.Dominates(pcm, 400):
			kinds[i] = 'R'
		default:
			t.Fatalf("packet %d is neither the prompt nor A", i)
		}
	}
	first, last := -1, -1
	for i, k := range kinds {
		if k == 'P' {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 1 || last != first+14 || last >= len(got)-1 {
		t.Fatalf("stream %s: want relayed audio, 15 prompt packets, relayed audio", kinds)
	}
	for i := 1; i < len(got); i++ {
		p, q := got[i], got[i-1]
		if p.ssrc != q.ssrc {
			t.Fatalf("packet %d: SSRC changed", i)
		}
		if p.seq != q.seq+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.seq, q.seq)
		}
		dts := time.Duration(p.ts-q.ts) * time.Second / 8000
		wall := p.at.Sub(q.at)
		if dts < frameTime || dts-wall > 40*time.Millisecond || wall-dts > 40*time.Millisecond {
			t.Fatalf("packet %d (%c after %c): timestamp advanced %v over %v of wall time", i, kinds[i], kinds[i-1], dts, wall)
		}
		// A change of source is flagged (RFC 3551 §4.1).
		if kinds[i] != kinds[i-1] && !p.marker {
			t.Fatalf("packet %d: no marker where the source changed", i)
		}
	}
}

func TestPlayOnHoldSendsNothingButKeepsTime(t *testing.T) {
	leg := newLeg(t, newPool(t))
	ph := phone(t)
	leg.SetRemote(Remote{Addr: addrOf(ph), Codec: codec.PCMU, PayloadType: 0, Receive: false})
	start := time.Now()
	if err := leg.Play(context.Background(), tone(1000, 10*FrameSamples), false); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 190*time.Millisecond {
		t.Fatalf("Play took %v for 200 ms of audio", took)
	}
	if got := receive(ph, 50*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d packets sent to a far end on hold", len(got))
	}
}

func TestPlayLoopUntilCancelled(t *testing.T) {
	leg := newLeg(t, newPool(t))
	ph := phone(t)
	leg.SetRemote(Remote{Addr: addrOf(ph), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// 50 ms of audio looped for 300 ms: about 15 packets, and no gap.
	err := leg.Play(ctx, tone(1000, 400), true)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Play returned %v", err)
	}
	got := receive(ph, 50*time.Millisecond)
	if len(got) < 13 || len(got) > 17 {
		t.Fatalf("%d packets in 300 ms", len(got))
	}
	var heard []int16
	for _, p := range got {
		dec := make([]int16, FrameSamples)
		codec.Decode(codec.PCMU, p.payload, dec)
		heard = append(heard, dec...)
	}
	// The loop wraps within frames: no silence is inserted.
	for i := 0; i+FrameSamples <= len(heard); i += FrameSamples {
		if mediatest.Energy(heard[i:i+FrameSamples]) < 1e6 {
			t.Fatalf("frame %d is quiet", i/FrameSamples)
		}
	}
}

// TestPlaysQueue: a second Play waits for the first; the far end hears one
// prompt after the other, never both at once.
func TestPlaysQueue(t *testing.T) {
	leg := newLeg(t, newPool(t))
	ph := phone(t)
	leg.SetRemote(Remote{Addr: addrOf(ph), Codec: codec.PCMU, PayloadType: 0, Receive: true})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := leg.Play(context.Background(), tone(1000, 10*FrameSamples), false); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(30 * time.Millisecond)
	if err := leg.Play(context.Background(), tone(600, 10*FrameSamples), false); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if took := time.Since(start); took < 390*time.Millisecond {
		t.Fatalf("two 200 ms prompts took %v", took)
	}
	got := receive(ph, 50*time.Millisecond)
	if len(got) != 20 {
		t.Fatalf("%d packets, want 20", len(got))
	}
	for i, p := range got {
		dec := make([]int16, FrameSamples)
		codec.Decode(codec.PCMU, p.payload, dec)
		want := 1000.0
		if i >= 10 {
			want = 600
		}
		if !mediatest.Dominates(dec, want) {
			t.Fatalf("packet %d is not the %v Hz prompt", i, want)
		}
		if i > 0 && p.seq != got[i-1].seq+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.seq, got[i-1].seq)
		}
	}
	// A Play waiting for its turn gives up with its ctx.
	block, cancelBlock := context.WithCancel(context.Background())
	defer cancelBlock()
	go func() { _ = leg.Play(block, tone(1000, 160), true) }()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := leg.Play(ctx, tone(600, 160), false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a queued Play returned %v", err)
	}
}

// BenchmarkPlayFrame is the per-packet work of Play: build the packet in its
// buffer, encode, rewrite into the leg's stream and send it. It must not
// allocate.
func BenchmarkPlayFrame(b *testing.B) {
	pool := newPool(b)
	leg := newLeg(b, pool)
	ph, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ph.Close()
	leg.SetRemote(Remote{Addr: ph.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: codec.PCMA, PayloadType: 8, Receive: true})
	p := newPlayer(tone(1000, 8000), true)
	b.ReportAllocs()
	for b.Loop() {
		if err := leg.playFrame(p, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
