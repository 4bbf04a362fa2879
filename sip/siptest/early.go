package siptest

import (
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/media/mediatest"
	"github.com/dialtone-pbx/dialtone/media/sdp"
)

// earlyState is what a call placed in EarlyMedia mode keeps: whether early
// media started, when the 200 arrived, the audio heard before it and the
// arrival time of every RTP packet.
type earlyState struct {
	started  bool
	answered time.Time
	heard    []int16
	arrivals []time.Time
}

// early handles a response to the phone's INVITE in EarlyMedia mode: the
// SDP of a provisional starts the audio (RFC 3960 §3), the 200 marks the
// answer.
func (c *Call) early(res *sip.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if res.IsSuccess() && c.earlyMedia.answered.IsZero() {
		c.earlyMedia.answered = time.Now()
		c.earlyMedia.heard = append([]int16(nil), c.heard...)
		return
	}
	if !res.IsProvisional() || res.StatusCode == sip.StatusTrying || len(res.Body()) == 0 || c.earlyMedia.started {
		return
	}
	c.earlyMedia.started = true
	c.mu.Unlock()
	err := c.start(res.Body())
	c.mu.Lock()
	if err != nil {
		c.earlyMedia.started = false
	}
}

func (c *Call) earlyStarted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.earlyMedia.started
}

// follow points a call whose early media already plays at the address of
// the 200's SDP.
func (c *Call) follow(answer []byte) error {
	m, err := sdp.Parse(answer)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.remote = m.Addr
	c.mu.Unlock()
	return nil
}

// recordArrival notes a packet's arrival (EarlyMedia mode); c.mu is held.
func (c *Call) recordArrival(now time.Time) {
	if c.phone.cfg.EarlyMedia {
		c.earlyMedia.arrivals = append(c.earlyMedia.arrivals, now)
	}
}

// AnsweredAt is when the 200 to a call placed in EarlyMedia mode arrived.
func (c *Call) AnsweredAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.earlyMedia.answered
}

// Arrivals are the arrival times of the RTP packets a call placed in
// EarlyMedia mode received, in order.
func (c *Call) Arrivals() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.earlyMedia.arrivals...)
}

// HeardEarly reports whether the last second of audio received before the
// 200 (EarlyMedia mode) is dominated by freq.
func (c *Call) HeardEarly(freq float64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.earlyMedia.heard
	if len(h) < 8000 {
		return false
	}
	return mediatest.Dominates(h[len(h)-8000:], freq)
}

// answerEarly answers an incoming call as a carrier playing early media:
// 183 with SDP and the tone at once, 180 half way, 200 after RingFor.
func (p *Phone) answerEarly(req *sip.Request, dlg *sipgo.DialogServerSession) {
	c, accepted := p.acceptMedia(req, dlg)
	if !accepted {
		return
	}
	body := c.localSDP(sdp.SendRecv)
	p.mu.Lock()
	p.ringing++
	p.mu.Unlock()
	_ = dlg.Respond(sip.StatusSessionInProgress, "Session Progress", body, sip.NewHeader("Content-Type", "application/sdp"))
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-dlg.Context().Done():
			return false
		}
	}
	ok := wait(p.cfg.RingFor / 2)
	if ok {
		_ = dlg.Respond(sip.StatusRinging, "Ringing", nil)
		ok = wait(p.cfg.RingFor - p.cfg.RingFor/2)
	}
	p.rung()
	if !ok {
		c.stopMedia()
		return
	}
	if err := dlg.RespondSDP(body); err != nil && dlg.LoadState() < sip.DialogStateConfirmed {
		c.stopMedia()
		return
	}
	p.incoming <- c
}
