package media

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A relay loop owns an epoll set of the sockets of the relays given to it.
// Its goroutine waits in Go's network poller on the epoll descriptor itself
// (an epoll set is readable while any of its sockets is), so an idle loop
// holds no thread; woken, it takes the ready sockets, reads one packet from
// each with a non-blocking recvfrom and relays it. Sockets stay registered
// level-triggered, so a socket with more queued is simply reported again.
// Every relay is on one loop, both directions; there is a loop per CPU.

// relayRun is a relay's place on its loop.
type relayRun struct {
	loop *relayLoop
	// busy is held by the loop while it handles a packet of this relay;
	// Stop takes it once the sockets are out of the set, so that after
	// Stop nothing of the relay runs.
	busy sync.Mutex
	keys [2]uint64 // the epoll keys of the a and b sides
}

// relayEnd is one direction of a relay, as the loop finds it by key.
type relayEnd struct {
	r        *Relay
	src, dst *Leg
	dir      int
}

type relayLoop struct {
	epfd int

	mu      sync.Mutex
	ends    map[uint64]relayEnd
	nextKey uint64

	// Owned by the loop goroutine.
	pace   pacer
	events [256]syscall.EpollEvent
	batch  []relayEnd
	buf    [1500]byte
	from   syscall.RawSockaddrInet6 // large enough for either family
}

var (
	loopsOnce sync.Once
	loops     []*relayLoop
	loopNext  atomic.Uint32
)

// nextLoop picks a loop for a new relay, in turn.
func nextLoop() *relayLoop {
	loopsOnce.Do(func() {
		n := runtime.GOMAXPROCS(0)
		for range n {
			l, err := newRelayLoop()
			if err != nil {
				panic("media: relay loop: " + err.Error())
			}
			loops = append(loops, l)
		}
	})
	return loops[int(loopNext.Add(1))%len(loops)]
}

func newRelayLoop() (*relayLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "rtp-relay-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	l := &relayLoop{epfd: epfd, ends: map[uint64]relayEnd{}, batch: make([]relayEnd, 0, 256)}
	go l.run(f, rc)
	return l, nil
}

func (r *Relay) start() {
	lp := nextLoop()
	r.run.loop = lp
	lp.mu.Lock()
	for i, e := range [2]relayEnd{{r: r, src: r.a, dst: r.b, dir: 0}, {r: r, src: r.b, dst: r.a, dir: 1}} {
		lp.nextKey++
		k := lp.nextKey
		r.run.keys[i] = k
		lp.ends[k] = e
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
		*(*uint64)(unsafe.Pointer(&ev.Fd)) = k
		if err := syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, e.src.fd, &ev); err != nil {
			e.src.log.Error("rtp relay: socket not added to the relay loop", "port", e.src.port, "error", err)
		}
	}
	lp.mu.Unlock()
}

// stop takes the relay's sockets out of its loop and waits for a packet of
// it being handled.
func (r *Relay) stop() {
	lp := r.run.loop
	lp.mu.Lock()
	for i, l := range [2]*Leg{r.a, r.b} {
		delete(lp.ends, r.run.keys[i])
		_ = syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_DEL, l.fd, nil)
	}
	lp.mu.Unlock()
}

// wait returns once the loop is not handling a packet of the relay: the
// empty critical section is the wait.
func (r *Relay) wait() {
	r.run.busy.Lock()
	r.run.busy.Unlock() //nolint:staticcheck // SA2001: the lock is the wait
}

// run waits for ready sockets and relays their packets; it runs for the
// life of the process.
func (l *relayLoop) run(f *os.File, rc syscall.RawConn) {
	defer f.Close()
	var failed error
	handle := func(uintptr) bool {
		n, err := epollPoll(l.epfd, l.events[:])
		switch {
		case err == syscall.EINTR:
			return true // try again at once
		case err != nil:
			failed = err
			return true
		case n == 0:
			if d := l.pace.idle(time.Now()); d > 0 {
				time.Sleep(d) // busy: let packets gather, then take them together
				return true
			}
			return false // nothing ready: wait in the poller
		}
		l.pace.served(n)
		l.serve(n)
		return true
	}
	for failed == nil {
		if err := rc.Read(handle); err != nil {
			failed = err
		}
	}
	slog.Error("rtp relay loop stopped", "error", failed)
}

// serve relays one packet from each of the n ready sockets.
func (l *relayLoop) serve(n int) {
	l.batch = l.batch[:0]
	l.mu.Lock()
	for i := range n {
		k := *(*uint64)(unsafe.Pointer(&l.events[i].Fd))
		if e, ok := l.ends[k]; ok {
			l.batch = append(l.batch, e)
		}
	}
	l.mu.Unlock()
	for i := range l.batch {
		e := &l.batch[i]
		r := e.r
		r.run.busy.Lock()
		if !r.stopped.Load() {
			if size, from, ok := l.recv(e.src.fd); ok {
				r.handle(e.src, e.dst, e.dir, l.buf[:size], from, time.Now())
			}
		}
		r.run.busy.Unlock()
		*e = relayEnd{}
	}
}

// epollPoll takes the ready events of epfd without waiting. The non-blocking
// system calls of the loop (this, recvfrom, sendto) are raw: they never
// block, so telling the scheduler about each would only cost time.
func epollPoll(epfd int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// recv reads one datagram from fd without blocking; false when there is
// none (another reader took it) or the socket failed.
func (l *relayLoop) recv(fd int) (int, netip.AddrPort, bool) {
	alen := uint32(unsafe.Sizeof(l.from))
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&l.buf[0])),
		uintptr(len(l.buf)), syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&l.from)), uintptr(unsafe.Pointer(&alen)))
	if errno != 0 {
		return 0, netip.AddrPort{}, false
	}
	return int(n), sockaddrPort(&l.from), true
}

// sockaddrPort reads the source address recvfrom wrote; an IPv4 source on
// a dual-stack socket comes out as IPv4, as SDP names it.
func sockaddrPort(sa *syscall.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := binary.BigEndian.Uint16(p[:])
	switch sa.Family {
	case syscall.AF_INET:
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case syscall.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// isIPv6Socket reports whether fd is an IPv6 socket.
func isIPv6Socket(fd int) bool {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return false
	}
	_, ok := sa.(*syscall.SockaddrInet6)
	return ok
}

// errSendBusy: the socket's send buffer is full; the packet is dropped, as
// media late is media lost, rather than holding up a relay loop.
var errSendBusy = errors.New("media: socket send buffer full")

// sendto sends one datagram on the leg's socket without blocking and
// without allocating.
func (l *Leg) sendto(pkt []byte, to netip.AddrPort) (int, error) {
	if len(pkt) == 0 || l.fd < 0 {
		return l.conn.WriteToUDPAddrPort(pkt, to)
	}
	var sa syscall.RawSockaddrInet6 // room for either family
	var salen uintptr
	port := to.Port()
	a := to.Addr()
	if l.v6 {
		sa.Family = syscall.AF_INET6
		sa.Addr = a.As16() // an IPv4 address comes out v4-mapped
		salen = syscall.SizeofSockaddrInet6
	} else {
		if !a.Unmap().Is4() {
			return 0, syscall.EAFNOSUPPORT
		}
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&sa))
		sa4.Family = syscall.AF_INET
		sa4.Addr = a.Unmap().As4()
		salen = syscall.SizeofSockaddrInet4
	}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	binary.BigEndian.PutUint16(p[:], port)
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(l.fd), uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)),
		syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, uintptr(unsafe.Pointer(&sa)), salen)
	switch errno {
	case 0:
		return int(n), nil
	case syscall.EAGAIN:
		return 0, errSendBusy
	}
	return 0, errno
}
