package sip

import (
	"testing"
)

func TestMessageCounts(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		pass   bool
		method string // counted request, if any
		code   string // counted response, if any
	}{
		{"invite", "INVITE sip:1002@pbx.test SIP/2.0\r\nVia: x\r\n\r\n", true, "INVITE", ""},
		{"register", "REGISTER sip:pbx.test SIP/2.0\r\n\r\n", true, "REGISTER", ""},
		{"unusual method", "BREW sip:pot@pbx.test SIP/2.0\r\n\r\n", true, "other", ""},
		{"lower-case method is another method", "invite sip:x SIP/2.0\r\n\r\n", true, "other", ""},
		{"refused by the front: not received", "INVITE sip:1002@pbx.test SIP/2.0\r\n\r\n", false, "INVITE", ""},
		{"ok", "SIP/2.0 200 OK\r\n\r\n", true, "", "200"},
		{"ringing", "SIP/2.0 180 Ringing\r\n\r\n", true, "", "180"},
		{"global failure", "SIP/2.0 699 Whatever\r\n\r\n", true, "", "699"},
		{"code out of range", "SIP/2.0 700 Nope\r\n\r\n", true, "", ""},
		{"code too long", "SIP/2.0 2000 OK\r\n\r\n", true, "", ""},
		{"code not digits", "SIP/2.0 2x0 OK\r\n\r\n", true, "", ""},
		{"truncated status line", "SIP/2.0 20", true, "", ""},
		{"no start line", "\r\n\r\n", true, "", ""},
		{"empty", "", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m messageCounts
			m.received([]byte(tt.msg), tt.pass)
			m.sent([]byte(tt.msg))
			st := m.snapshot()
			wantIn := 0
			if tt.pass {
				wantIn = 1
			}
			if tt.method != "" {
				if int(st.RequestsIn[tt.method]) != wantIn || st.RequestsOut[tt.method] != 1 {
					t.Fatalf("requests %+v %+v, want %s in=%d out=1", st.RequestsIn, st.RequestsOut, tt.method, wantIn)
				}
			}
			if tt.code != "" {
				if int(st.ResponsesIn[tt.code]) != wantIn || st.ResponsesOut[tt.code] != 1 {
					t.Fatalf("responses %+v %+v, want %s in=%d out=1", st.ResponsesIn, st.ResponsesOut, tt.code, wantIn)
				}
			}
			total := len(st.RequestsIn) + len(st.RequestsOut) + len(st.ResponsesIn) + len(st.ResponsesOut)
			want := 0
			if tt.method != "" || tt.code != "" {
				want = 1 + wantIn
			}
			if total != want {
				t.Fatalf("%d counters moved, want %d: %+v", total, want, st)
			}
		})
	}
}

// TestMessageCountsAllocateNothing: counting is a start-line read and one
// atomic add per message.
func TestMessageCountsAllocateNothing(t *testing.T) {
	var m messageCounts
	req := []byte("OPTIONS sip:pbx.test SIP/2.0\r\nVia: x\r\n\r\n")
	res := []byte("SIP/2.0 401 Unauthorized\r\n\r\n")
	if n := testing.AllocsPerRun(1000, func() {
		m.received(req, true)
		m.sent(res)
	}); n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
}
