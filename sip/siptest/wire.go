package siptest

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"time"
)

// wireConn is the phone's SIP socket. It keeps a log of what the phone
// received, and in AnswerOnCancel mode holds each CANCEL back until the
// phone's 200 to the INVITE it cancels has left, so the two cross on the
// wire (RFC 3261 §9.2: a CANCEL that arrives after the final response has
// no effect).
type wireConn struct {
	net.PacketConn
	p *Phone

	mu       sync.Mutex
	received []string // "INVITE", "BYE", "200 CANCEL", "487 INVITE", ...
	sent     map[string]chan struct{}
}

func newWireConn(conn net.PacketConn, p *Phone) *wireConn {
	return &wireConn{PacketConn: conn, p: p, sent: map[string]chan struct{}{}}
}

func (w *wireConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := w.PacketConn.ReadFrom(b)
	if err != nil || n == 0 {
		return n, addr, err
	}
	msg := b[:n]
	w.mu.Lock()
	w.received = append(w.received, summary(msg))
	w.mu.Unlock()
	if w.p.cfg.Answer == AnswerOnCancel && bytes.HasPrefix(msg, []byte("CANCEL ")) {
		w.answerBefore(header(msg, "call-id", "i"))
	}
	return n, addr, err
}

// answerBefore wakes the ringing call callID and waits (at most a second)
// until its 200 has been written.
func (w *wireConn) answerBefore(callID string) {
	w.mu.Lock()
	sent := w.sent[callID]
	w.mu.Unlock()
	if sent == nil || !w.p.answerNow(callID) {
		return
	}
	select {
	case <-sent:
	case <-time.After(time.Second):
	}
}

func (w *wireConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := w.PacketConn.WriteTo(b, addr)
	if err == nil && bytes.HasPrefix(b, []byte("SIP/2.0 200 ")) && strings.HasSuffix(header(b, "cseq"), "INVITE") {
		w.mu.Lock()
		if ch := w.sent[header(b, "call-id", "i")]; ch != nil {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
		w.mu.Unlock()
	}
	return n, err
}

// expect200 prepares to learn when the 200 to callID's INVITE leaves.
func (w *wireConn) expect200(callID string) {
	w.mu.Lock()
	w.sent[callID] = make(chan struct{})
	w.mu.Unlock()
}

// summary names a SIP message: the method of a request, or the status and
// CSeq method of a response.
func summary(msg []byte) string {
	line, _, _ := bytes.Cut(msg, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return ""
	}
	if f[0] == "SIP/2.0" && len(f) > 1 {
		cseq := strings.Fields(header(msg, "cseq"))
		if len(cseq) == 2 {
			return f[1] + " " + cseq[1]
		}
		return f[1]
	}
	return f[0]
}

// header returns the value of the first header with one of names (long or
// compact form, case-insensitive).
func header(msg []byte, names ...string) string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n")[1:] {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(strings.TrimSpace(name), n) {
				return strings.TrimSpace(value)
			}
		}
	}
	return ""
}

// Received lists what the phone has received, one entry a message: the
// method of a request ("BYE"), or the status and CSeq method of a response
// ("487 INVITE", "200 CANCEL"), retransmissions included.
func (p *Phone) Received() []string {
	p.wire.mu.Lock()
	defer p.wire.mu.Unlock()
	return append([]string(nil), p.wire.received...)
}

// ClearReceived empties the list Received returns.
func (p *Phone) ClearReceived() {
	p.wire.mu.Lock()
	p.wire.received = nil
	p.wire.mu.Unlock()
}
