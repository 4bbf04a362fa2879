//go:build unix

package media

import (
	"syscall"
	"time"
)

// discardQueued reads and drops the datagrams queued on the leg's socket
// with non-blocking reads until none is left; false when the socket cannot
// be read that way. A one-byte buffer takes a whole datagram: the rest of
// it is dropped by the kernel.
func (l *Leg) discardQueued() (int, bool) {
	rc, err := l.conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	// A reader before (Listen, a stopped relay) may have left a deadline in
	// the past, which would fail the read before it starts.
	if err := l.conn.SetReadDeadline(time.Time{}); err != nil {
		return 0, false
	}
	n := 0
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n = drainQueued(func() bool {
			for {
				_, err := syscall.Read(int(fd), b[:])
				if err != syscall.EINTR {
					return err == nil // EAGAIN: empty (or the socket failed)
				}
			}
		}, time.Now)
		return true
	})
	return n, err == nil
}
