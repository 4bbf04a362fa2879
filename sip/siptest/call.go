package siptest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/media/codec"
	"github.com/dialtone-pbx/dialtone/media/dtmf"
	"github.com/dialtone-pbx/dialtone/media/mediatest"
	"github.com/dialtone-pbx/dialtone/media/sdp"
)

// Call is one call of a test phone, with its own RTP socket.
type Call struct {
	phone   *Phone
	rtp     *net.UDPConn
	client  *sipgo.DialogClientSession
	server  *sipgo.DialogServerSession
	headers *sip.Request
	ringing atomic.Bool

	mu         sync.Mutex
	remote     netip.AddrPort
	codec      codec.Codec
	pt         uint8
	dtmfPT     uint8
	heard      []int16 // the last two seconds of decoded audio
	packets    int
	digits     []byte
	remoteDir  sdp.Direction
	lastDTMFTS uint32
	// The outgoing stream: audio and RFC 4733 events share SSRC and sequence.
	ssrc    uint32
	seq     uint16
	ts      uint32
	inEvent bool
	silent  bool
	// earlyMedia is the EarlyMedia mode's record of a placed call.
	earlyMedia earlyState
	// inband is audio sent instead of the tone (in-band DTMF), 20 ms a packet.
	inband []int16
	// The incoming stream's continuity (StreamJumps).
	rxStarted bool
	rxSSRC    uint32
	rxSeq     uint16
	rxTS      uint32
	rxWall    time.Time
	jumps     []string

	stop     chan struct{}
	stopOnce sync.Once
	hungUp   chan struct{}
	hupOnce  sync.Once
	wg       sync.WaitGroup
}

func (p *Phone) newCall() (*Call, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(p.cfg.IP)})
	if err != nil {
		return nil, err
	}
	c := &Call{phone: p, rtp: conn, stop: make(chan struct{}), hungUp: make(chan struct{}), remoteDir: sdp.SendRecv,
		ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.mu.Unlock()
	return c, nil
}

func (c *Call) callID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.client != nil:
		return c.client.InviteRequest.CallID().Value()
	case c.headers != nil:
		return c.headers.CallID().Value()
	}
	return ""
}

func (c *Call) localSDP(dir sdp.Direction) []byte {
	codecs := c.phone.cfg.Codecs
	c.mu.Lock()
	if c.codec != codec.Unknown {
		codecs = []codec.Codec{c.codec}
	}
	c.mu.Unlock()
	addr := c.rtp.LocalAddr().(*net.UDPAddr).AddrPort()
	var dtmfPT uint8 = 101
	if c.phone.cfg.NoTelephoneEvent {
		dtmfPT = 0
	}
	body := sdp.Local{Addr: addr, Codecs: codecs, DTMF: dtmfPT,
		Direction: dir, SessionID: 1, Version: uint64(time.Now().UnixNano())}.Marshal()
	if c.phone.cfg.Video {
		body = fmt.Appendf(body, "m=video %d RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendrecv\r\n", addr.Port()+2)
	}
	return body
}

// Response is the 200 that answered a call the phone placed (nil for a
// call it answered).
func (c *Call) Response() *sip.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return nil
	}
	return c.client.InviteResponse
}

// RemoteSDP is the session description the far end sent when the call was
// set up: the 200's for a call the phone placed, the INVITE's for one it
// answered.
func (c *Call) RemoteSDP() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.client != nil && c.client.InviteResponse != nil:
		return c.client.InviteResponse.Body()
	case c.headers != nil:
		return c.headers.Body()
	}
	return nil
}

// start reads the far end's SDP and starts sending the tone and listening.
func (c *Call) start(remoteSDP []byte) error {
	m, err := sdp.Parse(remoteSDP)
	if err != nil {
		return err
	}
	f, err := m.Choose(c.phone.cfg.Codecs)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.remote, c.codec, c.pt, c.dtmfPT = m.Addr, f.Codec, f.PayloadType, m.DTMFPayloadType
	c.mu.Unlock()
	c.wg.Add(2)
	go c.send()
	go c.receive()
	return nil
}

// Invite is the INVITE of an incoming call (nil for calls the phone placed).
func (c *Call) Invite() *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headers
}

// Codec is the codec the call negotiated.
func (c *Call) Codec() codec.Codec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codec
}

// SetSilent stops (or resumes) sending audio, as a muted phone would.
func (c *Call) SetSilent(silent bool) {
	c.mu.Lock()
	c.silent = silent
	c.mu.Unlock()
}

func (c *Call) send() {
	defer c.wg.Done()
	tone := &mediatest.Tone{Freq: c.phone.cfg.ToneHz, Amplitude: 8000}
	pcm := make([]int16, 160)
	pkt := make([]byte, 12+160)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		tone.Fill(pcm)
		c.mu.Lock()
		c.ts += 160
		if c.silent || c.inEvent {
			c.mu.Unlock()
			continue
		}
		if len(c.inband) > 0 {
			n := copy(pcm, c.inband)
			clear(pcm[n:])
			c.inband = c.inband[n:]
		}
		c.seq++
		dst, cd := c.remote, c.codec
		pkt[0], pkt[1] = 0x80, c.pt
		binary.BigEndian.PutUint16(pkt[2:], c.seq)
		binary.BigEndian.PutUint32(pkt[4:], c.ts)
		binary.BigEndian.PutUint32(pkt[8:], c.ssrc)
		c.mu.Unlock()
		codec.Encode(cd, pcm, pkt[12:])
		_, _ = c.rtp.WriteToUDPAddrPort(pkt, dst)
	}
}

func (c *Call) receive() {
	defer c.wg.Done()
	buf := make([]byte, 1500)
	pcm := make([]int16, 1500)
	for {
		n, err := c.rtp.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		pt := buf[1] & 0x7f
		c.mu.Lock()
		c.followStream(buf[:n], time.Now())
		c.recordArrival(time.Now())
		c.packets++
		switch {
		case c.dtmfPT != 0 && pt == c.dtmfPT && n >= 16:
			if e, err := dtmf.Parse(buf[12:n]); err == nil && e.End {
				d := dtmf.Digit(e.Code)
				ts := binary.BigEndian.Uint32(buf[4:8])
				// End packets are sent three times; count each event once.
				if len(c.digits) == 0 || ts != c.lastDTMFTS {
					c.digits = append(c.digits, d)
				}
				c.lastDTMFTS = ts
			}
		case codec.FromPayloadType(pt) != codec.Unknown:
			k := n - 12
			codec.Decode(codec.FromPayloadType(pt), buf[12:n], pcm[:k])
			c.heard = append(c.heard, pcm[:k]...)
			if len(c.heard) > 16000 {
				c.heard = append(c.heard[:0], c.heard[len(c.heard)-16000:]...)
			}
		}
		c.mu.Unlock()
	}
}

// Hears reports whether the last second of received audio is dominated by freq.
func (c *Call) Hears(freq float64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.heard) < 8000 {
		return false
	}
	return mediatest.Dominates(c.heard[len(c.heard)-8000:], freq)
}

// WaitHears waits until the phone hears freq, or ctx ends.
func (c *Call) WaitHears(ctx context.Context, freq float64) bool {
	for {
		if c.Hears(freq) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PacketsReceived counts RTP packets received.
func (c *Call) PacketsReceived() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.packets
}

// Digits returns the RFC 4733 digits received so far.
func (c *Call) Digits() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.digits)
}

// RemoteDirection is the media direction the PBX last asked of this phone.
func (c *Call) RemoteDirection() sdp.Direction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteDir
}

// SendDigits sends RFC 4733 events in the audio stream (RFC 4733 §2.5:
// one timestamp per event, growing durations, the end packet three times).
func (c *Call) SendDigits(digits string) error {
	c.mu.Lock()
	pt := c.dtmfPT
	c.mu.Unlock()
	if pt == 0 {
		return errors.New("the far end did not negotiate telephone-event")
	}
	for i := 0; i < len(digits); i++ {
		code, ok := dtmf.Code(digits[i])
		if !ok {
			return errors.New("not a DTMF digit")
		}
		c.mu.Lock()
		c.inEvent = true
		start := c.ts
		c.mu.Unlock()
		for j := range 8 {
			e := dtmf.Event{Code: code, Volume: 10, Duration: uint16(min(j+1, 6) * 160), End: j >= 5}
			c.mu.Lock()
			c.seq++
			pkt := make([]byte, 12, 16)
			pkt[0], pkt[1] = 0x80, pt
			if j == 0 {
				pkt[1] |= 0x80
			}
			binary.BigEndian.PutUint16(pkt[2:], c.seq)
			binary.BigEndian.PutUint32(pkt[4:], start)
			binary.BigEndian.PutUint32(pkt[8:], c.ssrc)
			dst := c.remote
			c.mu.Unlock()
			if _, err := c.rtp.WriteToUDPAddrPort(e.Append(pkt), dst); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.mu.Lock()
		c.inEvent = false
		c.mu.Unlock()
		time.Sleep(60 * time.Millisecond)
	}
	return nil
}

// Hold sends a re-INVITE with sendonly (hold) or sendrecv (resume).
func (c *Call) Hold(ctx context.Context, hold bool) error {
	dir := sdp.SendRecv
	if hold {
		dir = sdp.SendOnly
	}
	body := c.localSDP(dir)
	var target sip.Uri
	var res *sip.Response
	var err error
	if c.client != nil {
		target = c.client.InviteResponse.Contact().Address
		req := sip.NewRequest(sip.INVITE, target)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
		if res, err = c.client.Do(ctx, req); err == nil && res.StatusCode == 200 {
			err = c.client.WriteAck(ctx, sip.NewRequest(sip.ACK, target))
		}
	} else {
		target = c.headers.Contact().Address
		req := sip.NewRequest(sip.INVITE, target)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
		if res, err = c.server.Do(ctx, req); err == nil && res.StatusCode == 200 {
			err = c.server.WriteRequest(sip.NewRequest(sip.ACK, target))
		}
	}
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return &DialError{Code: res.StatusCode}
	}
	return nil
}

// SendInfo sends an INFO within the call (RFC 6086) with the given
// Content-Type and body, and returns the final response.
func (c *Call) SendInfo(ctx context.Context, contentType string, body []byte) (*sip.Response, error) {
	var target sip.Uri
	if c.client != nil {
		target = c.client.InviteResponse.Contact().Address
	} else {
		target = c.headers.Contact().Address
	}
	req := sip.NewRequest(sip.INFO, target)
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	if c.client != nil {
		return c.client.Do(ctx, req)
	}
	return c.server.Do(ctx, req)
}

// Hangup sends BYE.
func (c *Call) Hangup(ctx context.Context) error {
	defer c.stopMedia()
	if c.client != nil {
		return c.client.Bye(ctx)
	}
	return c.server.Bye(ctx)
}

// HungUp is closed when the far end sends BYE.
func (c *Call) HungUp() <-chan struct{} { return c.hungUp }

func (c *Call) remoteHangup() {
	c.hupOnce.Do(func() { close(c.hungUp) })
	c.stopMedia()
}

func (c *Call) stopMedia() {
	c.stopOnce.Do(func() {
		close(c.stop)
		_ = c.rtp.Close()
	})
	c.wg.Wait()
}

// SendInbandDigits plays digits as DTMF tones in the phone's audio (ITU-T
// Q.23 pairs, 120 ms each with 80 ms of silence between), instead of its
// tone. It returns at once; the tones take 200 ms a digit.
func (c *Call) SendInbandDigits(digits string) error {
	var pcm []int16
	for i := 0; i < len(digits); i++ {
		low, high, ok := mediatest.DTMFFreqs(digits[i])
		if !ok {
			return errors.New("not a DTMF digit")
		}
		a := &mediatest.Tone{Freq: low, Amplitude: 6000}
		b := &mediatest.Tone{Freq: high, Amplitude: 6000}
		x, y := make([]int16, 960), make([]int16, 960)
		a.Fill(x)
		b.Fill(y)
		for j := range x {
			x[j] += y[j]
		}
		pcm = append(pcm, x...)
		pcm = append(pcm, make([]int16, 640)...)
	}
	c.mu.Lock()
	c.inband = append(c.inband, pcm...)
	c.mu.Unlock()
	return nil
}

// followStream checks that the stream received stays one continuous RTP
// stream (RFC 3550 §5.1, §8.2): same SSRC, sequence numbers one apart,
// timestamps advancing with the wall clock. Called with c.mu held.
func (c *Call) followStream(pkt []byte, now time.Time) {
	if len(pkt) < 12 {
		return
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	if c.rxStarted {
		wallTicks := now.Sub(c.rxWall).Seconds() * 8000
		tsDelta := float64(int32(ts - c.rxTS))
		switch {
		case ssrc != c.rxSSRC:
			c.jumps = append(c.jumps, fmt.Sprintf("ssrc %08x -> %08x", c.rxSSRC, ssrc))
		case seq != c.rxSeq+1 && seq != c.rxSeq:
			c.jumps = append(c.jumps, fmt.Sprintf("sequence %d -> %d", c.rxSeq, seq))
		case tsDelta < -800 || tsDelta > wallTicks+1600:
			c.jumps = append(c.jumps, fmt.Sprintf("timestamp %d -> %d after %.0f ms", c.rxTS, ts, wallTicks/8))
		}
	}
	c.rxStarted, c.rxSSRC, c.rxSeq, c.rxTS, c.rxWall = true, ssrc, seq, ts, now
}

// StreamJumps lists the discontinuities seen in the received stream.
func (c *Call) StreamJumps() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.jumps)
}
