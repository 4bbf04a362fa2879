// Command rtpgen drives thousands of G.711 RTP streams through a media relay
// from one process and measures what comes back: per-stream loss, the RFC 3550
// interarrival jitter (§6.4.1, A.8) the relay adds, and round-trip delay.
//
// Each stream sends a 20 ms PCMA packet (172 bytes) every 20 ms from one
// caller socket to the relay's address for its call; the relay forwards it to
// the callee, which is rtpgen's echo socket: it sends every packet back to the
// address it came from, and the relay forwards it to the caller socket. The
// payload carries the stream id and the send time, so transit and loss are
// measured per packet whatever the relay does to the RTP header. Sends and
// receives go through sendmmsg/recvmmsg (golang.org/x/net/ipv4 WriteBatch and
// ReadBatch) in batches of 64: one goroutine sends, one receives, one echoes.
//
// Streams are started and stopped by lines appended to log files (sipp's
// <log> action with -trace_logs), which rtpgen follows:
//
//	rtpgen start CALL-ID IP PORT   start a stream to IP:PORT (the relay's address from the answer)
//	                               (anything after PORT is ignored)
//	rtpgen stop CALL-ID            stop it
//
// SIGUSR1 writes one JSON line to -marks: the counters of the window since the
// previous mark (packets sent and delivered, loss, jitter and delay
// percentiles). SIGINT/SIGTERM stop it and write the summary of the whole run
// as JSON to stdout.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

const (
	ptime      = 20 * time.Millisecond
	payloadLen = 160 // 20 ms of 8 kHz G.711
	packetLen  = 12 + payloadLen
	batch      = 64
	magic      = 0x52544750 // "RTGP"
	maxStreams = 1 << 16
	slotDur    = 100 * time.Millisecond
	slots      = 1 << 11 // 204.8 s of per-slot counters, indexed by send time
	// grace is how long after a window ends packets sent in it may still come
	// back and count as delivered.
	grace = 500 * time.Millisecond
	// tailPackets are the last packets (100 ms) of a stopped stream, left
	// out of its loss.
	tailPackets = 5
)

// stream is one call leg. The sender owns seq, ts and dst; the receiver owns
// the measurement fields; sent and ended are shared.
type stream struct {
	id    uint32
	ssrc  uint32
	dst   net.UDPAddr
	seq   uint16
	ts    uint32
	sent  atomic.Uint64
	ended atomic.Bool

	recv        uint64
	lastTransit int64
	jitter      float64 // RFC 3550 J, in nanoseconds
	maxJitter   float64
}

// hist counts durations in 10 µs buckets up to 2 s.
type hist struct {
	b [200_001]uint32
	n uint64
}

func (h *hist) add(d time.Duration) {
	i := int(d / (10 * time.Microsecond))
	if i < 0 {
		i = 0
	}
	if i >= len(h.b) {
		i = len(h.b) - 1
	}
	h.b[i]++
	h.n++
}

// pct is the q-quantile in milliseconds.
func (h *hist) pct(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(h.n)))
	var c uint64
	for i, v := range h.b {
		c += uint64(v)
		if c >= want {
			return float64(i) / 100
		}
	}
	return float64(len(h.b)-1) / 100
}

func (h *hist) reset() { *h = hist{} }

type gen struct {
	conn, echo *ipv4.PacketConn
	start      time.Time

	mu      sync.Mutex
	streams [maxStreams]atomic.Pointer[stream]
	byCall  map[string]*stream
	nextID  uint32
	adds    chan *stream

	sentSlot [slots]atomic.Uint64
	recvSlot [slots]atomic.Uint64
	echoed   atomic.Uint64
	received atomic.Uint64
	stray    atomic.Uint64

	// receiver-owned window state
	winJitter, winDelay hist
	allJitter, allDelay hist
}

func (g *gen) now() int64 { return int64(time.Since(g.start)) }

func slotOf(t int64) int { return int(t/int64(slotDur)) & (slots - 1) }

// follow reads the control lines appended to path, polling every 10 ms.
func (g *gen) follow(path string, stop <-chan struct{}) {
	var f *os.File
	var r *bufio.Reader
	var partial string
	for {
		select {
		case <-stop:
			return
		default:
		}
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			r = bufio.NewReader(f)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			partial += line
			time.Sleep(10 * time.Millisecond)
			continue
		}
		g.control(partial + line)
		partial = ""
	}
}

func (g *gen) control(line string) {
	i := strings.Index(line, "rtpgen ")
	if i < 0 {
		return
	}
	f := strings.Fields(line[i:])
	switch {
	case len(f) >= 5 && f[1] == "start":
		ap, err := netip.ParseAddrPort(net.JoinHostPort(f[3], f[4]))
		if err != nil {
			log.Printf("bad start line %q: %v", line, err)
			return
		}
		g.mu.Lock()
		if g.byCall[f[2]] != nil || g.nextID >= maxStreams {
			g.mu.Unlock()
			return
		}
		s := &stream{id: g.nextID, ssrc: 0x10000000 + g.nextID, dst: *net.UDPAddrFromAddrPort(ap), lastTransit: -1}
		g.streams[s.id].Store(s)
		g.byCall[f[2]] = s
		g.nextID++
		g.mu.Unlock()
		g.adds <- s
	case len(f) == 3 && f[1] == "stop":
		g.mu.Lock()
		s := g.byCall[f[2]]
		g.mu.Unlock()
		if s != nil {
			s.ended.Store(true)
		}
	}
}

// send paces every live stream at 20 ms: the period is cut into 1 ms slots,
// a stream sends in the slot it was added in, and each slot goes out in
// batches of 64.
func (g *gen) send(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	const perPeriod = int(ptime / time.Millisecond)
	var ring [perPeriod][]*stream
	next := 0
	msgs := make([]ipv4.Message, batch)
	bufs := make([][]byte, batch)
	for i := range msgs {
		bufs[i] = make([]byte, packetLen)
		msgs[i].Buffers = [][]byte{bufs[i]}
	}
	tick := g.start
	for {
		select {
		case <-stop:
			return
		default:
		}
	drain:
		for {
			select {
			case s := <-g.adds:
				// Spread new streams over the least loaded slot.
				best := 0
				for i := range ring {
					if len(ring[i]) < len(ring[best]) {
						best = i
					}
				}
				ring[best] = append(ring[best], s)
			default:
				break drain
			}
		}
		tick = tick.Add(time.Millisecond)
		if d := time.Until(tick); d > 0 {
			time.Sleep(d)
		}
		slot := ring[next]
		live := slot[:0]
		for _, s := range slot {
			if !s.ended.Load() {
				live = append(live, s)
			}
		}
		clear(slot[len(live):])
		ring[next] = live
		next = (next + 1) % perPeriod
		for off := 0; off < len(live); off += batch {
			n := min(batch, len(live)-off)
			now := g.now()
			for i := range n {
				s := live[off+i]
				b := bufs[i]
				b[0], b[1] = 0x80, 8 // V=2, PT=8 PCMA
				binary.BigEndian.PutUint16(b[2:], s.seq)
				binary.BigEndian.PutUint32(b[4:], s.ts)
				binary.BigEndian.PutUint32(b[8:], s.ssrc)
				binary.BigEndian.PutUint32(b[12:], magic)
				binary.BigEndian.PutUint32(b[16:], s.id)
				binary.BigEndian.PutUint64(b[20:], uint64(now))
				for j := 28; j < packetLen; j++ {
					b[j] = 0xd5 // A-law silence
				}
				s.seq++
				s.ts += payloadLen
				msgs[i].Addr = &s.dst
			}
			sent, err := g.conn.WriteBatch(msgs[:n], 0)
			if err != nil && sent <= 0 {
				sent = 0
			}
			for i := range sent {
				live[off+i].sent.Add(1)
			}
			g.sentSlot[slotOf(now)].Add(uint64(sent))
		}
	}
}

// receive reads what the relay sends back to the caller socket and measures
// it, until the socket is closed; it also answers marks.
func (g *gen) receive(marks <-chan chan<- mark, done chan<- struct{}) {
	defer close(done)
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	winStart := g.now()
	for {
		select {
		case reply := <-marks:
			end := g.now()
			reply <- g.window(winStart, end)
			g.winJitter.reset()
			g.winDelay.reset()
			winStart = end
		default:
		}
		_ = g.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := g.conn.ReadBatch(msgs, 0)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("read: %v", err)
			continue
		}
		now := g.now()
		for _, m := range msgs[:n] {
			b := m.Buffers[0][:m.N]
			if m.N < 28 || binary.BigEndian.Uint32(b[12:]) != magic {
				g.stray.Add(1)
				continue
			}
			id := binary.BigEndian.Uint32(b[16:])
			sentAt := int64(binary.BigEndian.Uint64(b[20:]))
			s := g.streams[id%maxStreams].Load()
			if s == nil || sentAt > now {
				g.stray.Add(1)
				continue
			}
			g.received.Add(1)
			g.recvSlot[slotOf(sentAt)].Add(1)
			s.recv++
			transit := now - sentAt
			if s.lastTransit >= 0 {
				// RFC 3550 §6.4.1: J += (|D| - J) / 16.
				d := math.Abs(float64(transit - s.lastTransit))
				s.jitter += (d - s.jitter) / 16
				s.maxJitter = max(s.maxJitter, s.jitter)
				g.winJitter.add(time.Duration(s.jitter))
				g.allJitter.add(time.Duration(s.jitter))
			}
			s.lastTransit = transit
			g.winDelay.add(time.Duration(transit))
			g.allDelay.add(time.Duration(transit))
		}
	}
}

// echo sends every packet on the echo socket back where it came from.
func (g *gen) runEcho(done chan<- struct{}) {
	defer close(done)
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	out := make([]ipv4.Message, batch)
	for i := range out {
		out[i].Buffers = [][]byte{nil}
	}
	for {
		n, err := g.echo.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("echo read: %v", err)
			continue
		}
		for i, m := range msgs[:n] {
			out[i].Buffers[0] = m.Buffers[0][:m.N]
			out[i].Addr = m.Addr
		}
		for off := 0; off < n; {
			w, err := g.echo.WriteBatch(out[off:n], 0)
			if err != nil || w <= 0 {
				break
			}
			off += w
		}
		g.echoed.Add(uint64(n))
	}
}

// mark is one window's measurements.
type mark struct {
	Seconds     float64 `json:"seconds"`
	Streams     int     `json:"streams_live"`
	Sent        uint64  `json:"sent"`
	Delivered   uint64  `json:"delivered"`
	DeliveredPc float64 `json:"delivered_pct"`
	LossPc      float64 `json:"loss_pct"`
	JitterP50   float64 `json:"jitter_p50_ms"`
	JitterP99   float64 `json:"jitter_p99_ms"`
	DelayP50    float64 `json:"rtt_p50_ms"`
	DelayP99    float64 `json:"rtt_p99_ms"`
	Received    uint64  `json:"received_total"`
	Echoed      uint64  `json:"echoed_total"`
}

// window counts packets sent in [from, to-grace) and how many of them came
// back; jitter and delay are of the packets received since the last mark.
func (g *gen) window(from, to int64) mark {
	cut := max(from, to-int64(grace))
	var sent, got uint64
	for t := from - from%int64(slotDur); t < cut-cut%int64(slotDur); t += int64(slotDur) {
		sent += g.sentSlot[slotOf(t)].Load()
		got += g.recvSlot[slotOf(t)].Load()
	}
	m := mark{Seconds: float64(to-from) / 1e9, Sent: sent, Delivered: got,
		JitterP50: g.winJitter.pct(0.5), JitterP99: g.winJitter.pct(0.99),
		DelayP50: g.winDelay.pct(0.5), DelayP99: g.winDelay.pct(0.99),
		Received: g.received.Load(), Echoed: g.echoed.Load()}
	g.mu.Lock()
	n := g.nextID
	g.mu.Unlock()
	for i := range n {
		if !g.streams[i].Load().ended.Load() {
			m.Streams++
		}
	}
	if sent > 0 {
		m.DeliveredPc = 100 * float64(got) / float64(sent)
		m.LossPc = 100 - m.DeliveredPc
	}
	return m
}

// summary is the whole run.
type summary struct {
	Streams         int     `json:"streams"`
	Sent            uint64  `json:"sent"`
	Received        uint64  `json:"received"`
	Echoed          uint64  `json:"echoed"`
	Stray           uint64  `json:"stray"`
	LossPc          float64 `json:"loss_pct"`
	StreamsWithLoss int     `json:"streams_with_loss"`
	StreamLossP50   float64 `json:"stream_loss_p50_pct"`
	StreamLossP99   float64 `json:"stream_loss_p99_pct"`
	StreamLossMax   float64 `json:"stream_loss_max_pct"`
	NoAudio         int     `json:"streams_without_audio"`
	JitterP50       float64 `json:"jitter_p50_ms"`
	JitterP99       float64 `json:"jitter_p99_ms"`
	StreamJitterP99 float64 `json:"stream_max_jitter_p99_ms"`
	DelayP50        float64 `json:"rtt_p50_ms"`
	DelayP99        float64 `json:"rtt_p99_ms"`
}

func (g *gen) summarize() summary {
	var s summary
	var losses, jitters []float64
	g.mu.Lock()
	n := g.nextID
	g.mu.Unlock()
	for i := range n {
		st := g.streams[i].Load()
		sent := st.sent.Load()
		if sent == 0 {
			continue
		}
		// The last packets of a stream that was stopped race the teardown of
		// the call (BYE) at the relay: they do not count.
		if st.ended.Load() {
			sent = max(sent, tailPackets+1) - tailPackets
		}
		s.Streams++
		s.Sent += sent
		s.Received += min(st.recv, sent)
		loss := 100 * float64(sent-min(st.recv, sent)) / float64(sent)
		losses = append(losses, loss)
		jitters = append(jitters, st.maxJitter/1e6)
		if st.recv < sent {
			s.StreamsWithLoss++
		}
		if st.recv == 0 {
			s.NoAudio++
		}
	}
	s.Echoed, s.Stray = g.echoed.Load(), g.stray.Load()
	if s.Sent > 0 {
		s.LossPc = 100 * float64(s.Sent-s.Received) / float64(s.Sent)
	}
	s.StreamLossP50, s.StreamLossP99, s.StreamLossMax = quantile(losses, 0.5), quantile(losses, 0.99), quantile(losses, 1)
	s.StreamJitterP99 = quantile(jitters, 0.99)
	s.JitterP50, s.JitterP99 = g.allJitter.pct(0.5), g.allJitter.pct(0.99)
	s.DelayP50, s.DelayP99 = g.allDelay.pct(0.5), g.allDelay.pct(0.99)
	return s
}

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[max(i, 0)]
}

func listen(addr string) (*ipv4.PacketConn, error) {
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, err
	}
	u := c.(*net.UDPConn)
	// Room for a few periods of every stream: a 2-core box schedules late.
	_ = u.SetReadBuffer(16 << 20)
	_ = u.SetWriteBuffer(16 << 20)
	return ipv4.NewPacketConn(c), nil
}

func main() {
	local := flag.String("local", "127.0.0.70:40000", "caller socket: the address the callers' SDP offers")
	echoAddr := flag.String("echo", "127.0.0.71:40002", "echo socket: the address the callees' SDP answers")
	logs := flag.String("logs", "", "comma-separated log files to follow for start/stop lines")
	marks := flag.String("marks", "", "file to append a JSON line to on each SIGUSR1")
	flag.Parse()
	if *logs == "" {
		fmt.Fprintln(os.Stderr, "usage: rtpgen -logs FILE[,FILE...] [-local IP:PORT] [-echo IP:PORT] [-marks FILE]")
		os.Exit(2)
	}
	conn, err := listen(*local)
	if err != nil {
		log.Fatal(err)
	}
	echo, err := listen(*echoAddr)
	if err != nil {
		log.Fatal(err)
	}
	g := &gen{conn: conn, echo: echo, start: time.Now(), byCall: map[string]*stream{}, adds: make(chan *stream, maxStreams)}

	stop := make(chan struct{})
	sendDone, recvDone, echoDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	markReq := make(chan chan<- mark)
	for _, p := range strings.Split(*logs, ",") {
		go g.follow(p, stop)
	}
	go g.send(stop, sendDone)
	go g.receive(markReq, recvDone)
	go g.runEcho(echoDone)

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	for s := range sig {
		if s == syscall.SIGUSR1 {
			reply := make(chan mark, 1)
			markReq <- reply
			m := <-reply
			if *marks != "" {
				if f, err := os.OpenFile(*marks, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					_ = json.NewEncoder(f).Encode(m)
					f.Close()
				}
			}
			continue
		}
		break
	}
	// Stop sending, let what is in flight come back, then stop receiving.
	close(stop)
	<-sendDone
	time.Sleep(300 * time.Millisecond)
	_ = conn.Close()
	<-recvDone
	_ = echo.Close()
	<-echoDone
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(g.summarize())
}
