package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// heldStore is a store whose registration writes can be held back, to see
// which REGISTERs wait for them.
type heldStore struct {
	*store.DB
	mu   sync.Mutex
	gate chan struct{} // nil: writes go through
}

func (h *heldStore) SaveRegistrations(ctx context.Context, upserts []core.Registration, removals []core.RegistrationKey) error {
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return h.DB.SaveRegistrations(ctx, upserts, removals)
}

// hold holds registration writes back until the returned function is called.
func (h *heldStore) hold() (release func()) {
	gate := make(chan struct{})
	h.mu.Lock()
	h.gate = gate
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.gate = nil
		h.mu.Unlock()
		close(gate)
	}
}

// udpPhone sends raw REGISTERs from a socket of its own and reads answers.
type udpPhone struct {
	t    *testing.T
	conn net.PacketConn
	to   net.Addr
}

func newUDPPhone(t *testing.T, to net.Addr) *udpPhone {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPhone{t: t, conn: c, to: to}
}

func (p *udpPhone) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *udpPhone) send(raw string) {
	p.t.Helper()
	if _, err := p.conn.WriteTo([]byte(raw), p.to); err != nil {
		p.t.Fatal(err)
	}
}

// readRaw returns the next datagram within wait, nil when none comes.
func (p *udpPhone) readRaw(wait time.Duration) []byte {
	p.t.Helper()
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := p.conn.ReadFrom(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// read returns the next response within wait, nil when none comes.
func (p *udpPhone) read(wait time.Duration) *sip.Response {
	p.t.Helper()
	raw := p.readRaw(wait)
	if raw == nil {
		return nil
	}
	m, err := sip.ParseMessage(raw)
	if err != nil {
		p.t.Fatalf("unparsable answer: %v\n%s", err, raw)
	}
	res, ok := m.(*sip.Response)
	if !ok {
		p.t.Fatalf("answer is not a response:\n%s", raw)
	}
	return res
}

// registerMsg is a REGISTER of user for a contact on port, answering nonce
// with password and nc when nonce is set.
func registerMsg(user, password, nonce string, nc int, branch, callID string, cseq, port, expires int) string {
	auth := ""
	if nonce != "" {
		ha1 := md5hex(user + ":pbx.test:" + password)
		ha2 := md5hex("REGISTER:sip:pbx.test")
		resp := md5hex(fmt.Sprintf("%s:%s:%08x:c0ffee:auth:%s", ha1, nonce, nc, ha2))
		auth = fmt.Sprintf("Authorization: Digest username=\"%s\", realm=\"pbx.test\", nonce=\"%s\", uri=\"sip:pbx.test\", "+
			"response=\"%s\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, nc=%08x\r\n", user, nonce, resp, nc)
	}
	return fmt.Sprintf("REGISTER sip:pbx.test SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@pbx.test>;tag=f%s\r\n"+
		"To: <sip:%s@pbx.test>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d REGISTER\r\n"+
		"Contact: <sip:%s@127.0.0.1:%d>\r\n"+
		"Expires: %d\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n", port, branch, user, callID, user, callID, cseq, user, port, expires, auth)
}

// TestRegisterOverUDP follows REGISTERs over a real socket through each way
// the front answers them, with the store's registration writes held back
// where the way matters: challenges and refreshes are answered without the
// store; a new, moved or removed binding is answered once it is stored, and
// the retransmissions that come meanwhile are absorbed rather than answered
// with a stale challenge; what the cache of users cannot answer (an unknown
// name, a wrong password) is still answered.
func TestRegisterOverUDP(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	held := &heldStore{DB: db}
	s, err := Listen(Config{Listen: "127.0.0.1:0", Domain: "pbx.test", RTPMin: 41600, RTPMax: 41700},
		slog.New(slog.DiscardHandler), db, db, db)
	if err != nil {
		t.Fatal(err)
	}
	defer serveRestored(t, s, held)()
	exts := &core.Extensions{Repo: db, OnChange: s.CacheCredentials()}
	spec := core.DefaultExtensionSpec()
	spec.Number = "201"
	pw := "inline-secret-201"
	if _, err := exts.Create(ctx, spec, core.ExtensionChange{SIPPassword: &pw}); err != nil {
		t.Fatal(err)
	}
	server := net.UDPAddrFromAddrPort(s.Addr())
	phone := newUDPPhone(t, server)
	const quiet = 300 * time.Millisecond // long enough for an answer that should not come
	expect := func(p *udpPhone, code int) *sip.Response {
		t.Helper()
		res := p.read(5 * time.Second)
		if res == nil || res.StatusCode != code {
			t.Fatalf("want %d, got %v", code, res)
		}
		return res
	}
	silent := func(p *udpPhone, why string) {
		t.Helper()
		if res := p.read(quiet); res != nil {
			t.Fatalf("%s: got %d %s", why, res.StatusCode, res.Reason)
		}
	}
	bound := func(port int) bool {
		for _, b := range s.Registry.All() {
			if strings.Contains(b.Contact, fmt.Sprintf(":%d", port)) {
				return true
			}
		}
		return false
	}

	phone.send(registerMsg("201", "", "", 0, "c1", "call-1", 1, phone.port(), 3600))
	nonce := nonceOf(t, expect(phone, sip.StatusUnauthorized))

	t.Run("new binding", func(t *testing.T) {
		release := held.hold()
		req := registerMsg("201", pw, nonce, 1, "n1", "call-1", 2, phone.port(), 3600)
		phone.send(req)
		phone.send(req) // a retransmission while the binding is written
		silent(phone, "answered before the binding was stored")
		release()
		res := expect(phone, sip.StatusOK)
		if res.GetHeader("Contact") == nil {
			t.Fatal("200 lists no binding")
		}
		silent(phone, "retransmission answered")
		if !bound(phone.port()) {
			t.Fatal("binding not kept")
		}
	})

	t.Run("refresh", func(t *testing.T) {
		release := held.hold()
		defer release()
		phone.send(registerMsg("201", pw, nonce, 2, "r1", "call-1", 3, phone.port(), 3600))
		expect(phone, sip.StatusOK)
	})

	t.Run("moved binding", func(t *testing.T) {
		// The same contact, now reached from another port.
		moved := newUDPPhone(t, server)
		release := held.hold()
		moved.send(registerMsg("201", pw, nonce, 3, "m1", "call-1", 4, phone.port(), 3600))
		silent(moved, "answered before the move was stored")
		release()
		expect(moved, sip.StatusOK)
		b := s.Registry.All()
		if len(b) != 1 || !strings.HasSuffix(b[0].Source, fmt.Sprintf(":%d", moved.port())) {
			t.Fatalf("bindings after the move: %+v", b)
		}
	})

	t.Run("removed binding", func(t *testing.T) {
		moved := newUDPPhone(t, server)
		moved.send(registerMsg("201", "", "", 0, "d0", "call-2", 1, phone.port(), 0))
		n := nonceOf(t, expect(moved, sip.StatusUnauthorized))
		release := held.hold()
		moved.send(registerMsg("201", pw, n, 1, "d1", "call-2", 2, phone.port(), 0))
		silent(moved, "answered before the removal was stored")
		release()
		expect(moved, sip.StatusOK)
		if all := s.Registry.All(); len(all) != 0 {
			t.Fatalf("bindings after the removal: %+v", all)
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		phone.send(registerMsg("nobody", "", "", 0, "u1", "call-3", 1, phone.port(), 3600))
		expect(phone, sip.StatusUnauthorized)
	})

	t.Run("wrong password", func(t *testing.T) {
		phone.send(registerMsg("201", "", "", 0, "w0", "call-4", 1, phone.port(), 3600))
		n := nonceOf(t, expect(phone, sip.StatusUnauthorized))
		phone.send(registerMsg("201", "not-the-password", n, 1, "w1", "call-4", 2, phone.port(), 3600))
		expect(phone, sip.StatusUnauthorized)
		if all := s.Registry.All(); len(all) != 0 {
			t.Fatalf("bindings after a wrong password: %+v", all)
		}
	})
}
