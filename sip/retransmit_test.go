package sip

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestRetransmissionsOverUDP: a request the front answers without a
// transaction, sent again as a retransmission (the same bytes), gets the
// answer a transaction would have sent again: the same challenge, byte for
// byte, the same To tag, and a 200 again for a REGISTER applied already,
// with nothing changed. Another request gets a new nonce, and credentials
// used again for anything but the request already applied are a replay.
func TestRetransmissionsOverUDP(t *testing.T) {
	const user = "211"
	s, _ := inviteServer(t, Config{RTPMin: 42000, RTPMax: 42100}, user)
	pw := "inline-invite-" + user
	phone := newUDPPhone(t, net.UDPAddrFromAddrPort(s.Addr()))
	answer := func() []byte {
		t.Helper()
		raw := phone.readRaw(5 * time.Second)
		if raw == nil {
			t.Fatal("no answer")
		}
		return raw
	}
	parse := func(raw []byte) *sip.Response {
		t.Helper()
		m, err := sip.ParseMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		return m.(*sip.Response)
	}
	challenge := registerMsg(user, "", "", 0, "c1", "call-r", 1, phone.port(), 3600)
	phone.send(challenge)
	first := answer()
	nonce := nonceOf(t, parse(first))

	steps := []struct {
		name  string
		req   string
		code  int
		same  []byte // the answer must be these bytes
		nonce string // the answer's nonce must not be this one
	}{
		{"challenge retransmitted", challenge, sip.StatusUnauthorized, first, ""},
		{"another REGISTER challenged", registerMsg(user, "", "", 0, "c2", "call-r", 1, phone.port(), 3600), sip.StatusUnauthorized, nil, nonce},
		{"new binding", registerMsg(user, pw, nonce, 1, "n1", "call-r", 2, phone.port(), 3600), sip.StatusOK, nil, ""},
		{"refresh", registerMsg(user, pw, nonce, 2, "r1", "call-r", 3, phone.port(), 3600), sip.StatusOK, nil, ""},
		{"refresh retransmitted: applied already, answered again", registerMsg(user, pw, nonce, 2, "r1", "call-r", 3, phone.port(), 3600), sip.StatusOK, nil, ""},
		{"its credentials with another expiry: answered, not applied", registerMsg(user, pw, nonce, 2, "r1", "call-r", 3, phone.port(), 60), sip.StatusOK, nil, ""},
		{"its credentials for another contact: a replay", registerMsg(user, pw, nonce, 2, "r1", "call-r", 3, phone.port()+1, 3600), sip.StatusUnauthorized, nil, ""},
		{"its credentials for a removal: a replay", registerMsg(user, pw, nonce, 2, "r1", "call-r", 3, phone.port(), 0), sip.StatusUnauthorized, nil, ""},
		{"its credentials with a later CSeq: a replay", registerMsg(user, pw, nonce, 2, "r1", "call-r", 4, phone.port(), 3600), sip.StatusUnauthorized, nil, ""},
	}
	tags := map[string]string{}
	var refreshed time.Time // the binding's expiry after the refresh
	for _, st := range steps {
		// A REGISTER finished aside absorbs its retransmissions until it is
		// done with, just after its answer is sent.
		for deadline := time.Now().Add(5 * time.Second); s.registering.busy() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		phone.send(st.req)
		raw := answer()
		res := parse(raw)
		if res.StatusCode != st.code {
			t.Fatalf("%s: %d %s, want %d", st.name, res.StatusCode, res.Reason, st.code)
		}
		if st.same != nil && !bytes.Equal(raw, st.same) {
			t.Fatalf("%s: answer\n%s\nwant the first one\n%s", st.name, raw, st.same)
		}
		if st.nonce != "" && nonceOf(t, res) == st.nonce {
			t.Fatalf("%s: the nonce of another request", st.name)
		}
		tag, _ := res.To().Params.Get("tag")
		if len(tag) < 2 || tag[:2] != statelessTagPrefix {
			t.Fatalf("%s: To tag %q is not the stateless tag", st.name, tag)
		}
		// Every answer to a request and its retransmissions has one To tag.
		b, _ := res.Via().Params.Get("branch")
		if prev, ok := tags[b]; ok && prev != tag {
			t.Fatalf("%s: To tag %q, %q before", st.name, tag, prev)
		}
		tags[b] = tag
		all := s.Registry.All()
		if st.code == sip.StatusOK && len(all) != 1 {
			t.Fatalf("%s: bindings %+v", st.name, all)
		}
		switch {
		case st.name == "refresh":
			refreshed = all[0].ExpiresAt
		case !refreshed.IsZero() && (len(all) != 1 || !all[0].ExpiresAt.Equal(refreshed)):
			t.Fatalf("%s: the binding changed: %+v", st.name, all)
		}
	}
	var invite []byte
	t.Run("INVITE challenge retransmitted", func(t *testing.T) {
		req := inviteMsg(user, "i1", "call-i", phone.port(), "")
		phone.send(req)
		invite = answer()
		if res := parse(invite); res.StatusCode != sip.StatusProxyAuthRequired {
			t.Fatalf("%d %s, want 407", res.StatusCode, res.Reason)
		}
		phone.send(req)
		if again := answer(); !bytes.Equal(again, invite) {
			t.Fatalf("answer\n%s\nwant the first one\n%s", again, invite)
		}
	})
}
