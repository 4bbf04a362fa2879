package sip

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TCPLimits bound what SIP over TCP may cost. A new connection is held by
// the front (a small buffer, no sipgo state) until it sends a first message
// that passes the screen; only then does sipgo get it. Connections still
// waiting for that first message are "pending" and have their own, smaller
// caps, so idle or silent connections cannot exhaust the established ones.
type TCPLimits struct {
	MaxConns            int           // established connections in all
	MaxPerSource        int           // established connections per source address
	MaxPending          int           // connections waiting for a first message, in all
	MaxPendingPerSource int           // the same per source address
	FirstMessageTimeout time.Duration // a new connection must send a whole first message within this
	MessageTimeout      time.Duration // a message that has started must be complete within this
	IdleTimeout         time.Duration // an established connection silent this long is closed
	MaxMessage          int           // bytes of one message, headers and body
}

// DefaultTCPLimits suit a PBX with a few thousand phones. IdleTimeout
// outlasts the longest registration, so a phone registered over TCP stays
// reachable on its connection until it refreshes.
func DefaultTCPLimits() TCPLimits {
	return TCPLimits{MaxConns: 2048, MaxPerSource: 128, MaxPending: 512, MaxPendingPerSource: 16,
		FirstMessageTimeout: 10 * time.Second, MessageTimeout: 10 * time.Second, IdleTimeout: 65 * time.Minute,
		MaxMessage: 65535}
}

// screenedListener accepts TCP connections for sipgo, admitting each only
// after its first message passed the front. Its accept loop survives errors
// (such as running out of file descriptors) by backing off.
type screenedListener struct {
	ln    net.Listener
	front *front
	lim   TCPLimits
	log   *slog.Logger

	ready  chan net.Conn
	closed chan struct{}
	down   atomic.Bool // the accept loop has stopped

	mu          sync.Mutex
	established map[netip.Addr]int
	pending     map[netip.Addr][]*screenedConn // oldest first
	nEst, nPend int
	refused     atomic.Uint64
	warn        logLimiter
}

func newScreenedListener(ln net.Listener, f *front, lim TCPLimits, log *slog.Logger) *screenedListener {
	l := &screenedListener{ln: ln, front: f, lim: lim, log: log, ready: make(chan net.Conn), closed: make(chan struct{}),
		established: map[netip.Addr]int{}, pending: map[netip.Addr][]*screenedConn{}}
	go l.acceptLoop()
	return l
}

// Accept hands sipgo the next admitted connection.
func (l *screenedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the connections still waiting for a
// first message.
func (l *screenedListener) Close() error {
	select {
	case <-l.closed:
		return nil
	default:
		close(l.closed)
	}
	err := l.ln.Close()
	l.mu.Lock()
	var waiting []*screenedConn
	for _, conns := range l.pending {
		waiting = append(waiting, conns...)
	}
	l.mu.Unlock()
	for _, c := range waiting {
		_ = c.Conn.Close()
	}
	return err
}

func (l *screenedListener) Addr() net.Addr { return l.ln.Addr() }

func (l *screenedListener) acceptLoop() {
	defer l.down.Store(true)
	backoff := time.Duration(0)
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE, ENFILE, ECONNABORTED and the like pass; wait a little
			// so a full descriptor table can drain, then accept again.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if n, ok := l.warn.allow(time.Now()); ok {
				l.log.Warn("sip tcp accept failed; retrying", "error", err, "retry_in", backoff, "failures_since_last_line", n)
			}
			select {
			case <-time.After(backoff):
			case <-l.closed:
				return
			}
			continue
		}
		backoff = 0
		l.admit(c)
	}
}

// admit counts a new connection as pending and reads its first message, or
// closes it at once when a cap is reached or its source is banned.
func (l *screenedListener) admit(c net.Conn) {
	ip := sourceKey(remoteIP(c))
	banned, allowed := l.front.guard.Standing(ip)
	if banned {
		l.refuse(c, ip, "banned")
		return
	}
	// A new connection costs like a packet: connection floods are throttled
	// and banned like packet floods.
	if !allowed && l.front.charge(ip, "TCP") != floodPass {
		l.refuse(c, ip, "throttled")
		return
	}
	trusted := allowed || l.front.flood.trusted(ip)
	sc := &screenedConn{Conn: c, l: l, ip: ip, buf: make([]byte, 4096)}
	var evict *screenedConn
	l.mu.Lock()
	full := l.nEst >= l.lim.MaxConns ||
		(!trusted && (len(l.pending[ip]) >= l.lim.MaxPendingPerSource || l.established[ip] >= l.lim.MaxPerSource))
	if !full && l.nPend >= l.lim.MaxPending {
		// The waiting room is full: make space by closing the oldest waiting
		// connection of the source that has the most, so silent connections
		// from a few addresses cannot lock everyone else out of TCP.
		evict = l.evictionLocked(ip)
		full = evict == nil && !trusted
	}
	if !full {
		l.nPend++
		l.pending[ip] = append(l.pending[ip], sc)
	}
	l.mu.Unlock()
	if evict != nil {
		_ = evict.Conn.Close() // its reader sees the error and releases its place
	}
	if full {
		l.refuse(c, ip, "connection limit")
		return
	}
	go sc.awaitFirstMessage()
}

// evictionLocked picks the oldest waiting connection of the source with the
// most waiting connections, if that source has more than newcomer would.
func (l *screenedListener) evictionLocked(newcomer netip.Addr) *screenedConn {
	var worst netip.Addr
	most := 0
	for ip, conns := range l.pending {
		if len(conns) > most {
			worst, most = ip, len(conns)
		}
	}
	if most == 0 || most <= len(l.pending[newcomer]) {
		return nil
	}
	return l.pending[worst][0]
}

func (l *screenedListener) refuse(c net.Conn, ip netip.Addr, why string) {
	l.refused.Add(1)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // reset: no TIME_WAIT kept for refused peers
	}
	_ = c.Close()
	if n, ok := l.warn.allow(time.Now()); ok {
		l.log.Warn("sip tcp connection refused", "ip", ip.String(), "why", why, "refused_since_last_line", n, "security", true)
	}
}

// promote moves a connection from pending to established; false when the
// established caps are reached meanwhile.
func (l *screenedListener) promote(c *screenedConn, allowed bool) bool {
	ip := c.ip
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropPendingLocked(c)
	if l.nEst >= l.lim.MaxConns || (!allowed && l.established[ip] >= l.lim.MaxPerSource) {
		return false
	}
	l.nEst++
	l.established[ip]++
	return true
}

func (l *screenedListener) release(c *screenedConn, established bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !established {
		l.dropPendingLocked(c)
		return
	}
	l.nEst--
	if l.established[c.ip]--; l.established[c.ip] <= 0 {
		delete(l.established, c.ip)
	}
}

func (l *screenedListener) dropPendingLocked(c *screenedConn) {
	conns := l.pending[c.ip]
	for i, p := range conns {
		if p == c {
			l.nPend--
			conns = append(conns[:i], conns[i+1:]...)
			break
		}
	}
	if len(conns) == 0 {
		delete(l.pending, c.ip)
	} else {
		l.pending[c.ip] = conns
	}
}

// counts reports established and pending connections.
func (l *screenedListener) counts() (established, pending int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nEst, l.nPend
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// screenedConn frames SIP messages on a TCP stream (RFC 3261 §18.3:
// headers up to the empty line, then Content-Length bytes), passes each to
// the front and gives sipgo only those that pass.
type screenedConn struct {
	net.Conn
	l           *screenedListener
	ip          netip.Addr
	buf         []byte   // one socket read
	in          []byte   // read but not yet framed
	scanned     int      // bytes of in already searched for the end of the headers
	out         [][]byte // screened messages, for sipgo, oldest first
	partial     time.Time
	established bool

	wmu       sync.Mutex
	closeOnce sync.Once
}

var errConnRefused = errors.New("connection closed by the sip front")

func (c *screenedConn) awaitFirstMessage() {
	defer func() {
		if r := recover(); r != nil { // the last line of defence: drop the connection, keep the process
			c.l.log.Error("sip tcp front panic", "panic", r, "stack", string(debug.Stack()))
			c.closeAs(false)
		}
	}()
	deadline := time.Now().Add(c.l.lim.FirstMessageTimeout)
	for len(c.out) == 0 {
		if err := c.fill(deadline); err != nil {
			c.closeAs(false)
			return
		}
	}
	if !c.l.promote(c, c.l.front.guard.Allowed(c.ip)) {
		c.l.refuse(c.Conn, c.ip, "connection limit")
		return
	}
	c.established = true
	select {
	case c.l.ready <- c:
	case <-c.l.closed:
		_ = c.Close()
	}
}

// Read gives sipgo one screened message per call (sipgo's read buffer holds
// the largest message the front lets through), so sipgo never sees a
// message split at a point of an attacker's choosing. Connections the front
// closes end as io.EOF.
func (c *screenedConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		deadline := time.Now().Add(c.l.lim.IdleTimeout)
		if err := c.fill(deadline); err != nil {
			if errors.Is(err, errConnRefused) {
				return 0, io.EOF
			}
			return 0, err
		}
	}
	n := copy(p, c.out[0])
	if n < len(c.out[0]) {
		c.out[0] = c.out[0][n:]
	} else {
		c.out[0] = nil
		c.out = c.out[1:]
	}
	return n, nil
}

// fill frames and screens what is buffered, reading from the socket once
// when no whole message is there. idle is the deadline when nothing is
// pending; a started message has MessageTimeout from its first byte.
func (c *screenedConn) fill(idle time.Time) error {
	for {
		done, err := c.frame()
		if err != nil || done {
			return err
		}
		if len(c.out) > 0 {
			return nil
		}
		deadline := idle
		if len(c.in) > 0 {
			deadline = c.partial.Add(c.l.lim.MessageTimeout)
		}
		_ = c.Conn.SetReadDeadline(deadline)
		n, err := c.Conn.Read(c.buf)
		if n > 0 {
			if len(c.in) == 0 {
				c.partial = time.Now()
			}
			c.in = append(c.in, c.buf[:n]...)
		}
		if err != nil {
			var ne net.Error
			timeout := errors.As(err, &ne) && ne.Timeout()
			if (timeout || errors.Is(err, io.EOF)) && len(c.in) > 0 {
				// A message that never completes: RFC 3261 §18.3 wants 400
				// when the body is shorter than Content-Length.
				switch {
				case bytes.Contains(c.in, []byte("\r\n\r\n")):
					c.replyAndClose(reject(c.in, 400, "Incomplete Body").reply)
				case timeout:
					c.replyAndClose(reject(c.in, 408, "Request Timeout").reply)
				default:
					c.replyAndClose(reject(c.in, 400, "Incomplete Message").reply)
				}
				return errConnRefused
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return errConnRefused // idle
			}
			return err
		}
	}
}

// frame takes whole messages off the front of c.in, screening each. It
// reports done when the connection must close.
func (c *screenedConn) frame() (done bool, err error) {
	for len(c.in) > 0 {
		// RFC 5626 §4.4.1: a double CRLF is a ping answered by a CRLF pong;
		// CRLFs between messages are ignored (RFC 3261 §7.5).
		crlfs := 0
		for len(c.in) >= 2 && c.in[0] == '\r' && c.in[1] == '\n' {
			c.in = c.in[2:]
			crlfs++
		}
		if crlfs >= 2 {
			c.write([]byte("\r\n"))
		}
		if crlfs > 0 {
			c.scanned = 0
		}
		if len(c.in) == 0 {
			break
		}
		end := bytes.Index(c.in[c.scanned:], []byte("\r\n\r\n"))
		if end < 0 {
			c.scanned = max(0, len(c.in)-3) // a dripped header section is searched once
			if len(c.in) > c.l.lim.MaxMessage {
				c.replyAndClose(reject(c.in, 400, "Message Too Large").reply)
				return true, errConnRefused
			}
			return false, nil
		}
		end += c.scanned
		head := c.in[:end+4]
		length, ok := contentLength(head)
		if !ok {
			c.replyAndClose(reject(head, 400, "Missing or Malformed Content-Length").reply)
			return true, errConnRefused
		}
		if length > c.l.lim.MaxMessage-len(head) {
			c.replyAndClose(reject(head, 400, "Message Too Large").reply)
			return true, errConnRefused
		}
		total := len(head) + length
		if len(c.in) < total {
			return false, nil
		}
		msg := bytes.Clone(c.in[:total])
		c.in = c.in[total:]
		c.scanned = 0
		if len(c.in) > 0 {
			c.partial = time.Now()
		}
		v := c.l.front.inspect(msg, c.ip, "TCP")
		switch {
		case v.pass:
			c.out = append(c.out, msg)
		case v.reply != nil:
			c.write(v.reply)
		case v.why == "banned":
			_ = c.Conn.Close()
			return true, errConnRefused
		}
	}
	c.in, c.scanned = nil, 0
	return false, nil
}

// maxContentLength is beyond any message the front accepts, and keeps the
// arithmetic on lengths far from overflow.
const maxContentLength = 1 << 20

// contentLength reads the Content-Length of a header section; a stream
// message must carry one (RFC 3261 §18.3).
func contentLength(head []byte) (int, bool) {
	found, n := false, 0
	for _, l := range headerLines(head) {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		if !strings.EqualFold(name, "Content-Length") && !strings.EqualFold(name, "l") {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || v < 0 || v > maxContentLength || (found && v != n) {
			return 0, false
		}
		found, n = true, v
	}
	return n, found
}

// writeTimeout bounds every write: a peer that stops reading must not hold
// the goroutines (and transactions) writing to it.
const writeTimeout = 5 * time.Second

// Write serialises sipgo's writes with the front's own answers; a write
// that times out closes the connection.
func (c *screenedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := c.Conn.Write(p)
	if err != nil {
		_ = c.Conn.Close()
	}
	c.l.front.msgs.sent(p[:n])
	return n, err
}

func (c *screenedConn) write(p []byte) { _, _ = c.Write(p) }

func (c *screenedConn) replyAndClose(reply []byte) {
	if reply != nil {
		c.write(reply)
	}
	_ = c.Conn.Close()
}

// Close closes the socket and frees its place under the caps.
func (c *screenedConn) Close() error {
	err := c.Conn.Close()
	c.closeAs(c.established)
	return err
}

func (c *screenedConn) closeAs(established bool) {
	c.closeOnce.Do(func() {
		_ = c.Conn.Close()
		c.l.release(c, established)
	})
}
