package sip

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// sentConn is a connection that keeps the responses written to it.
type sentConn struct {
	mu   sync.Mutex
	sent []int
}

func (c *sentConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
}

func (c *sentConn) WriteMsg(m sip.Message) error {
	if r, ok := m.(*sip.Response); ok {
		c.mu.Lock()
		c.sent = append(c.sent, r.StatusCode)
		c.mu.Unlock()
	}
	return nil
}

func (c *sentConn) Ref(int) int            { return 1 }
func (c *sentConn) TryClose() (int, error) { return 0, nil }
func (c *sentConn) Close() error           { return nil }

func (c *sentConn) codes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sent...)
}

// TestInviteTransactionSendsNoTryingOfItsOwn: an INVITE server transaction
// whose handler answers late (as under load) sends nothing of its own, so
// its last response, which a retransmitted INVITE gets again, is the
// handler's final one, never a 100 (see the timers above).
func TestInviteTransactionSendsNoTryingOfItsOwn(t *testing.T) {
	raw := "INVITE sip:1002@pbx.test SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-late-1;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:1001@pbx.test>;tag=late\r\n" +
		"To: <sip:1002@pbx.test>\r\n" +
		"Call-ID: late-trying@127.0.0.1\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:1001@127.0.0.1:5062>\r\n" +
		"Content-Length: 0\r\n\r\n"
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sip.Request)
	req.SetSource("127.0.0.1:5062")
	key, err := sip.ServerTxKeyMake(req)
	if err != nil {
		t.Fatal(err)
	}
	conn := &sentConn{}
	tx := sip.NewServerTx(key, req, conn, slog.New(slog.DiscardHandler))
	if err := tx.Init(); err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	time.Sleep(300 * time.Millisecond) // past sipgo's own 200 ms
	if got := conn.codes(); len(got) != 0 {
		t.Fatalf("the transaction sent %v before its handler answered", got)
	}
	if err := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusProxyAuthRequired, "Proxy Authentication Required", nil)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Receive(req); err != nil { // the INVITE again
		t.Fatal(err)
	}
	if got := conn.codes(); len(got) != 2 || got[0] != 407 || got[1] != 407 {
		t.Fatalf("responses sent: %v, want the 407 and its retransmission", got)
	}
}
