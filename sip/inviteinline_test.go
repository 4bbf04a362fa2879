package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/auth"
	"github.com/dialtone-pbx/dialtone/store"
)

// inviteMsg is a new INVITE from user at port, with extra header lines.
func inviteMsg(user, branch, callID string, port int, extra string) string {
	return fmt.Sprintf("INVITE sip:202@pbx.test SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@pbx.test>;tag=f-%s\r\n"+
		"To: <sip:202@pbx.test>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:%s@127.0.0.1:%d>\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n", port, branch, user, callID, callID, user, port, extra)
}

// ackMsg is the ACK of a non-2xx answer with toTag to the INVITE of branch
// and callID (RFC 3261 §17.1.1.3: the INVITE's top Via, From and Call-ID).
func ackMsg(user, branch, callID, toTag string, port int) string {
	return fmt.Sprintf("ACK sip:202@pbx.test SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@pbx.test>;tag=f-%s\r\n"+
		"To: <sip:202@pbx.test>;tag=%s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 ACK\r\n"+
		"Content-Length: 0\r\n\r\n", port, branch, user, callID, toTag, callID)
}

func parseRequest(t *testing.T, raw, source string) *sip.Request {
	t.Helper()
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	req, ok := m.(*sip.Request)
	if !ok {
		t.Fatalf("not a request:\n%s", raw)
	}
	req.SetTransport("UDP")
	req.SetSource(source)
	return req
}

// inviteServer serves a PBX with cfg on loopback (address and domain set
// here) and an extension named user, whose credentials are in the cache as
// the phone's REGISTER would have put them.
func inviteServer(t *testing.T, cfg Config, user string) (*Server, *store.DB) {
	t.Helper()
	ctx := context.Background()
	db := openStore(t)
	cfg.Listen, cfg.Domain = "127.0.0.1:0", "pbx.test"
	s, err := Listen(cfg, slog.New(slog.DiscardHandler), db, db, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(serveRestored(t, s, db))
	exts := &core.Extensions{Repo: db, OnChange: s.CacheCredentials()}
	spec := core.DefaultExtensionSpec()
	spec.Number = user
	pw := "inline-invite-" + user
	if _, err := exts.Create(ctx, spec, core.ExtensionChange{SIPPassword: &pw}); err != nil {
		t.Fatal(err)
	}
	s.users.Get(ctx, user)
	// The trunk keeper's first read of the trunks runs on its own; until it
	// is in, the front leaves every INVITE to sipgo. Read them now, so that
	// the tests do not race it.
	if _, err := s.enabledTrunks(ctx); err != nil {
		t.Fatal(err)
	}
	return s, db
}

// TestAnswerUDPInvite offers INVITEs and ACKs to the UDP front's answer
// directly: a new INVITE without credentials from a user the cache holds is
// challenged there, with a To tag made from the request; everything that
// needs more than that is left to sipgo unanswered; the ACK of a stateless
// answer is absorbed, and no other ACK is.
func TestAnswerUDPInvite(t *testing.T) {
	ctx := context.Background()
	s, db := inviteServer(t, Config{RTPMin: 41800, RTPMax: 41900, MinSE: 90 * time.Second,
		Trunks: TrunkTiming{Reload: time.Hour}}, "301")
	now := time.Now().UTC().Truncate(time.Microsecond)
	trk := &core.Trunk{ID: core.TrunkID(core.NewID(core.PrefixTrunk)), Name: "carrier", Host: "127.0.0.1", Port: 9,
		Transport: "udp", AuthMode: "ip", AllowedCIDRs: []string{"192.0.2.0/28"}, DIDSource: "request_uri",
		Codecs: []string{"PCMU"}, Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateTrunk(ctx, trk); err != nil {
		t.Fatal(err)
	}
	s.TrunksChanged()
	warmTrunks := func() {
		t.Helper()
		if _, err := s.enabledTrunks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	warmTrunks()
	banned := netip.MustParseAddr("198.51.100.9")
	s.Guard.BanNow(banned, auth.BanFlood)

	offer := func(req *sip.Request) (bool, []*sip.Response) {
		var got []*sip.Response
		ok := s.answerUDP(req, func(res *sip.Response) { got = append(got, res) })
		return ok, got
	}

	steps := []struct {
		name     string
		raw      string
		source   string
		before   func()
		answered bool
		status   int // 0: no answer
	}{
		{name: "new call without credentials", raw: inviteMsg("301", "a1", "call-a", 5999, ""),
			source: "127.0.0.1:5999", answered: true, status: sip.StatusProxyAuthRequired},
		{name: "user the directory knows nothing of", raw: inviteMsg("nobody", "a2", "call-b", 5999, ""),
			source: "127.0.0.1:5999", before: func() { s.users.Get(ctx, "nobody") }, answered: true,
			status: sip.StatusProxyAuthRequired},
		{name: "user not in the cache", raw: inviteMsg("stranger", "a3", "call-c", 5999, ""),
			source: "127.0.0.1:5999"},
		{name: "credentials", raw: inviteMsg("301", "a4", "call-d", 5999,
			"Proxy-Authorization: Digest username=\"301\", realm=\"pbx.test\", nonce=\"x\", uri=\"sip:202@pbx.test\", response=\"00\"\r\n"),
			source: "127.0.0.1:5999"},
		{name: "in-dialog INVITE", raw: inDialog(inviteMsg("301", "a5", "call-e", 5999, "")),
			source: "127.0.0.1:5999"},
		{name: "session interval below Min-SE", raw: inviteMsg("301", "a6", "call-f", 5999, "Session-Expires: 30\r\n"),
			source: "127.0.0.1:5999"},
		{name: "from a trunk's network", raw: inviteMsg("301", "a7", "call-g", 5060, ""), source: "192.0.2.3:5060"},
		{name: "trunks changed since they were read", raw: inviteMsg("301", "a8", "call-h", 5999, ""),
			source: "127.0.0.1:5999", before: func() { s.trunkCache.gen.Add(1) }},
		{name: "trunks read again", raw: inviteMsg("301", "a9", "call-i", 5999, ""),
			source: "127.0.0.1:5999", before: warmTrunks, answered: true, status: sip.StatusProxyAuthRequired},
		{name: "retransmission of an INVITE handed to sipgo", raw: inviteMsg("stranger", "a3", "call-c", 5999, ""),
			source: "127.0.0.1:5999", before: func() { s.users.Get(ctx, "stranger") }},
		{name: "banned source", raw: inviteMsg("301", "b1", "call-j", 5999, ""), source: "198.51.100.9:5999",
			answered: true},
		{name: "OPTIONS", raw: "OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-o1\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:301@pbx.test>;tag=o\r\nTo: <sip:pbx.test>\r\nCall-ID: call-o\r\n" +
			"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", source: "127.0.0.1:5999"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			req := parseRequest(t, st.raw, st.source)
			ok, got := offer(req)
			if ok != st.answered {
				t.Fatalf("answered %v, want %v", ok, st.answered)
			}
			if st.status == 0 {
				if len(got) != 0 {
					t.Fatalf("answered %d", got[0].StatusCode)
				}
				return
			}
			if len(got) != 1 || got[0].StatusCode != st.status {
				t.Fatalf("got %v, want one %d", got, st.status)
			}
			res := got[0]
			if res.GetHeader("Proxy-Authenticate") == nil {
				t.Fatal("challenge without Proxy-Authenticate")
			}
			tag, _ := res.To().Params.Get("tag")
			want, _ := statelessTag(req)
			if tag != want {
				t.Fatalf("To tag %q, want %q", tag, want)
			}
			// A retransmission gets the same tag (RFC 3261 §8.2.7).
			_, again := offer(parseRequest(t, st.raw, st.source))
			if len(again) != 1 {
				t.Fatalf("retransmission answered %d times", len(again))
			}
			if t2, _ := again[0].To().Params.Get("tag"); t2 != tag {
				t.Fatalf("retransmission tagged %q, first answer %q", t2, tag)
			}
		})
	}
	if !s.Guard.Banned(banned) {
		t.Fatal("the ban was lifted")
	}
	t.Run("retransmission after Timer B", func(t *testing.T) {
		var got []*sip.Response
		req := parseRequest(t, inviteMsg("stranger", "a3", "call-c", 5999, ""), "127.0.0.1:5999")
		if !s.challengeUDP(req, func(res *sip.Response) { got = append(got, res) }, time.Now().Add(handedOnFor)) {
			t.Fatal("not answered once the INVITE's transaction is over")
		}
		if len(got) != 1 || got[0].StatusCode != sip.StatusProxyAuthRequired {
			t.Fatalf("got %v, want one 407", got)
		}
	})

	invite := parseRequest(t, inviteMsg("301", "k1", "call-k", 5999, ""), "127.0.0.1:5999")
	tag, _ := statelessTag(invite)
	acks := []struct {
		name     string
		raw      string
		absorbed bool
	}{
		{"ACK of the challenge", ackMsg("301", "k1", "call-k", tag, 5999), true},
		{"ACK on another branch", ackMsg("301", "k2", "call-k", tag, 5999), false},
		{"ACK of another call", ackMsg("301", "k1", "call-l", tag, 5999), false},
		{"ACK of an answer with a tag of its own", ackMsg("301", "k1", "call-k", "6ba7b810-9dad", 5999), false},
	}
	for _, a := range acks {
		t.Run(a.name, func(t *testing.T) {
			ok, got := offer(parseRequest(t, a.raw, "127.0.0.1:5999"))
			if ok != a.absorbed || len(got) != 0 {
				t.Fatalf("absorbed %v with %d answers, want %v and none", ok, len(got), a.absorbed)
			}
		})
	}
}

// inDialog gives a request a To tag, as within a dialog.
func inDialog(raw string) string {
	m, _ := sip.ParseMessage([]byte(raw))
	req := m.(*sip.Request)
	req.To().Params.Add("tag", "dialog-tag")
	return req.String()
}

// TestInviteChallengeOverUDP sends new INVITEs over a real socket: the 407
// comes back with the request's stateless To tag, a retransmission gets the
// same, and the ACK gets nothing and is absorbed by the front, whether the
// front or onInvite sent the challenge.
func TestInviteChallengeOverUDP(t *testing.T) {
	s, _ := inviteServer(t, Config{RTPMin: 41900, RTPMax: 42000}, "302")
	phone := newUDPPhone(t, net.UDPAddrFromAddrPort(s.Addr()))
	steps := []struct {
		name, user, branch string
		inline             uint64 // requests of the step the front answers or absorbs: INVITE and ACK, or the ACK only
	}{
		{"challenged by the front", "302", "u1", 2},
		{"retransmission", "302", "u1", 2},
		{"user not in the cache: challenged by onInvite", "303", "u2", 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := s.Stats().Stateless
			raw := inviteMsg(st.user, st.branch, "call-"+st.branch, phone.port(), "")
			want, _ := statelessTag(parseRequest(t, raw, "127.0.0.1:1"))
			phone.send(raw)
			res := phone.read(5 * time.Second)
			if res == nil || res.StatusCode != sip.StatusProxyAuthRequired {
				t.Fatalf("want 407, got %v", res)
			}
			if tag, _ := res.To().Params.Get("tag"); tag != want {
				t.Fatalf("To tag %q, want %q", tag, want)
			}
			phone.send(ackMsg(st.user, st.branch, "call-"+st.branch, want, phone.port()))
			if res := phone.read(300 * time.Millisecond); res != nil {
				t.Fatalf("ACK answered %d", res.StatusCode)
			}
			if n := s.Stats().Stateless - before; n != st.inline {
				t.Fatalf("%d requests answered or absorbed by the front, want %d", n, st.inline)
			}
		})
	}
}
