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
