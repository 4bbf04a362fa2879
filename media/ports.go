// Package media carries RTP for calls: a port pool, one RTP endpoint per call
// leg, and a relay between legs that transcodes and rewrites streams so each
// phone sees one continuous stream.
package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// PortPool hands out even UDP ports for RTP (RFC 3550 §11) from a range.
type PortPool struct {
	bind     netip.Addr
	min, max int

	mu    sync.Mutex
	next  int
	inUse map[int]bool
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
	return &PortPool{bind: bind, min: min, max: max, next: min, inUse: map[int]bool{}}, nil
}

// Size is the number of ports (and so legs) the pool can serve at once.
func (p *PortPool) Size() int { return (p.max-p.min)/2 + 1 }

// InUse is the number of ports handed out.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse)
}

// listen binds the next free even port. Ports another program holds are skipped.
func (p *PortPool) listen() (*net.UDPConn, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.Size() {
		port := p.next
		p.next += 2
		if p.next > p.max {
			p.next = p.min
		}
		if p.inUse[port] {
			continue
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.bind, uint16(port))))
		if err != nil {
			continue
		}
		_ = conn.SetReadBuffer(256 << 10)
		_ = conn.SetWriteBuffer(256 << 10)
		p.inUse[port] = true
		return conn, port, nil
	}
	return nil, 0, ErrNoPorts
}

func (p *PortPool) release(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}
