package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// count counts the entries of a phone's received list equal to what.
func count(received []string, what string) int {
	n := 0
	for _, r := range received {
		if r == what {
			n++
		}
	}
	return n
}

// TestCallCancelCrossesAnswer has the callee answer at the very moment the
// PBX's CANCEL reaches it, which the caller's CANCEL set off: the caller
// gets 200 (CANCEL) and 487 and never a 2xx or a BYE, the callee's
// dialog is acknowledged and hung up, and the record says cancelled.
// DIALTONE_CANCEL_RACE sets the number of calls (default 50).
func TestCallCancelCrossesAnswer(t *testing.T) {
	n := 50
	if v := os.Getenv("DIALTONE_CANCEL_RACE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("DIALTONE_CANCEL_RACE=%q is not a positive number", v)
		}
	}
	p := startPBX(t, 60*time.Second)
	a := p.extension("4100", nil)
	b := p.extension("4101", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerOnCancel, "PCMU")
	for i := range n {
		caller.ClearReceived()
		callee.ClearReceived()
		ctx, cancel := within(20 * time.Second)
		dialled := make(chan error, 1)
		go func() {
			_, err := caller.Dial(ctx, b.Number)
			dialled <- err
		}()
		if !eventually(5*time.Second, func() bool { return callee.Ringing() == 1 }) {
			cancel()
			t.Fatalf("call %d: the callee does not ring", i)
		}
		cancel()
		if err := <-dialled; err == nil {
			t.Fatalf("call %d: the caller's cancelled call was answered", i)
		}
		wait, stop := within(10 * time.Second)
		in, err := callee.Incoming(wait)
		stop()
		if err != nil {
			t.Fatalf("call %d: the callee's 200 was not acknowledged: %v (callee received %s)", i, err, strings.Join(callee.Received(), ", "))
		}
		waitHungUp(t, in)
		rec := p.lastRecord()
		if rec.Disposition != "cancelled" || rec.HangupCause != "caller_cancel" || rec.HangupBy != "caller" || rec.AnsweredAt != nil {
			t.Fatalf("call %d: record %+v", i, rec)
		}
		time.Sleep(50 * time.Millisecond) // a stray BYE or 2xx would be here by now
		got := caller.Received()
		if count(got, "BYE") != 0 || count(got, "200 INVITE") != 0 || count(got, "487 INVITE") == 0 || count(got, "200 CANCEL") == 0 {
			t.Fatalf("call %d: the caller received %s", i, strings.Join(got, ", "))
		}
		got = callee.Received()
		if count(got, "ACK") == 0 || count(got, "BYE") != 1 || count(got, "CANCEL") == 0 {
			t.Fatalf("call %d: the callee received %s", i, strings.Join(got, ", "))
		}
	}
	var hist struct{ Items []struct{ Type string } }
	p.call("GET", "/v1/events/history?types=call.answered&limit=10", nil, &hist)
	if len(hist.Items) != 0 {
		t.Fatalf("%d call.answered events for cancelled calls", len(hist.Items))
	}
	p.call("GET", "/v1/events/history?types=call.ended&limit=500", nil, &hist)
	if len(hist.Items) != n {
		t.Fatalf("%d call.ended events for %d calls", len(hist.Items), n)
	}
	t.Logf("%d calls: CANCEL crossed the callee's 200 each time; every record cancelled, no BYE to the caller, the callee got ACK and BYE", n)
}

// phoneWith registers a test phone for an extension with more settings than
// pbx.phone takes.
func (p *pbx) phoneWith(e extension, cfg siptest.Config) *siptest.Phone {
	p.t.Helper()
	cfg.User, cfg.Password, cfg.Domain, cfg.PBX = e.Number, e.SIPPassword, "pbx.test", p.sip
	ph, err := siptest.New(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(ph.Close)
	ctx, cancel := within(5 * time.Second)
	defer cancel()
	if res, err := ph.Register(ctx, 300); err != nil || res.StatusCode != 200 {
		p.t.Fatalf("register %s: %v %v", e.Number, res, err)
	}
	return ph
}

// mlines lists the m-lines of a session description.
func mlines(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\r\n") {
		if strings.HasPrefix(line, "m=") {
			out = append(out, line)
		}
	}
	return out
}

// TestCallVideoPhoneGoesAudioOnly: a phone offering audio and video gets an
// answer with both m-lines, in order, the video one refused with port 0
// (RFC 3264 §6), and the call carries audio both ways.
func TestCallVideoPhoneGoesAudioOnly(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	a := p.extension("4200", nil)
	b := p.extension("4201", nil)
	caller := p.phoneWith(a, siptest.Config{ToneHz: 600, Video: true})
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	out, in := connect(t, ctx, caller, b.Number, callee, 1400, 600)
	got := mlines(out.RemoteSDP())
	if len(got) != 2 || !strings.HasPrefix(got[0], "m=audio ") || strings.HasPrefix(got[0], "m=audio 0 ") || got[1] != "m=video 0 RTP/AVP 96" {
		t.Fatalf("answer m-lines %q", got)
	}
	if offer := mlines(in.RemoteSDP()); len(offer) != 1 || !strings.HasPrefix(offer[0], "m=audio ") {
		t.Fatalf("offer to the callee %q", offer)
	}
	// A re-offer (hold) from the video phone keeps the refused stream.
	if err := out.Hold(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := out.Hold(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !out.WaitHears(ctx, 1400) || !in.WaitHears(ctx, 600) {
		t.Fatal("no audio after hold and resume")
	}
	_ = out.Hangup(ctx)
	waitHungUp(t, in)
	if rec := p.lastRecord(); rec.Disposition != "answered" || rec.HangupCause != "normal_clearing" {
		t.Fatalf("record %+v", rec)
	}
}

// TestCallDelayedOffer: an INVITE without SDP, from a phone or from a
// trunk, gets the PBX's offer in the 200 and the caller's answer in the ACK
// is used (RFC 3261 §13.2.1): audio flows both ways.
func TestCallDelayedOffer(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	a := p.extension("4300", nil)
	b := p.extension("4301", nil)
	caller := p.phoneWith(a, siptest.Config{ToneHz: 600, DelayedOffer: true, Codecs: siptest.ParseCodecs("PCMA")})
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")

	t.Run("phone", func(t *testing.T) {
		ctx, cancel := within(20 * time.Second)
		defer cancel()
		out, in := connect(t, ctx, caller, b.Number, callee, 1400, 600)
		if out.Codec().String() != "PCMA" || in.Codec().String() != "PCMU" {
			t.Fatalf("codecs: caller %s, callee %s", out.Codec(), in.Codec())
		}
		if out.Invite() != nil || len(mlines(out.RemoteSDP())) != 1 {
			t.Fatalf("the 200 carries no offer: %q", out.RemoteSDP())
		}
		// Hold and resume, from the callee, reach the delayed-offer caller.
		if err := in.Hold(ctx, true); err != nil {
			t.Fatal(err)
		}
		if err := in.Hold(ctx, false); err != nil {
			t.Fatal(err)
		}
		if !out.WaitHears(ctx, 1400) || !in.WaitHears(ctx, 600) {
			t.Fatal("no audio after hold and resume")
		}
		_ = in.Hangup(ctx)
		waitHungUp(t, out)
		if rec := p.lastRecord(); rec.Disposition != "answered" || rec.Media.Caller.Codec != "PCMA" || rec.Media.Callee.Codec != "PCMU" {
			t.Fatalf("record %+v", rec)
		}
	})

	t.Run("trunk", func(t *testing.T) {
		var trunk struct{ ID string }
		if code := p.call("POST", "/v1/trunks", map[string]any{"name": "carrier", "host": "127.0.0.6", "auth_mode": "ip",
			"allowed_cidrs": []string{"127.0.0.6/32"}}, &trunk); code != 201 {
			t.Fatalf("create trunk: %d", code)
		}
		if code := p.call("POST", "/v1/numbers", map[string]any{"number": "+14155550142", "trunk_id": trunk.ID,
			"route": map[string]any{"type": "extension", "extension_id": b.ID}}, nil); code != 201 {
			t.Fatalf("create number: %d", code)
		}
		pstn, err := siptest.New(siptest.Config{User: "+12125550123", Domain: "carrier.test", PBX: p.sip, ToneHz: 600, IP: "127.0.0.6",
			DelayedOffer: true})
		if err != nil {
			t.Fatal(err)
		}
		defer pstn.Close()
		ctx, cancel := within(20 * time.Second)
		defer cancel()
		out, in := connect(t, ctx, pstn, "+14155550142", callee, 1400, 600)
		_ = out.Hangup(ctx)
		waitHungUp(t, in)
		if rec := p.lastRecord(); rec.Disposition != "answered" || rec.Direction != "inbound" {
			t.Fatalf("record %+v", rec)
		}
	})
}
