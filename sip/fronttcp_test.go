package sip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/store"
)

// startFront runs a whole SIP front with small TCP limits on loopback.
func startFront(t *testing.T, lim TCPLimits) *Server {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Config{Listen: "127.0.0.1:0", Domain: "pbx.test", RTPMin: 41400, RTPMax: 41500, TCP: lim,
		Trunks: TrunkTiming{Reload: time.Hour}}, slog.New(slog.DiscardHandler), db, db, db)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s.Serve(sctx)
	t.Cleanup(func() {
		cancel()
		stop, done := context.WithTimeout(ctx, 5*time.Second)
		defer done()
		s.Shutdown(stop)
		db.Close()
	})
	return s
}

func dialFrom(t *testing.T, s *Server, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c (EOF or reset) within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadAll(c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func options(c net.Conn, callID string) string {
	l := c.LocalAddr().String()
	return fmt.Sprintf("OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@%s>;tag=1\r\nTo: <sip:pbx.test>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		l, callID, l, callID)
}

func statusLine(c net.Conn, d time.Duration) string {
	_ = c.SetReadDeadline(time.Now().Add(d))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func TestTCPFront(t *testing.T) {
	lim := TCPLimits{MaxConns: 8, MaxPerSource: 4, MaxPending: 6, MaxPendingPerSource: 3,
		FirstMessageTimeout: 700 * time.Millisecond, MessageTimeout: 500 * time.Millisecond, IdleTimeout: 1500 * time.Millisecond,
		MaxMessage: 65535}
	s := startFront(t, lim)

	t.Run("a silent connection is closed after the first-message timeout", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.61")
		start := time.Now()
		if !closedWithin(c, 3*time.Second) {
			t.Fatal("still open")
		}
		if e := time.Since(start); e < 500*time.Millisecond {
			t.Fatalf("closed after %s, before the timeout", e)
		}
	})
	t.Run("pending connections are capped per source", func(t *testing.T) {
		var conns []net.Conn
		for range lim.MaxPendingPerSource {
			conns = append(conns, dialFrom(t, s, "127.0.0.62"))
		}
		time.Sleep(100 * time.Millisecond)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.62")}, Timeout: 2 * time.Second}
		if extra, err := d.Dial("tcp", s.Addr().String()); err == nil { // a reset may already fail the dial
			defer extra.Close()
			if !closedWithin(extra, 300*time.Millisecond) {
				t.Fatal("a connection over the per-source cap was kept")
			}
		}
		if closedWithin(conns[0], 100*time.Millisecond) {
			t.Fatal("a connection under the cap was closed")
		}
		other := dialFrom(t, s, "127.0.0.63") // another source is not affected
		if _, err := io.WriteString(other, options(other, "other-source")); err != nil {
			t.Fatal(err)
		}
		if got := statusLine(other, 2*time.Second); got != "SIP/2.0 200 OK" {
			t.Fatalf("other source got %q", got)
		}
	})
	t.Run("a full waiting room makes space for a new source", func(t *testing.T) {
		waitReleased(t, s) // the connections of the subtests before are gone
		var held []net.Conn
		for _, src := range []string{"127.0.0.71", "127.0.0.72"} {
			for range lim.MaxPendingPerSource {
				held = append(held, dialFrom(t, s, src))
			}
		}
		full := func() bool { _, pend := s.tcpFront.counts(); return pend == lim.MaxPending }
		for deadline := time.Now().Add(2 * time.Second); !full() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if _, pend := s.tcpFront.counts(); pend != lim.MaxPending {
			t.Fatalf("%d waiting, want the room full (%d)", pend, lim.MaxPending)
		}
		phone := dialFrom(t, s, "127.0.0.73")
		if _, err := io.WriteString(phone, options(phone, "newcomer")); err != nil {
			t.Fatal(err)
		}
		if got := statusLine(phone, 2*time.Second); got != "SIP/2.0 200 OK" {
			t.Fatalf("newcomer got %q", got)
		}
		closed := 0
		for _, c := range held {
			if closedWithin(c, 50*time.Millisecond) {
				closed++
			}
		}
		if closed != 1 {
			t.Fatalf("%d waiting connections closed, want the one oldest", closed)
		}
	})
	t.Run("an unfinished header section gets 408 and is closed", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.64")
		_, _ = io.WriteString(c, "OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.64;branch=z9hG4bK-x\r\n")
		if got := statusLine(c, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 408") {
			t.Fatalf("got %q", got)
		}
		if !closedWithin(c, time.Second) {
			t.Fatal("still open")
		}
	})
	t.Run("a body shorter than Content-Length gets 400 and is closed", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.65")
		msg := strings.Replace(options(c, "short-body"), "Content-Length: 0", "Content-Length: 50", 1) + "v=0\r\n"
		_, _ = io.WriteString(c, msg)
		if got := statusLine(c, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 400 Incomplete Body") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("no Content-Length on a stream gets 400", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.66")
		_, _ = io.WriteString(c, strings.Replace(options(c, "no-length"), "Content-Length: 0\r\n", "", 1))
		if got := statusLine(c, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 400") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("pipelined messages, split anywhere, each get their answer", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.74")
		stream := "\r\n" + options(c, "pipe-1") + "\r\n\r\n" + options(c, "pipe-2") + options(c, "pipe-3")
		for _, part := range []string{stream[:1], stream[1:37], stream[37 : len(stream)/2], stream[len(stream)/2:]} {
			if _, err := io.WriteString(c, part); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		got := 0
		for got < 3 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %d answers: %v", got, err)
			}
			if strings.HasPrefix(line, "SIP/2.0 200") {
				got++
			}
		}
	})
	t.Run("a message hidden in another's body is screened", func(t *testing.T) {
		// A body ending in NUL bytes, then a message whose From has no tag:
		// the hidden message must be refused by the front, never answered 200.
		c := dialFrom(t, s, "127.0.0.75")
		// The NULs start at byte 32768, where a reader with a 32 KiB buffer
		// would cut: such a chunk of NULs alone is skipped by sipgo as
		// padding, and the next message would then be read as this body.
		hidden := strings.Replace(options(c, "hidden"), ";tag=1", "", 1)
		head := func(n int) string {
			return strings.Replace(options(c, "carrier"), "Content-Length: 0", fmt.Sprintf("Content-Length: %05d", n), 1)
		}
		h := len(head(0))
		body := strings.Repeat("a", 32768-h) + strings.Repeat("\x00", len(hidden))
		first := head(len(body)) + body
		_, _ = io.WriteString(c, first)
		time.Sleep(50 * time.Millisecond)
		_, _ = io.WriteString(c, hidden)
		r := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var statuses []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			if strings.HasPrefix(line, "SIP/2.0 ") {
				statuses = append(statuses, strings.TrimSpace(line))
			}
			if len(statuses) == 2 {
				break
			}
		}
		if len(statuses) != 2 || statuses[0] != "SIP/2.0 200 OK" || !strings.HasPrefix(statuses[1], "SIP/2.0 400 Missing From Tag") {
			t.Fatalf("answers %q", statuses)
		}
	})
	t.Run("a huge Content-Length gets 400 and the front lives", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.76")
		_, _ = io.WriteString(c, strings.Replace(options(c, "huge"), "Content-Length: 0", "Content-Length: 9223372036854775807", 1))
		if got := statusLine(c, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 400") {
			t.Fatalf("got %q", got)
		}
		other := dialFrom(t, s, "127.0.0.77")
		_, _ = io.WriteString(other, options(other, "still-alive"))
		if got := statusLine(other, 2*time.Second); got != "SIP/2.0 200 OK" {
			t.Fatalf("after: %q", got)
		}
	})
	t.Run("double CRLF ping gets a CRLF pong", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.67")
		_, _ = io.WriteString(c, "\r\n\r\n")
		buf := make([]byte, 2)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "\r\n" {
			t.Fatalf("pong %q, %v", buf, err)
		}
	})
	t.Run("an established connection serves, then is closed when idle", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.68")
		r := bufio.NewReader(c)
		for i := range 3 {
			_, _ = io.WriteString(c, options(c, fmt.Sprintf("idle-%d", i)))
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := r.ReadString('\n')
			if strings.TrimSpace(line) != "SIP/2.0 200 OK" {
				t.Fatalf("request %d got %q", i, line)
			}
			for line != "\r\n" && line != "" {
				line, _ = r.ReadString('\n')
			}
		}
		est, _ := s.tcpFront.counts()
		if est == 0 {
			t.Fatal("not counted as established")
		}
		if !closedWithin(c, 4*time.Second) {
			t.Fatal("idle connection kept open")
		}
		waitReleased(t, s)
	})
	t.Run("a connection the phone closes frees its place", func(t *testing.T) {
		c := dialFrom(t, s, "127.0.0.69")
		_, _ = io.WriteString(c, options(c, "closing"))
		if got := statusLine(c, 2*time.Second); got != "SIP/2.0 200 OK" {
			t.Fatalf("got %q", got)
		}
		c.Close()
		waitReleased(t, s)
	})
}

// waitReleased waits until no connection is counted against the caps.
func waitReleased(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		est, pend := s.tcpFront.counts()
		if est == 0 && pend == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d established, %d pending still counted", est, pend)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flakyListener fails Accept with EMFILE a few times, as a process out of
// file descriptors does, then accepts for real.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func TestTCPAcceptSurvivesErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyListener{Listener: ln}
	flaky.failures.Store(5)
	guardOnly := startFront(t, DefaultTCPLimits()) // for a guard
	l := newScreenedListener(flaky, guardOnly.front, DefaultTCPLimits(), slog.New(slog.DiscardHandler))
	defer l.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, options(c, "after-emfile"))
	got := make(chan net.Conn, 1)
	go func() {
		a, _ := l.Accept()
		got <- a
	}()
	select {
	case a := <-got:
		if a == nil {
			t.Fatal("accept failed")
		}
		a.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after accept errors")
	}
	if l.down.Load() {
		t.Fatal("listener marked down")
	}
}

func TestReadyFollowsListeners(t *testing.T) {
	tests := []struct {
		name  string
		close func(s *Server)
		want  string
	}{
		{name: "udp", close: func(s *Server) { s.udp.Close() }, want: "udp"},
		{name: "tcp", close: func(s *Server) { s.tcp.Close() }, want: "tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFront(t, DefaultTCPLimits())
			if err := s.Ready(); err != nil {
				t.Fatalf("ready at start: %v", err)
			}
			tt.close(s)
			deadline := time.Now().Add(3 * time.Second)
			for s.Ready() == nil && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if err := s.Ready(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ready after closing %s: %v", tt.name, err)
			}
		})
	}
}
