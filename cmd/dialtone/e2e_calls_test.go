package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

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

// TestCallStatusMapping: a callee's server error is not a missed call: the
// caller gets 500 (never a 503, RFC 3261 §16.7) and the record callee_error.
// Event packages the PBX does not serve get 489 Bad Event, MESSAGE 405 with
// Allow, and the 2xx of a call carries Allow and Supported.
func TestCallStatusMapping(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	caller := p.phone(p.extension("4400", nil), 600, siptest.AnswerNow, "PCMU")
	for i, tt := range []struct {
		reject int
		code   int
		cause  string
		disp   string
	}{
		{503, 500, "callee_error", "failed"},
		{500, 500, "callee_error", "failed"},
		{488, 488, "incompatible_media", "failed"},
		{486, 486, "busy", "busy"},
	} {
		t.Run(fmt.Sprint(tt.reject), func(t *testing.T) {
			e := p.extension(fmt.Sprint(4401+i), nil)
			p.phoneWith(e, siptest.Config{ToneHz: 1400, RejectCode: tt.reject})
			ctx, cancel := within(10 * time.Second)
			defer cancel()
			_, err := caller.Dial(ctx, e.Number)
			if de, ok := err.(*siptest.DialError); !ok || de.Code != tt.code {
				t.Fatalf("want %d, got %v", tt.code, err)
			}
			if rec := p.lastRecord(); rec.Disposition != tt.disp || rec.HangupCause != tt.cause || rec.HangupBy != "callee" {
				t.Fatalf("record %+v", rec)
			}
		})
	}

	t.Run("2xx carries Allow and Supported", func(t *testing.T) {
		callee := p.extension("4499", nil)
		phone := p.phone(callee, 1400, siptest.AnswerNow, "PCMU")
		ctx, cancel := within(20 * time.Second)
		defer cancel()
		out, in := connect(t, ctx, caller, callee.Number, phone, 1400, 600)
		res := out.Response()
		allow, supported := res.GetHeader("Allow"), res.GetHeader("Supported")
		if allow == nil || !strings.Contains(allow.Value(), "INVITE") || !strings.Contains(allow.Value(), "BYE") || supported == nil {
			t.Fatalf("200 without Allow and Supported:\n%s", res)
		}
		_ = out.Hangup(ctx)
		waitHungUp(t, in)
	})

	t.Run("event packages and MESSAGE", func(t *testing.T) {
		ua, _ := sipgo.NewUA()
		defer ua.Close()
		client, _ := sipgo.NewClient(ua)
		ctx, cancel := within(3 * time.Second)
		defer cancel()
		for _, tt := range []struct {
			method sip.RequestMethod
			event  string
			code   int
			allow  bool
		}{
			{sip.SUBSCRIBE, "presence", 489, false},
			{sip.SUBSCRIBE, "message-summary", 489, false},
			{sip.PUBLISH, "presence", 489, false},
			{sip.MESSAGE, "", 405, true},
		} {
			req := sip.NewRequest(tt.method, sip.Uri{Scheme: "sip", User: "4400", Host: p.sip.Addr().String(), Port: int(p.sip.Port())})
			if tt.event != "" {
				req.AppendHeader(sip.NewHeader("Event", tt.event))
				req.AppendHeader(sip.NewHeader("Expires", "3600"))
			}
			res, err := client.Do(ctx, req)
			if err != nil || res.StatusCode != tt.code || (res.GetHeader("Allow") != nil) != tt.allow {
				t.Fatalf("%s %s: %v %v", tt.method, tt.event, res, err)
			}
		}
	})
}
