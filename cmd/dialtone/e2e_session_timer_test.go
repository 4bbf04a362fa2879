package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// timerPBX starts a PBX whose Min-SE is 2 s (RFC 4028 puts the floor at
// 90 s; tests go below it to stay quick) and that asks callees for 4 s.
func timerPBX(t *testing.T) *pbx {
	return startPBX(t, time.Minute, func(c *serveCmd) {
		c.MinSE = 2 * time.Second
		c.SessionExpires = 4 * time.Second
	})
}

// timerPhone is a registered phone asking for (dialling) or granting
// (answering) a session timer of se seconds.
func timerPhone(t *testing.T, p *pbx, e extension, tone float64, se int, refresher string) *siptest.Phone {
	t.Helper()
	ph, err := siptest.New(siptest.Config{User: e.Number, Password: e.SIPPassword, Domain: "pbx.test", PBX: p.sip,
		ToneHz: tone, SessionExpires: se, Refresher: refresher})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ph.Close)
	ctx, cancel := within(5 * time.Second)
	defer cancel()
	if res, err := ph.Register(ctx, 300); err != nil || res.StatusCode != 200 {
		t.Fatalf("register %s: %v %v", e.Number, res, err)
	}
	return ph
}

// dialTimed places a call and returns as soon as both ends have it, so the
// session timer started by the 200 is not consumed by waiting for audio.
func dialTimed(t *testing.T, ctx context.Context, caller *siptest.Phone, number string, callee *siptest.Phone) (out, in *siptest.Call) {
	t.Helper()
	out, err := caller.Dial(ctx, number)
	if err != nil {
		t.Fatalf("dial %s: %v", number, err)
	}
	if in, err = callee.Incoming(ctx); err != nil {
		t.Fatalf("%s not answered: %v", number, err)
	}
	return out, in
}

func stillUp(t *testing.T, c *siptest.Call, d time.Duration) {
	t.Helper()
	select {
	case <-c.HungUp():
		t.Fatal("the call was hung up")
	case <-time.After(d):
	}
}

// A caller asking for a 4 s session and refreshing it every second, by
// UPDATE and by re-INVITE, keeps its call past the interval; the PBX's 2xx
// names the caller refresher and requires the timer (RFC 4028 §9).
func TestSessionTimerRefreshKeepsCall(t *testing.T) {
	p := timerPBX(t)
	e1, e2 := p.extension("201", nil), p.extension("202", nil)
	caller := timerPhone(t, p, e1, 700, 4, "")
	callee := p.phone(e2, 1300, siptest.AnswerNow, "")
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	out, in := dialTimed(t, ctx, caller, "202", callee)

	ok := out.Response()
	if se := ok.GetHeader("Session-Expires"); se == nil || se.Value() != "4;refresher=uac" {
		t.Fatalf("200 Session-Expires: %v", se)
	}
	if h := ok.GetHeader("Require"); h == nil || h.Value() != "timer" {
		t.Fatalf("200 Require: %v", h)
	}
	if h := ok.GetHeader("Supported"); h == nil || !strings.Contains(h.Value(), "timer") {
		t.Fatalf("200 Supported: %v", h)
	}
	if h := ok.GetHeader("Allow"); h == nil || !strings.Contains(h.Value(), "UPDATE") {
		t.Fatalf("200 Allow: %v", h)
	}
	for i := range 5 {
		time.Sleep(time.Second)
		method := sip.UPDATE
		if i == 2 {
			method = sip.INVITE
		}
		res, err := out.Refresh(ctx, method)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("refresh %d by %s: %v %v", i, method, res, err)
		}
		if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "4;refresher=uac" {
			t.Fatalf("refresh %d: Session-Expires %v", i, se)
		}
		if method == sip.UPDATE && len(res.Body()) != 0 {
			t.Fatalf("an UPDATE without offer was answered with a body")
		}
	}
	stillUp(t, in, 500*time.Millisecond)
	if !out.WaitHears(ctx, 1300) || !in.WaitHears(ctx, 700) {
		t.Fatal("audio stopped after the refreshes")
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, in)
	if r := p.lastRecord(); r.HangupCause != "normal_clearing" || r.Disposition != "answered" {
		t.Fatalf("record %s/%s", r.Disposition, r.HangupCause)
	}
}

// A caller that stops refreshing is hung up on both legs after the
// interval minus a third (RFC 4028 §10), with its own cause.
func TestSessionTimerExpiresWithoutRefresh(t *testing.T) {
	p := timerPBX(t)
	e1, e2 := p.extension("201", nil), p.extension("202", nil)
	caller := timerPhone(t, p, e1, 700, 3, "uac")
	callee := p.phone(e2, 1300, siptest.AnswerNow, "")
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	out, in := dialTimed(t, ctx, caller, "202", callee)
	if _, err := out.Refresh(ctx, sip.UPDATE); err != nil { // one refresh, then none
		t.Fatal(err)
	}
	start := time.Now()
	waitHungUp(t, out)
	waitHungUp(t, in)
	if d := time.Since(start); d < 1500*time.Millisecond || d > 6*time.Second {
		t.Fatalf("hung up after %v, want about 2 s", d)
	}
	r := p.lastRecord()
	if r.HangupCause != "session_timer_expired" || r.HangupBy != "system" || r.Disposition != "answered" {
		t.Fatalf("record %s/%s by %s", r.Disposition, r.HangupCause, r.HangupBy)
	}
}

// A callee granting a 2 s session with the PBX as refresher gets the PBX's
// UPDATE refreshes every second and the call stays up (RFC 4028 §7.2, §10).
func TestSessionTimerPBXRefreshesCallee(t *testing.T) {
	p := timerPBX(t)
	e1, e2 := p.extension("201", nil), p.extension("202", nil)
	caller := p.phone(e1, 700, siptest.AnswerNow, "")
	callee := timerPhone(t, p, e2, 1300, 2, "uac")
	ctx, cancel := within(30 * time.Second)
	defer cancel()
	out, in := connect(t, ctx, caller, "202", callee, 1300, 700)
	if inv := in.Invite(); inv.GetHeader("Session-Expires") == nil || inv.GetHeader("Min-SE") == nil {
		t.Fatalf("the INVITE to the callee asks for no session timer")
	}
	stillUp(t, in, 4500*time.Millisecond)
	got := callee.Refreshes()
	if len(got) < 3 || slices.ContainsFunc(got, func(m string) bool { return m != "UPDATE" }) {
		t.Fatalf("refreshes received by the callee: %v", got)
	}
	if !out.WaitHears(ctx, 1300) || !in.WaitHears(ctx, 700) {
		t.Fatal("audio stopped after the refreshes")
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, in)
	if r := p.lastRecord(); r.HangupCause != "normal_clearing" {
		t.Fatalf("record cause %s", r.HangupCause)
	}
}

// A Session-Expires below the PBX's Min-SE gets 422 with Min-SE (RFC 4028 §9).
func TestSessionTimerTooSmall(t *testing.T) {
	p := timerPBX(t)
	e1, e2 := p.extension("201", nil), p.extension("202", nil)
	caller := timerPhone(t, p, e1, 700, 1, "")
	p.phone(e2, 1300, siptest.AnswerNow, "")
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	_, err := caller.Dial(ctx, "202")
	var de *siptest.DialError
	if !errors.As(err, &de) || de.Code != 422 {
		t.Fatalf("dial: %v, want 422", err)
	}
	if h := de.Res.GetHeader("Min-SE"); h == nil || h.Value() != "2" {
		t.Fatalf("422 Min-SE: %v", h)
	}
}
