package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core/call"
	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// TestInfoDTMF: digits a phone sends by INFO (application/dtmf-relay and
// application/dtmf, RFC 6086 §9) are answered 200, reach the other party as
// RFC 4733 events and are reported through the B2BUA's hook; other bodies
// get 415 with Accept, and an INFO outside a dialog 481.
func TestInfoDTMF(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	type heard struct {
		from  call.Party
		digit byte
	}
	var mu sync.Mutex
	var reported []heard
	p.app.sip.B2BUA.InfoDTMFHook = func(_ call.ID, from call.Party, d byte) {
		if d == '1' {
			// A digit slow to take must still come before the next one,
			// which the phone sends once this INFO is answered.
			time.Sleep(100 * time.Millisecond)
		}
		mu.Lock()
		reported = append(reported, heard{from, d})
		mu.Unlock()
	}
	a := p.extension("5100", nil)
	b := p.extension("5101", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMA")
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	out, in := connect(t, ctx, caller, b.Number, callee, 1400, 600)

	for _, m := range []struct {
		from        *siptest.Call
		contentType string
		body        string
	}{
		{out, "application/dtmf-relay", "Signal=1\r\nDuration=160\r\n"},
		{out, "application/dtmf", "#"},
		{in, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"},
		{in, "application/dtmf", "9"},
	} {
		res, err := m.from.SendInfo(ctx, m.contentType, []byte(m.body))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("INFO %s %q: %v %v", m.contentType, m.body, res, err)
		}
	}
	if !eventually(5*time.Second, func() bool { return in.Digits() == "1#" && out.Digits() == "59" }) {
		t.Fatalf("callee received %q (want 1#), caller %q (want 59)", in.Digits(), out.Digits())
	}
	mu.Lock()
	got := append([]heard(nil), reported...)
	mu.Unlock()
	want := []heard{{call.ByCaller, '1'}, {call.ByCaller, '#'}, {call.ByCallee, '5'}, {call.ByCallee, '9'}}
	if len(got) != len(want) {
		t.Fatalf("hook heard %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("hook heard %v, want %v", got, want)
		}
	}

	// Any other body within the dialog: 415 with the types taken.
	res, err := out.SendInfo(ctx, "application/broadsoft", []byte("event flashhook\r\n"))
	if err != nil || res.StatusCode != 415 || res.GetHeader("Accept") == nil ||
		!strings.Contains(res.GetHeader("Accept").Value(), "application/dtmf-relay") {
		t.Fatalf("INFO with another body: %v %v", res, err)
	}

	// The 2xx of the call lists INFO among the methods taken.
	if allow := out.Response().GetHeader("Allow"); allow == nil || !strings.Contains(allow.Value(), "INFO") {
		t.Fatalf("200 without INFO in Allow:\n%s", out.Response())
	}

	// Outside a dialog: 481.
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	client, _ := sipgo.NewClient(ua)
	req := sip.NewRequest(sip.INFO, sip.Uri{Scheme: "sip", User: "5100", Host: p.sip.Addr().String(), Port: int(p.sip.Port())})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf"))
	req.SetBody([]byte("5"))
	if res, err := client.Do(ctx, req); err != nil || res.StatusCode != 481 {
		t.Fatalf("INFO outside a dialog: %v %v", res, err)
	}

	_ = out.Hangup(ctx)
	waitHungUp(t, in)
}
