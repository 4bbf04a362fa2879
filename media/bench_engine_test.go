//go:build linux

package media

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// rusageThread is RUSAGE_THREAD (Linux): the CPU time of the calling thread.
const rusageThread = 1

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// callerNoise is 10 s of PCMA a caller sends: noise with a tone in it, so
// the in-band detector sees broadband audio and no digit.
var callerNoise = sync.OnceValue(func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	pcm := tone(300, 80000)
	for i := range pcm {
		pcm[i] = pcm[i]/2 + int16(r.IntN(6000)-3000)
	}
	out := make([]byte, len(pcm))
	codec.Encode(codec.PCMA, pcm, out)
	return out
})

// BenchmarkMenuCallers is callers sitting in an IVR menu, on loopback: each
// of N legs plays a looping prompt (Play, one goroutine and timer per leg)
// while Listen reads what its phone sends (with telephone-event negotiated,
// or without it so the in-band detector runs). The phones are one socket
// that sends every leg a 20 ms PCMA packet per tick and never reads (the
// kernel drops what the legs play to it). One op is one 20 ms tick; the
// phones run on the benchmark's own thread and their CPU is subtracted.
// Metrics: engine CPU per second per caller and per packet (played and
// received), and heap plus stack held per caller.
func BenchmarkMenuCallers(b *testing.B) {
	for _, n := range []int{100, 300} {
		for _, mode := range []string{"inband", "rfc4733"} {
			b.Run(fmt.Sprintf("callers=%d/%s", n, mode), func(b *testing.B) { benchMenu(b, n, mode == "rfc4733") })
		}
	}
}

func benchMenu(b *testing.B, n int, telephoneEvent bool) {
	pool := newPool(b)
	ph, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ph.Close()
	_ = ph.SetReadBuffer(4096)
	_ = ph.SetWriteBuffer(4 << 20)
	prompt := tone(440, 30*8000)
	var dtmfType uint8
	if telephoneEvent {
		dtmfType = 101
	}

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	legs := make([]*Leg, n)
	bufs := make([]*DigitBuffer, n)
	for i := range legs {
		l, err := pool.NewLeg(loopback)
		if err != nil {
			b.Fatal(err)
		}
		l.SetRemote(Remote{Addr: addrOf(ph), Codec: codec.PCMA, PayloadType: 8, DTMFType: dtmfType, Receive: true})
		legs[i], bufs[i] = l, NewDigitBuffer(0)
		wg.Add(2)
		go func() { defer wg.Done(); _ = l.Listen(ctx, bufs[i]) }()
		go func() { defer wg.Done(); _ = l.Play(ctx, prompt, true) }()
	}
	defer func() {
		cancel()
		wg.Wait()
		for _, l := range legs {
			l.Close()
		}
	}()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	noise := callerNoise()
	pkt := make([]byte, 12+FrameSamples)
	pkt[0], pkt[1] = 0x80, 8
	var seq uint16
	var ts uint32
	start := time.Now()
	tick := 0
	// send is one tick of every phone; it waits for the tick's time first.
	send := func() {
		if wait := time.Until(start.Add(time.Duration(tick) * frameTime)); wait > 0 {
			time.Sleep(wait)
		}
		off := (tick * FrameSamples) % len(noise)
		copy(pkt[12:], noise[off:off+FrameSamples])
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		for i, l := range legs {
			pkt[8], pkt[9], pkt[10], pkt[11] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
			_, _ = ph.WriteToUDPAddrPort(pkt, l.Local())
		}
		seq++
		ts += FrameSamples
		tick++
	}
	// Warm up: every leg has latched, played and listened for a while.
	for range 25 {
		send()
	}
	runtime.ReadMemStats(&m1)
	in0, out0 := legTotals(legs)

	proc0, thr0, wall0 := cpuTime(syscall.RUSAGE_SELF), cpuTime(rusageThread), time.Now()
	for b.Loop() {
		send()
	}
	proc1, thr1, wall1 := cpuTime(syscall.RUSAGE_SELF), cpuTime(rusageThread), time.Now()
	in1, out1 := legTotals(legs)

	engine := (proc1 - proc0) - (thr1 - thr0)
	wall := wall1.Sub(wall0)
	packets := (in1 - in0) + (out1 - out0)
	sent := uint64(b.N) * uint64(n)
	// A leg that fell behind shows in fewer packets than the ticks ask.
	if in1-in0 < sent*9/10 || out1-out0 < sent*9/10 {
		b.Errorf("over %d ticks the %d legs received %d and played %d packets (want about %d each)", b.N, n, in1-in0, out1-out0, sent)
	}
	for _, d := range bufs {
		if len(d.Digits()) > 0 {
			b.Errorf("a digit was detected in the callers' audio")
			break
		}
	}
	b.ReportMetric(float64(engine)/1e6/wall.Seconds()/float64(n), "cpu-ms/s/caller")
	if packets > 0 {
		b.ReportMetric(float64(engine)/1e3/float64(packets), "cpu-µs/pkt")
	}
	b.ReportMetric(float64(thr1-thr0)/1e6/wall.Seconds()/float64(n), "phones-ms/s/caller")
	held := int64(m1.HeapInuse+m1.StackInuse) - int64(m0.HeapInuse+m0.StackInuse)
	b.ReportMetric(float64(held)/1024/float64(n), "KB/caller")
}

// legTotals sums the packets the legs received and sent.
func legTotals(legs []*Leg) (in, out uint64) {
	for _, l := range legs {
		s := l.Stats()
		in += s.PacketsIn
		out += s.PacketsOut
	}
	return in, out
}
