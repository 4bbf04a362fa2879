package sip

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/registrar"
	"github.com/dialtone-pbx/dialtone/store"
)

// benchConn stands for the connection a request came in on: it keeps the
// last message written to it (statelessly sent challenges).
type benchConn struct{ last sip.Message }

func (c *benchConn) LocalAddr() net.Addr               { return nil }
func (c *benchConn) WriteMsg(m sip.Message) error      { c.last = m; return nil }
func (c *benchConn) Ref(int) int                       { return 1 }
func (c *benchConn) TryClose() (int, error)            { return 1, nil }
func (c *benchConn) Close() error                      { return nil }
func (c *benchConn) response() *sip.Response           { r, _ := c.last.(*sip.Response); return r }
func (c *benchConn) reset()                            { c.last = nil }
func (tx *benchTx) Connection() sip.Connection         { return tx.conn }
func (tx *benchTx) Terminate()                         {}
func (tx *benchTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (tx *benchTx) Done() <-chan struct{}              { return nil }
func (tx *benchTx) Err() error                         { return nil }
func (tx *benchTx) Acks() <-chan *sip.Request          { return nil }
func (tx *benchTx) OnCancel(sip.FnTxCancel) bool       { return false }
func (tx *benchTx) Respond(res *sip.Response) error    { tx.res = res; return nil }

// benchTx is a server transaction that keeps the response given to it.
type benchTx struct {
	conn *benchConn
	res  *sip.Response
}

type benchUser struct {
	name, password string
	nonce          string
	nc             int
	cseq           uint32
	callID         string
}

// registerBench is a SIP front on a real store holding n extensions,
// driven through its REGISTER handler without sockets.
type registerBench struct {
	exts  *core.Extensions
	s     *Server
	users []benchUser
	tx    benchTx
}

func newRegisterBench(tb testing.TB, n int) *registerBench {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s, err := Listen(Config{Listen: "127.0.0.1:0", Domain: "pbx.test", RTPMin: 41400, RTPMax: 41500},
		slog.New(slog.DiscardHandler), db, db, db)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stop, done := context.WithTimeout(ctx, 5*time.Second)
		defer done()
		s.Shutdown(stop)
	})
	b := &registerBench{s: s, tx: benchTx{conn: &benchConn{}}}
	b.exts = &core.Extensions{Repo: db, OnChange: s.CacheCredentials()}
	exts := b.exts
	for i := range n {
		spec := core.DefaultExtensionSpec()
		spec.Number = fmt.Sprintf("%d", 100000+i)
		pw := fmt.Sprintf("bench-password-%06d", i)
		if _, err := exts.Create(ctx, spec, core.ExtensionChange{SIPPassword: &pw}); err != nil {
			tb.Fatal(err)
		}
		b.users = append(b.users, benchUser{name: spec.Number, password: pw})
	}
	return b
}

// request is a REGISTER of u for contact port, with credentials when u holds a nonce.
func (b *registerBench) request(tb testing.TB, u *benchUser, port int, branch int) *sip.Request {
	auth := ""
	if u.nonce != "" {
		ha1 := md5hex(u.name + ":pbx.test:" + u.password)
		ha2 := md5hex("REGISTER:sip:pbx.test")
		resp := md5hex(fmt.Sprintf("%s:%s:%08x:c0ffee:auth:%s", ha1, u.nonce, u.nc, ha2))
		auth = fmt.Sprintf("Authorization: Digest username=\"%s\", realm=\"pbx.test\", nonce=\"%s\", uri=\"sip:pbx.test\", "+
			"response=\"%s\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, nc=%08x\r\n", u.name, u.nonce, resp, u.nc)
	}
	raw := fmt.Sprintf("REGISTER sip:pbx.test SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@pbx.test>;tag=t%d\r\n"+
		"To: <sip:%s@pbx.test>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d REGISTER\r\n"+
		"Contact: <sip:%s@127.0.0.1:%d;transport=udp>\r\n"+
		"Expires: 3600\r\n"+
		"User-Agent: Bench Phone 1.0\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n", branch, u.name, branch, u.name, u.callID, u.cseq, u.name, port, auth)
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		tb.Fatal(err)
	}
	req := m.(*sip.Request)
	req.SetSource("127.0.0.1:5062")
	return req
}

// register runs the whole exchange for a new binding: REGISTER, 401,
// REGISTER with credentials, 200.
func (b *registerBench) register(tb testing.TB, u *benchUser, port, branch int) {
	u.nonce, u.nc = "", 0
	u.cseq++
	b.tx.conn.reset()
	b.s.onRegister(b.request(tb, u, port, branch), &b.tx)
	res := b.tx.conn.response()
	if res == nil || res.StatusCode != sip.StatusUnauthorized {
		tb.Fatalf("first REGISTER of %s: %v", u.name, res)
	}
	u.nonce, u.nc = nonceOf(tb, res), 1
	u.cseq++
	b.reregister(tb, u, port, branch+1)
}

// reregister sends one REGISTER answering the nonce u holds with the next nonce-count.
func (b *registerBench) reregister(tb testing.TB, u *benchUser, port, branch int) {
	b.tx.res = nil
	b.tx.conn.reset()
	b.s.onRegister(b.request(tb, u, port, branch), &b.tx)
	res := b.tx.conn.response() // answered statelessly, on the connection
	if res == nil || res.StatusCode != sip.StatusOK || b.tx.res != nil {
		tb.Fatalf("REGISTER of %s with credentials: %v / %v", u.name, res, b.tx.res)
	}
}

// nonceOf reads the nonce of a 401's first challenge.
func nonceOf(tb testing.TB, res *sip.Response) string {
	ch, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		tb.Fatal(err)
	}
	return ch.Nonce
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

const benchUsers = 1000

// BenchmarkRegisterNew is a phone's first registration through the REGISTER
// handler: the 401 challenge, then the REGISTER with credentials and its
// 200, with the extensions in SQLite. Each iteration registers a new contact;
// the time includes building and parsing the two requests.
func BenchmarkRegisterNew(b *testing.B) {
	rb := newRegisterBench(b, benchUsers)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u := &rb.users[i%len(rb.users)]
		if i%len(rb.users) == 0 && i > 0 {
			b.StopTimer()
			rb.s.Registry = registrar.NewRegistry(5, nil) // every contact new again
			rb.s.reg.Registry = rb.s.Registry
			b.StartTimer()
		}
		u.callID = fmt.Sprintf("new-%d-%s", i, u.name)
		rb.register(b, u, 20000+i/len(rb.users), 2*i)
	}
}

// newRegisteredBench is a registerBench whose users have each registered
// one contact, with Call-IDs starting with prefix.
func newRegisteredBench(b *testing.B, prefix string) *registerBench {
	rb := newRegisterBench(b, benchUsers)
	for i := range rb.users {
		u := &rb.users[i]
		u.callID = prefix + u.name
		rb.register(b, u, 5062, 2*i)
	}
	return rb
}

// BenchmarkReRegister is a registered phone refreshing its binding with the
// nonce it holds and the next nonce-count, through the REGISTER handler.
func BenchmarkReRegister(b *testing.B) {
	rb := newRegisteredBench(b, "re-")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u := &rb.users[i%len(rb.users)]
		u.nc++
		u.cseq++
		rb.reregister(b, u, 5062, 1_000_000+i)
	}
}

// BenchmarkReRegisterFront is BenchmarkReRegister the way the UDP front
// answers it: on the goroutine that read it, without a server transaction.
func BenchmarkReRegisterFront(b *testing.B) {
	rb := newRegisteredBench(b, "front-")
	var res *sip.Response
	reply := func(r *sip.Response) { res = r }
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u := &rb.users[i%len(rb.users)]
		u.nc++
		u.cseq++
		res = nil
		rb.s.registerUDP(rb.request(b, u, 5062, 1_000_000+i), reply)
		if res == nil || res.StatusCode != sip.StatusOK {
			b.Fatalf("REGISTER of %s: %v", u.name, res)
		}
	}
}
