package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
)

// sipWire is a bare UDP socket speaking SIP, for a test that must send the
// same bytes twice or see every packet.
type sipWire struct {
	t    *testing.T
	conn net.PacketConn
}

func newSIPWire(t *testing.T, ip string) *sipWire {
	t.Helper()
	conn, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sipWire{t: t, conn: conn}
}

func (w *sipWire) addr() string { return w.conn.LocalAddr().String() }

func (w *sipWire) port() int { return w.conn.LocalAddr().(*net.UDPAddr).Port }

// write sends a message given as lines; a body, if any, is the last one.
func (w *sipWire) write(to net.Addr, lines []string, body string) []byte {
	w.t.Helper()
	msg := strings.Join(lines, "\r\n") + fmt.Sprintf("\r\nContent-Length: %d\r\n\r\n", len(body)) + body
	if _, err := w.conn.WriteTo([]byte(msg), to); err != nil {
		w.t.Fatal(err)
	}
	return []byte(msg)
}

// next returns the next message within d, or nil and the sender.
func (w *sipWire) next(d time.Duration) (sip.Message, net.Addr) {
	w.t.Helper()
	buf := make([]byte, 65535)
	_ = w.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := w.conn.ReadFrom(buf)
	if err != nil {
		return nil, nil
	}
	msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
	if err != nil {
		w.t.Fatalf("unparsable packet: %v\n%s", err, buf[:n])
	}
	return msg, from
}

// response waits for a response with code, skipping other responses.
func (w *sipWire) response(code int, d time.Duration) *sip.Response {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		msg, _ := w.next(time.Until(deadline))
		if res, ok := msg.(*sip.Response); ok && res.StatusCode == code {
			return res
		}
	}
	w.t.Fatalf("no %d within %v", code, d)
	return nil
}

// request waits for a request with method, skipping anything else.
func (w *sipWire) request(method sip.RequestMethod, d time.Duration) (*sip.Request, net.Addr) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		msg, from := w.next(time.Until(deadline))
		if req, ok := msg.(*sip.Request); ok && req.Method == method {
			return req, from
		}
	}
	w.t.Fatalf("no %s within %v", method, d)
	return nil, nil
}

func wireSDP(ip string, port int) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n", ip, ip, port)
}

// TestAnsweredInviteRetransmitted: once the caller acknowledged its 2xx, the
// PBX no longer keeps the INVITE's transaction, yet a retransmission of that
// INVITE is still absorbed (no response, no second call), and another INVITE
// with the call's Call-ID and From tag is a merged request, answered 482.
// The caller's BYE is answered and its transaction ends with it. The same
// holds whether a phone answered the call or the PBX did with a call plan.
func TestAnsweredInviteRetransmitted(t *testing.T) {
	p := startPBX(t, time.Minute)
	desk := p.extension("1001", nil)
	phone := p.phone(desk, 1400, siptest.AnswerNow, "PCMA")
	greeting := p.uploadTone("greeting", greetingHz, 3)
	plan := p.create("/v1/call-plans", map[string]any{"name": "main", "entry": "menu", "nodes": map[string]any{
		"menu": map[string]any{"kind": "menu", "prompts": []string{greeting}, "options": map[string]string{"1": "bye"},
			"timeout_seconds": 30, "retries": 1},
		"bye": map[string]any{"kind": "hangup"},
	}})
	tests := []struct {
		name, ip string
		route    map[string]any
		rings    *siptest.Phone // the phone that answers, nil when the plan does
	}{
		{name: "answered by a phone", ip: "127.0.0.9", route: map[string]any{"type": "extension", "extension_id": desk.ID}, rings: phone},
		{name: "answered by a call plan", ip: "127.0.0.56", route: map[string]any{"type": "call_plan", "call_plan_id": plan}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			number := fmt.Sprintf("+1415555%04d", 100+i)
			p.ipTrunk(tt.ip, number, tt.route, nil)
			answeredInviteRetransmitted(t, p, tt.ip, number, tt.rings)
		})
	}
}

func answeredInviteRetransmitted(t *testing.T, p *pbx, ip, number string, phone *siptest.Phone) {
	w := newSIPWire(t, ip)
	pbxAddr := net.UDPAddrFromAddrPort(p.sip)
	callID := "retransmit-" + strings.ReplaceAll(t.Name(), "/", "-")

	invite := func(branch string, cseq int) []string {
		return []string{
			"INVITE sip:" + number + "@pbx.test SIP/2.0",
			"Via: SIP/2.0/UDP " + w.addr() + ";branch=z9hG4bK" + branch,
			"Max-Forwards: 70",
			"From: <sip:+12125550123@carrier.test>;tag=carrier-1",
			"To: <sip:" + number + "@pbx.test>",
			"Call-ID: " + callID,
			fmt.Sprintf("CSeq: %d INVITE", cseq),
			"Contact: <sip:+12125550123@" + w.addr() + ">",
			"Content-Type: application/sdp",
		}
	}
	first := w.write(pbxAddr, invite("first", 1), wireSDP(ip, 40000))
	ok := w.response(sip.StatusOK, 10*time.Second)
	toTag, _ := ok.To().Params.Get("tag")
	ack := []string{
		"ACK " + ok.Contact().Address.String() + " SIP/2.0",
		"Via: SIP/2.0/UDP " + w.addr() + ";branch=z9hG4bKack",
		"Max-Forwards: 70",
		"From: <sip:+12125550123@carrier.test>;tag=carrier-1",
		"To: <sip:" + number + "@pbx.test>;tag=" + toTag,
		"Call-ID: " + callID,
		"CSeq: 1 ACK",
	}
	w.write(pbxAddr, ack, "")
	var in *siptest.Call
	if phone != nil {
		ctx, cancel := within(10 * time.Second)
		defer cancel()
		var err error
		if in, err = phone.Incoming(ctx); err != nil {
			t.Fatal(err)
		}
	}
	live := func() int {
		var calls struct{ Items []struct{ ID string } }
		p.call("GET", "/v1/calls", nil, &calls)
		return len(calls.Items)
	}
	if !eventually(5*time.Second, func() bool { return live() == 1 }) {
		t.Fatalf("%d live calls once answered, want 1", live())
	}
	// Give the PBX the moment it takes to settle the acknowledged answer.
	time.Sleep(200 * time.Millisecond)

	// The same INVITE again, byte for byte: absorbed.
	if _, err := w.conn.WriteTo(first, pbxAddr); err != nil {
		t.Fatal(err)
	}
	if msg, _ := w.next(time.Second); msg != nil {
		t.Fatalf("a retransmitted INVITE was answered:\n%s", msg)
	}
	// Another INVITE with the call's Call-ID and From tag, not in its dialog.
	w.write(pbxAddr, invite("merged", 2), wireSDP(ip, 40002))
	if res := w.response(sip.StatusLoopDetected, 3*time.Second); res == nil {
		t.Fatal("no 482")
	}
	if n := live(); n != 1 {
		t.Fatalf("%d live calls after the retransmission and the merged request, want 1", n)
	}
	if phone != nil {
		select {
		case extra := <-incomingOf(phone):
			t.Fatalf("the phone rang again: %v", extra)
		case <-time.After(200 * time.Millisecond):
		}
	}

	// The call goes on and ends with the caller's BYE.
	bye := append([]string{}, ack...)
	bye[0] = "BYE " + ok.Contact().Address.String() + " SIP/2.0"
	bye[1] = "Via: SIP/2.0/UDP " + w.addr() + ";branch=z9hG4bKbye"
	bye[6] = "CSeq: 3 BYE"
	w.write(pbxAddr, bye, "")
	w.response(sip.StatusOK, 5*time.Second)
	if in != nil {
		waitHungUp(t, in)
	}
	// The BYE's transaction ended with its 200: a retransmission (sent when
	// the 200 was lost) finds no call, and 481 ends it all the same.
	if !eventually(5*time.Second, func() bool { return live() == 0 }) {
		t.Fatal("the call is still up")
	}
	if rec := p.lastRecord(); rec.Disposition != "answered" || rec.HangupBy != "caller" {
		t.Fatalf("record %+v", rec)
	}
	w.write(pbxAddr, bye, "")
	w.response(sip.StatusCallTransactionDoesNotExists, 5*time.Second)
}

// TestLost2xxAckAcknowledgedAgain: a callee whose ACK was lost retransmits its
// 2xx; the PBX acknowledges it again, also once the INVITE client
// transaction has ended, and the call goes on.
func TestLost2xxAckAcknowledgedAgain(t *testing.T) {
	p := startPBX(t, time.Minute)
	ext := p.extension("2000", nil)
	phone := p.phone(ext, 600, siptest.AnswerNow, "PCMA")
	w := newSIPWire(t, "127.0.0.10")
	trunk := p.create("/v1/trunks", map[string]any{"name": "carrier", "host": "127.0.0.10", "port": w.port(), "auth_mode": "ip",
		"allowed_cidrs": []string{"127.0.0.10/32"}})
	p.create("/v1/outbound-routes", map[string]any{"name": "national", "patterns": []string{"9|NXXNXXXXXX"}, "prepend": "+1",
		"trunk_ids": []string{trunk}})

	ctx, cancel := within(30 * time.Second)
	defer cancel()
	dialled := make(chan error, 1)
	go func() {
		_, err := phone.Dial(ctx, "92125550123")
		dialled <- err
	}()
	inv, from := w.request(sip.INVITE, 10*time.Second)
	lines := []string{
		"SIP/2.0 200 OK",
	}
	for _, h := range inv.Headers() {
		switch strings.ToLower(h.Name()) {
		case "via", "from", "call-id", "cseq", "record-route":
			lines = append(lines, h.Name()+": "+h.Value())
		case "to":
			lines = append(lines, "To: "+h.Value()+";tag=carrier-2")
		}
	}
	lines = append(lines, "Contact: <sip:carrier@"+w.addr()+">", "Content-Type: application/sdp")
	w.write(from, lines, wireSDP("127.0.0.10", 40004))
	ack, _ := w.request(sip.ACK, 5*time.Second)
	if err := <-dialled; err != nil {
		t.Fatal(err)
	}
	check := func(a *sip.Request) {
		t.Helper()
		if a.CSeq().SeqNo != inv.CSeq().SeqNo || a.CSeq().MethodName != sip.ACK {
			t.Fatalf("ACK CSeq %v, want %d ACK", a.CSeq(), inv.CSeq().SeqNo)
		}
		if tag, _ := a.To().Params.Get("tag"); tag != "carrier-2" {
			t.Fatalf("ACK To tag %q", tag)
		}
		if a.CallID().Value() != inv.CallID().Value() {
			t.Fatalf("ACK Call-ID %q", a.CallID().Value())
		}
	}
	check(ack)
	// The 2xx again: early (the transaction still takes it) and after
	// the transaction ended.
	for _, after := range []time.Duration{0, 3 * time.Second} {
		time.Sleep(after)
		w.write(from, lines, wireSDP("127.0.0.10", 40004))
		again, _ := w.request(sip.ACK, 3*time.Second)
		check(again)
	}
	// The call is still up and ends normally: the phone hangs up, the
	// carrier gets the BYE.
	var calls struct{ Items []struct{ ID, State string } }
	p.call("GET", "/v1/calls", nil, &calls)
	if len(calls.Items) != 1 || calls.Items[0].State != "answered" {
		t.Fatalf("live calls %+v", calls)
	}
	if code := p.call("POST", "/v1/calls/"+calls.Items[0].ID+"/hangup", nil, nil); code/100 != 2 {
		t.Fatalf("hang up: %d", code)
	}
	bye, byeFrom := w.request(sip.BYE, 5*time.Second)
	if tag, _ := bye.To().Params.Get("tag"); tag != "carrier-2" {
		t.Fatalf("BYE To tag %q", tag)
	}
	res := []string{"SIP/2.0 200 OK"}
	for _, h := range bye.Headers() {
		switch strings.ToLower(h.Name()) {
		case "via", "from", "to", "call-id", "cseq":
			res = append(res, h.Name()+": "+h.Value())
		}
	}
	w.write(byeFrom, res, "")
	if rec := p.lastRecord(); rec.Disposition != "answered" {
		t.Fatalf("record %+v", rec)
	}
}
