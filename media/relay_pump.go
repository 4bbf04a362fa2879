//go:build !linux

package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// relayRun is a relay's two pump goroutines, one per direction.
type relayRun struct {
	wg sync.WaitGroup
}

func (r *Relay) start() {
	r.run.wg.Add(2)
	go r.pump(r.a, r.b, 0)
	go r.pump(r.b, r.a, 1)
}

// stop wakes the pumps out of their reads.
func (r *Relay) stop() {
	now := time.Now()
	_ = r.a.conn.SetReadDeadline(now)
	_ = r.b.conn.SetReadDeadline(now)
}

func (r *Relay) wait() { r.run.wg.Wait() }

// pump reads from src and forwards to dst until the relay stops or src
// closes.
func (r *Relay) pump(src, dst *Leg, dir int) {
	defer r.run.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := src.read(buf)
		if err != nil {
			if r.stopped.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // socket closed
		}
		r.handle(src, dst, dir, buf[:n], from, time.Now())
	}
}

func isIPv6Socket(int) bool { return false }

// sendto sends one datagram on the leg's socket.
func (l *Leg) sendto(pkt []byte, to netip.AddrPort) (int, error) {
	return l.conn.WriteToUDPAddrPort(pkt, to)
}
