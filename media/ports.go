// Package media carries RTP for calls: a port pool, one RTP endpoint per call
// leg, and a relay between legs that transcodes and rewrites streams so each
// phone sees one continuous stream.
package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// PortPool hands out even UDP ports for RTP (RFC 3550 §11: RTP on an even
// port, RTCP on the next odd one) from a range, in random order, so the port
// of a call cannot be guessed from the port of the previous one.
type PortPool struct {
	bind     netip.Addr
	min, max int

	mu sync.Mutex
	// free holds the indexes (port = min + 2*index) of the ports not handed
	// out; pos[i] is where index i sits in free, or -1 while it is in use.
	free []int32
	pos  []int32
	// held mirrors "in use" as a bitset that the packet path reads without the lock.
	held []atomic.Uint64

	self atomic.Pointer[selfAddrs]
}

// selfAddrs are the PBX's own addresses: where the pool's sockets can be
// reached, and the signalling ports bound on them.
type selfAddrs struct {
	any   bool // bound to the unspecified address: every local address is ours
	addrs []netip.Addr
	ports []uint16 // signalling (SIP) ports
}

// ErrNoPorts means every port of the range is in use.
var ErrNoPorts = errors.New("media: no free RTP port")

// NewPortPool returns a pool of the even ports in [min, max] on the bind address.
func NewPortPool(bind netip.Addr, min, max int) (*PortPool, error) {
	if min%2 == 1 {
		min++
	}
	if min < 1024 || max > 65535 || min > max {
		return nil, fmt.Errorf("media: bad RTP port range %d-%d", min, max)
	}
	p := &PortPool{bind: bind.Unmap(), min: min, max: max}
	n := p.Size()
	p.free = make([]int32, n)
	p.pos = make([]int32, n)
	for i := range n {
		p.free[i], p.pos[i] = int32(i), int32(i)
	}
	p.held = make([]atomic.Uint64, (n+63)/64)
	s := &selfAddrs{any: !p.bind.IsValid() || p.bind.IsUnspecified()}
	if s.any {
		s.addrs = interfaceAddrs()
	} else {
		s.addrs = []netip.Addr{p.bind}
	}
	p.self.Store(s)
	return p, nil
}

// interfaceAddrs lists the host's addresses, for a pool bound to all of them.
func interfaceAddrs() []netip.Addr {
	list, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range list {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// AddSignalling declares an address the PBX is reached at for signalling
// (its advertised address and SIP port): media is never sent to it, nor
// accepted from it, and an address on that host inside the RTP range is the
// PBX's own.
func (p *PortPool) AddSignalling(addr netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.self.Load()
	s := &selfAddrs{any: old.any, addrs: append([]netip.Addr(nil), old.addrs...), ports: append([]uint16(nil), old.ports...)}
	ip := addr.Addr().Unmap()
	if ip.IsValid() && !ip.IsUnspecified() && !containsAddr(s.addrs, ip) {
		s.addrs = append(s.addrs, ip)
	}
	if addr.Port() != 0 && !containsPort(s.ports, addr.Port()) {
		s.ports = append(s.ports, addr.Port())
	}
	p.self.Store(s)
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func containsPort(list []uint16, port uint16) bool {
	for _, x := range list {
		if x == port {
			return true
		}
	}
	return false
}

// Size is the number of ports (and so legs) the pool can serve at once.
func (p *PortPool) Size() int { return (p.max-p.min)/2 + 1 }

// InUse is the number of ports handed out.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Size() - len(p.free)
}

// listen binds a free even port picked at random. Ports another program
// holds are skipped; the draw is a partial Fisher-Yates shuffle of the free
// ports, so a nearly full range costs one draw per free port at most.
func (p *PortPool) listen() (*net.UDPConn, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range len(p.free) {
		j := k + rand.IntN(len(p.free)-k)
		p.swap(k, j)
		idx := p.free[k]
		port := p.min + 2*int(idx)
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.bind, uint16(port))))
		if err != nil {
			continue
		}
		_ = conn.SetReadBuffer(256 << 10)
		_ = conn.SetWriteBuffer(256 << 10)
		p.take(k)
		return conn, port, nil
	}
	return nil, 0, ErrNoPorts
}

func (p *PortPool) swap(i, j int) {
	p.free[i], p.free[j] = p.free[j], p.free[i]
	p.pos[p.free[i]], p.pos[p.free[j]] = int32(i), int32(j)
}

// take removes free[k] from the free list and marks it held.
func (p *PortPool) take(k int) {
	last := len(p.free) - 1
	p.swap(k, last)
	idx := p.free[last]
	p.free = p.free[:last]
	p.pos[idx] = -1
	p.held[idx/64].Or(1 << (idx % 64))
}

func (p *PortPool) release(port int) {
	if port < p.min || port > p.max || (port-p.min)%2 != 0 {
		return
	}
	idx := int32((port - p.min) / 2)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pos[idx] >= 0 {
		return // not handed out
	}
	p.held[idx/64].And(^(1 << (idx % 64)))
	p.pos[idx] = int32(len(p.free))
	p.free = append(p.free, idx)
}

// holds reports whether the pool has the RTP port handed out. It takes no
// lock: the packet path calls it.
func (p *PortPool) holds(port uint16) bool {
	// Only the even RTP port is bound; the odd port beside it is not the
	// pool's, and another program on the host (a softphone) may hold it.
	q := int(port)
	if q&1 != 0 || q < p.min || q > p.max {
		return false
	}
	idx := (q - p.min) / 2
	return p.held[idx/64].Load()&(1<<(idx%64)) != 0
}

// isSelfAddr reports whether a packet sent to addr reaches this host's
// sockets of the pool.
func (p *PortPool) isSelfAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	s := p.self.Load()
	if s.any && (addr.IsLoopback() || addr.IsUnspecified()) {
		return true
	}
	return containsAddr(s.addrs, addr)
}

// loops reports whether ap is one of the PBX's own sockets: an RTP port the
// pool has handed out or a signalling port, on one of the PBX's addresses.
// Media sent there would come straight back (a loop); media from there is
// the PBX talking to itself.
func (p *PortPool) loops(ap netip.AddrPort) bool {
	return p.isSelfAddr(ap.Addr()) && p.selfPort(ap.Port())
}

// selfPort reports whether port, on one of the PBX's addresses, is one of
// its sockets: an RTP port handed out or a signalling port.
func (p *PortPool) selfPort(port uint16) bool {
	return p.holds(port) || containsPort(p.self.Load().ports, port)
}

// IsOwn reports whether a remote party's media address points at the PBX
// itself: one of its addresses with the SIP port, or with a port of the RTP
// range that no other program on the host holds (a port of the range is the
// pool's to hand out). Signalling that asks for media there is refused, so no
// leg can be made to send into another leg of the PBX.
func (p *PortPool) IsOwn(ap netip.AddrPort) bool {
	if !p.isSelfAddr(ap.Addr()) {
		return false
	}
	if p.selfPort(ap.Port()) {
		return true
	}
	port := int(ap.Port())
	if last := p.min + 2*(p.Size()-1); port < p.min || port > last+1 {
		return false // outside the range and its last RTCP port
	}
	return !heldByAnother(ap, p.bind)
}

// heldByAnother reports whether another socket on this host holds the UDP
// port at ap: a program beside the PBX (a softphone on the same host) that
// owns that port, not the pool.
func heldByAnother(ap netip.AddrPort, bind netip.Addr) bool {
	probe := ap.Addr()
	if bind.IsValid() && !bind.IsUnspecified() {
		probe = bind
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(probe, ap.Port())))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	_ = conn.Close()
	return false
}
