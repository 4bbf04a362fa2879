package main

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/sip/siptest"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// dialogPeer is a caller on a bare UDP socket that places one call at a time
// and sends its in-dialog requests in the order a test chooses.
type dialogPeer struct {
	*rawPeer
	ext     extension
	callID  string
	fromTag string
	toTag   string
	target  string // the PBX's Contact in its 2xx
	invite  int    // CSeq of the answered INVITE
	seq     int
}

// dial calls number with a PCMU offer, answers the PBX's challenge, and
// returns once the call is answered (without acknowledging it).
func (d *dialogPeer) dial(number string) {
	d.t.Helper()
	d.callID, d.fromTag, d.toTag = randHex(12), randHex(4), ""
	auth := ""
	for range 2 {
		d.seq++
		branch := "z9hG4bK" + randHex(8)
		d.write(d.request(sip.INVITE, "sip:"+number+"@pbx.test", number, branch, d.seq, auth, d.offer()))
		res := d.final(sip.INVITE)
		switch res.StatusCode {
		case 200:
			d.toTag, _ = res.To().Params.Get("tag")
			d.target = res.Contact().Address.String()
			d.invite = d.seq
			return
		case 401, 407:
			tag, _ := res.To().Params.Get("tag")
			ack := d.request(sip.ACK, "sip:"+number+"@pbx.test", number, branch, d.seq, "", "")
			d.write(strings.Replace(ack, "To: <sip:"+number+"@pbx.test>", "To: <sip:"+number+"@pbx.test>;tag="+tag, 1))
			auth = d.answer(res, number)
		default:
			d.t.Fatalf("INVITE to %s: %d", number, res.StatusCode)
		}
	}
	d.t.Fatalf("INVITE to %s: challenged again", number)
}

// offer names a media port below every PBX's RTP ports: nothing is sent.
func (d *dialogPeer) offer() string {
	ip := d.conn.LocalAddr().(*net.UDPAddr).IP
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", ip, ip)
}

func (d *dialogPeer) answer(res *sip.Response, number string) string {
	d.t.Helper()
	hdr, line := "Proxy-Authenticate", "Proxy-Authorization: "
	if res.StatusCode == 401 {
		hdr, line = "WWW-Authenticate", "Authorization: "
	}
	c, err := digest.ParseChallenge(res.GetHeader(hdr).Value())
	if err != nil {
		d.t.Fatal(err)
	}
	cr, err := digest.Digest(c, digest.Options{Method: "INVITE", URI: "sip:" + number + "@pbx.test",
		Username: d.ext.Number, Password: d.ext.SIPPassword, Count: 1})
	if err != nil {
		d.t.Fatal(err)
	}
	return line + cr.String()
}

// request builds a request of the current call; to names the callee.
func (d *dialogPeer) request(method sip.RequestMethod, uri, to, branch string, cseq int, auth, body string) string {
	local := d.conn.LocalAddr().String()
	toHdr := "To: <sip:" + to + "@pbx.test>"
	if d.toTag != "" {
		toHdr += ";tag=" + d.toTag
	}
	lines := []string{
		fmt.Sprintf("%s %s SIP/2.0", method, uri),
		"Via: SIP/2.0/UDP " + local + ";branch=" + branch,
		"Max-Forwards: 70",
		"From: <sip:" + d.ext.Number + "@pbx.test>;tag=" + d.fromTag,
		toHdr,
		"Call-ID: " + d.callID,
		fmt.Sprintf("CSeq: %d %s", cseq, method),
		"Contact: <sip:" + d.ext.Number + "@" + local + ">",
	}
	if auth != "" {
		lines = append(lines, auth)
	}
	if body != "" {
		lines = append(lines, "Content-Type: application/sdp")
	}
	lines = append(lines, fmt.Sprintf("Content-Length: %d", len(body)), "", body)
	return strings.Join(lines, "\r\n")
}

func (d *dialogPeer) write(msg string) {
	d.t.Helper()
	if _, err := d.conn.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(d.pbx)); err != nil {
		d.t.Fatal(err)
	}
}

// final reads until the final response to method, skipping provisional
// responses and those to other methods (the 2xx's retransmissions).
func (d *dialogPeer) final(method sip.RequestMethod) *sip.Response {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, res := range d.read(time.Until(deadline), 1) {
			if res.CSeq().MethodName == method && !res.IsProvisional() {
				return res
			}
		}
	}
	d.t.Fatalf("no final response to %s", method)
	return nil
}

// TestByeOvertakesAck: a caller that hangs up as soon as it is answered
// sends its BYE right behind its ACK, and the PBX may handle the BYE first.
// Here the BYE goes first on the wire and the ACK after it: every call ends
// answered and hung up by the caller, never as unacknowledged, and the
// callee is sent its BYE.
func TestByeOvertakesAck(t *testing.T) {
	logs := &logWatch{T: t}
	p := startPBX(logs, 60*time.Second)
	a := p.extension("4200", nil)
	b := p.extension("4201", nil)
	callee := p.phone(b, 1400, siptest.AnswerNow, "PCMU")
	caller := &dialogPeer{rawPeer: newRawPeer(t, p, "127.0.0.1"), ext: a}
	for i := range 20 {
		caller.dial(b.Number)
		caller.seq++
		caller.write(caller.request(sip.BYE, caller.target, b.Number, "z9hG4bK"+randHex(8), caller.seq, "", ""))
		caller.write(caller.request(sip.ACK, caller.target, b.Number, "z9hG4bK"+randHex(8), caller.invite, "", ""))
		if res := caller.final(sip.BYE); res.StatusCode != 200 {
			t.Fatalf("call %d: BYE answered %d", i, res.StatusCode)
		}
		ctx, cancel := within(10 * time.Second)
		in, err := callee.Incoming(ctx)
		cancel()
		if err != nil {
			t.Fatalf("call %d: the callee was not called: %v", i, err)
		}
		waitHungUp(t, in)
		rec := p.lastRecord()
		if rec.Disposition != "answered" || rec.HangupBy != "caller" || rec.HangupCause != "normal_clearing" || rec.AnsweredAt == nil {
			t.Fatalf("call %d: record %+v", i, rec)
		}
	}
	if n := logs.count("did not acknowledge"); n > 0 {
		t.Fatalf("%d calls logged as not acknowledged", n)
	}
}

// logWatch is a test that also keeps what the PBX logs through it.
type logWatch struct {
	*testing.T
	mu    sync.Mutex
	lines []string
}

func (w *logWatch) Log(args ...any) {
	w.mu.Lock()
	w.lines = append(w.lines, fmt.Sprint(args...))
	w.mu.Unlock()
	w.T.Log(args...)
}

// count is how many lines logged so far contain s.
func (w *logWatch) count(s string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
