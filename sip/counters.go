package sip

import (
	"bytes"
	"net"
	"strconv"
	"sync/atomic"
)

// countedMethods are the request methods counted by name; any other method
// counts as "other", so a peer cannot grow the set of counters.
var countedMethods = [...]string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER",
	"SUBSCRIBE", "NOTIFY", "REFER", "INFO", "UPDATE", "PRACK", "MESSAGE", "PUBLISH"}

const (
	otherMethod = len(countedMethods)
	minStatus   = 100
	maxStatus   = 699
)

// messageCounts count SIP messages by method (requests) and status code
// (responses), received and sent. Counting a message reads its start line
// and adds to one atomic: no allocation, no lock, no label built.
type messageCounts struct {
	requestsIn, requestsOut   [otherMethod + 1]atomic.Uint64
	responsesIn, responsesOut [maxStatus - minStatus + 1]atomic.Uint64
}

// received counts a message the front passed to the SIP stack.
func (m *messageCounts) received(data []byte, pass bool) {
	if pass {
		m.count(data, &m.requestsIn, &m.responsesIn)
	}
}

// sent counts a message the SIP stack sent.
func (m *messageCounts) sent(data []byte) {
	m.count(data, &m.requestsOut, &m.responsesOut)
}

func (m *messageCounts) count(data []byte, requests *[otherMethod + 1]atomic.Uint64, responses *[maxStatus - minStatus + 1]atomic.Uint64) {
	if bytes.HasPrefix(data, []byte("SIP/2.0 ")) {
		if code, ok := statusCode(data[len("SIP/2.0 "):]); ok {
			responses[code-minStatus].Add(1)
		}
		return
	}
	sp := bytes.IndexByte(data, ' ')
	if sp <= 0 {
		return
	}
	requests[methodIndex(data[:sp])].Add(1)
}

// statusCode reads the three-digit status code at the start of b (RFC 3261 §7.2).
func statusCode(b []byte) (int, bool) {
	if len(b) < 3 {
		return 0, false
	}
	code := 0
	for _, c := range b[:3] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	if len(b) > 3 && b[3] != ' ' {
		return 0, false
	}
	return code, code >= minStatus && code <= maxStatus
}

func methodIndex(method []byte) int {
	for i, m := range countedMethods {
		if string(method) == m {
			return i
		}
	}
	return otherMethod
}

// MessageStats count SIP messages since start: requests by method ("other"
// for methods not counted by name) and responses by status code, received
// (passed by the front to the SIP stack, retransmissions included) and sent
// by the SIP stack. Zero counts are left out.
type MessageStats struct {
	RequestsIn, RequestsOut   map[string]uint64
	ResponsesIn, ResponsesOut map[string]uint64
}

func (m *messageCounts) snapshot() MessageStats {
	methods := func(a *[otherMethod + 1]atomic.Uint64) map[string]uint64 {
		out := map[string]uint64{}
		for i := range a {
			if n := a[i].Load(); n > 0 {
				name := "other"
				if i < otherMethod {
					name = countedMethods[i]
				}
				out[name] = n
			}
		}
		return out
	}
	codes := func(a *[maxStatus - minStatus + 1]atomic.Uint64) map[string]uint64 {
		out := map[string]uint64{}
		for i := range a {
			if n := a[i].Load(); n > 0 {
				out[strconv.Itoa(minStatus+i)] = n
			}
		}
		return out
	}
	return MessageStats{RequestsIn: methods(&m.requestsIn), RequestsOut: methods(&m.requestsOut),
		ResponsesIn: codes(&m.responsesIn), ResponsesOut: codes(&m.responsesOut)}
}

// WriteTo counts what the SIP stack sends over UDP; the front's own
// stateless answers bypass it.
func (c *screenedPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	if err == nil {
		c.front.msgs.sent(p)
	}
	return n, err
}
