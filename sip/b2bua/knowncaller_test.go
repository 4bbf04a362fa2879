package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestKnownCaller: an initial INVITE with the Call-ID and From tag of a call
// whose answer was acknowledged is known; any other is not.
func TestKnownCaller(t *testing.T) {
	b := &B2BUA{byCaller: map[string]answeredInvite{"call-1\x00tag-1": {}}}
	tests := []struct {
		name, callID, fromTag string
		known                 bool
	}{
		{"the call's caller", "call-1", "tag-1", true},
		{"another Call-ID", "call-2", "tag-1", false},
		{"another From tag", "call-1", "tag-2", false},
		{"no From tag", "call-1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := ""
			if tt.fromTag != "" {
				from = ";tag=" + tt.fromTag
			}
			m, err := sip.ParseMessage([]byte("INVITE sip:202@pbx.test SIP/2.0\r\n" +
				"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-k\r\n" +
				"From: <sip:301@pbx.test>" + from + "\r\n" +
				"To: <sip:202@pbx.test>\r\n" +
				"Call-ID: " + tt.callID + "\r\n" +
				"CSeq: 1 INVITE\r\n" +
				"Content-Length: 0\r\n\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := b.KnownCaller(m.(*sip.Request)); got != tt.known {
				t.Fatalf("KnownCaller = %v, want %v", got, tt.known)
			}
		})
	}
}
