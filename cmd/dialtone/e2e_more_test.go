package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/media/sdp"
	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// rawRegister sends one REGISTER from a fresh UDP socket on srcIP, answering
// the challenge with the given credentials, and returns the final response
// (nil when the PBX stays silent). It binds contacts, or the socket's address.
func rawRegister(t *testing.T, p *pbx, srcIP, user, password string, contacts ...sip.Uri) *sip.Response {
	t.Helper()
	ua, _ := sipgo.NewUA(sipgo.WithUserAgentHostname(srcIP))
	defer ua.Close()
	conn, err := net.ListenPacket("udp", srcIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv, _ := sipgo.NewServer(ua)
	dsipServe(ua, srv, conn)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	client, _ := sipgo.NewClient(ua, sipgo.WithClientHostname(srcIP), sipgo.WithClientPort(port), sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.sip.Addr().String(), Port: int(p.sip.Port())})
	aor := sip.Uri{Scheme: "sip", User: user, Host: "pbx.test"}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	if len(contacts) == 0 {
		contacts = []sip.Uri{{Scheme: "sip", User: user, Host: srcIP, Port: port}}
	}
	for _, c := range contacts {
		req.AppendHeader(&sip.ContactHeader{Address: c})
	}
	ctx, cancel := within(time.Second)
	defer cancel()
	res, err := client.Do(ctx, req)
	if err != nil {
		return nil
	}
	if res.StatusCode != 401 {
		return res
	}
	res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
	if err != nil {
		return nil
	}
	return res
}

func TestRegistrationAuthAndBans(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	e := p.extension("4001", nil)

	// Unknown user and wrong password look the same from outside.
	unknown := rawRegister(t, p, "127.0.0.21", "9999", "whatever-password")
	wrong := rawRegister(t, p, "127.0.0.21", e.Number, "wrong-password")
	if unknown == nil || wrong == nil || unknown.StatusCode != 401 || wrong.StatusCode != 401 {
		t.Fatalf("unknown user %v, wrong password %v: want 401 both", unknown, wrong)
	}
	shape := func(r *sip.Response) string {
		var parts []string
		for _, h := range r.GetHeaders("WWW-Authenticate") {
			v := h.Value()
			i := strings.Index(v, "nonce=")
			j := strings.Index(v[i:], ",")
			parts = append(parts, v[:i]+v[i+j:]) // everything but the nonce
		}
		return fmt.Sprint(r.StatusCode, r.Reason, parts)
	}
	if shape(unknown) != shape(wrong) {
		t.Fatalf("responses differ:\n%s\n%s", shape(unknown), shape(wrong))
	}
	if ok := rawRegister(t, p, "127.0.0.21", e.Number, e.SIPPassword); ok == nil || ok.StatusCode != 200 {
		t.Fatalf("right password: %v", ok)
	}

	// 15 wrong passwords from one address: banned (403, then silence).
	var codes []int
	for range 15 {
		res := rawRegister(t, p, "127.0.0.22", e.Number, "wrong-password")
		if res == nil {
			codes = append(codes, 0)
		} else {
			codes = append(codes, res.StatusCode)
		}
	}
	if codes[8] != 401 || codes[9] != 403 || codes[14] != 0 {
		t.Fatalf("responses to repeated failures: %v", codes)
	}
	var bans struct {
		Items []struct{ IP string }
	}
	p.call("GET", "/v1/security/bans", nil, &bans)
	if len(bans.Items) != 1 || bans.Items[0].IP != "127.0.0.22" {
		t.Fatalf("bans: %+v", bans)
	}
	// Even the right password is ignored while banned; another address is fine.
	if res := rawRegister(t, p, "127.0.0.22", e.Number, e.SIPPassword); res != nil {
		t.Fatalf("banned address answered: %v", res)
	}
	if code := p.call("DELETE", "/v1/security/bans/127.0.0.22", nil, nil); code != 204 {
		t.Fatalf("unban: %d", code)
	}
	if res := rawRegister(t, p, "127.0.0.22", e.Number, e.SIPPassword); res == nil || res.StatusCode != 200 {
		t.Fatalf("after unban: %v", res)
	}

	var regs struct {
		Items []struct {
			Contact       string `json:"contact"`
			SourceAddress string `json:"source_address"`
			Transport     string `json:"transport"`
		}
	}
	p.call("GET", "/v1/extensions/"+e.ID+"/registrations", nil, &regs)
	if len(regs.Items) != 2 || !strings.HasPrefix(regs.Items[0].SourceAddress, "127.0.0.2") || regs.Items[0].Transport != "UDP" {
		t.Fatalf("registrations: %+v", regs)
	}

	// A call with wrong credentials (an unknown source that is no extension) is refused with 403.
	intruder, err := siptest.New(siptest.Config{User: e.Number, Password: "not-the-password", Domain: "pbx.test", PBX: p.sip, IP: "127.0.0.24"})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	ictx, icancel := within(5 * time.Second)
	defer icancel()
	if _, err := intruder.Dial(ictx, "4001"); err == nil || err.(*siptest.DialError).Code != 403 {
		t.Fatalf("call with a wrong password: %v", err)
	}

	// A disabled extension cannot register.
	p.call("PATCH", "/v1/extensions/"+e.ID, map[string]any{"enabled": false}, nil)
	if res := rawRegister(t, p, "127.0.0.23", e.Number, e.SIPPassword); res == nil || res.StatusCode != 403 {
		t.Fatalf("disabled extension: %v", res)
	}
}

func TestRegisterExpiresRules(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	e := p.extension("4100", nil)
	ph, err := siptest.New(siptest.Config{User: e.Number, Password: e.SIPPassword, Domain: "pbx.test", PBX: p.sip})
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	ctx, cancel := within(5 * time.Second)
	defer cancel()
	tests := []struct {
		expires int
		code    int
		count   int
	}{
		{30, 423, 0},
		{120, 200, 1},
		{0, 200, 0},
	}
	for _, tt := range tests {
		res, err := ph.Register(ctx, tt.expires)
		if err != nil || res.StatusCode != tt.code {
			t.Fatalf("expires %d: %v %v", tt.expires, res, err)
		}
		if tt.code == 423 && res.GetHeader("Min-Expires") == nil {
			t.Fatal("423 without Min-Expires")
		}
		var regs struct{ Items []any }
		p.call("GET", "/v1/registrations", nil, &regs)
		if len(regs.Items) != tt.count {
			t.Fatalf("expires %d: %d registrations", tt.expires, len(regs.Items))
		}
	}
}

func TestHoldDTMFAndForking(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	a := p.extension("5000", nil)
	b := p.extension("5001", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	desk := p.phone(b, 1400, siptest.RingForever, "PCMU") // a second phone of the same extension that never answers
	mobile := p.phone(b, 1400, siptest.AnswerNow, "PCMA")
	_ = desk
	ctx, cancel := within(20 * time.Second)
	defer cancel()
	out, in := connect(t, ctx, caller, b.Number, mobile, 1400, 600)

	// DTMF from the caller reaches the callee as RFC 4733 events.
	if err := out.SendDigits("159#"); err != nil {
		t.Fatal(err)
	}
	if !eventually(3*time.Second, func() bool { return in.Digits() == "159#" }) {
		t.Fatalf("callee received digits %q", in.Digits())
	}

	// Hold: the callee is told, and resume restores audio both ways.
	if err := out.Hold(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !eventually(3*time.Second, func() bool { return in.RemoteDirection() == sdp.SendOnly }) {
		t.Fatalf("callee saw direction %s during hold", in.RemoteDirection())
	}
	if err := out.Hold(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !eventually(3*time.Second, func() bool { return in.RemoteDirection() == sdp.SendRecv }) {
		t.Fatalf("callee saw direction %s after resume", in.RemoteDirection())
	}
	if !out.WaitHears(ctx, 1400) || !in.WaitHears(ctx, 600) {
		t.Fatal("no audio after resume")
	}
	if err := in.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitHungUp(t, out)
	if rec := p.lastRecord(); rec.Disposition != "answered" || rec.HangupBy != "callee" {
		t.Fatalf("record: %+v", rec)
	}
}

func TestMediaTimeoutAndAPIHangup(t *testing.T) {
	p := startPBX(t, 2*time.Second)
	a := p.extension("6000", nil)
	b := p.extension("6001", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	ctx, cancel := within(20 * time.Second)
	defer cancel()

	out, err := caller.Dial(ctx, b.Number)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := callee.Incoming(ctx)
	out.SetSilent(true)
	in.SetSilent(true)
	select {
	case <-out.HungUp():
	case <-ctx.Done():
		t.Fatal("a silent call was not hung up")
	}
	waitHungUp(t, in)
	if rec := p.lastRecord(); rec.HangupCause != "media_timeout" || rec.HangupBy != "system" || rec.Disposition != "answered" {
		t.Fatalf("record: %+v", rec)
	}

	out, err = caller.Dial(ctx, b.Number)
	if err != nil {
		t.Fatal(err)
	}
	in, _ = callee.Incoming(ctx)
	var live struct{ Items []struct{ ID string } }
	p.call("GET", "/v1/calls", nil, &live)
	if len(live.Items) != 1 {
		t.Fatalf("live calls: %+v", live)
	}
	if code := p.call("POST", "/v1/calls/"+live.Items[0].ID+"/hangup", nil, nil); code != 202 {
		t.Fatalf("hangup: %d", code)
	}
	waitHungUp(t, out)
	waitHungUp(t, in)
	if rec := p.lastRecord(); rec.HangupCause != "api_hangup" || rec.ID != live.Items[0].ID {
		t.Fatalf("record: %+v", rec)
	}
	if code := p.call("POST", "/v1/calls/"+live.Items[0].ID+"/hangup", nil, nil); code != 404 {
		t.Fatalf("hangup of an ended call: %d", code)
	}
}

func TestOptionsAndUnknownMethods(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	client, _ := sipgo.NewClient(ua)
	ctx, cancel := within(3 * time.Second)
	defer cancel()
	for _, tt := range []struct {
		method sip.RequestMethod
		code   int
		allow  bool
	}{{sip.OPTIONS, 200, true}, {sip.MESSAGE, 405, true}, {"FROBNICATE", 501, true}, {sip.CANCEL, 481, false}} {
		req := sip.NewRequest(tt.method, sip.Uri{Scheme: "sip", Host: p.sip.Addr().String(), Port: int(p.sip.Port())})
		res, err := client.Do(ctx, req)
		if err != nil || res.StatusCode != tt.code || (res.GetHeader("Allow") != nil) != tt.allow {
			t.Fatalf("%s: %v %v", tt.method, res, err)
		}
	}
}

func TestDanglingRecordsClosedOnStart(t *testing.T) {
	p := startPBX(t, 60*time.Second)
	a := p.extension("7000", nil)
	b := p.extension("7001", nil)
	caller := p.phone(a, 600, siptest.AnswerNow, "PCMU")
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	if _, err := caller.Dial(ctx, b.Number); err != nil {
		t.Fatal(err)
	}
	if _, err := callee.Incoming(ctx); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: the record of the live call stays open in the database.
	var list struct {
		Items []struct {
			ID      string  `json:"id"`
			EndedAt *string `json:"ended_at"`
		}
	}
	p.call("GET", "/v1/call-records", nil, &list)
	if len(list.Items) != 1 || list.Items[0].EndedAt != nil {
		t.Fatalf("open record: %+v", list)
	}
	n, err := p.app.db.CloseDanglingCallRecords(context.Background(), time.Now(), "shutdown")
	if err != nil || n != 1 {
		t.Fatalf("closed %d: %v", n, err)
	}
	var rec callRecord
	p.call("GET", "/v1/call-records/"+list.Items[0].ID, nil, &rec)
	if rec.Disposition != "failed" || rec.HangupCause != "shutdown" || rec.EndedAt == nil {
		t.Fatalf("record: %+v", rec)
	}
}
