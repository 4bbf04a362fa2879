package sip

import (
	"net"
	"time"

	"github.com/emiago/sipgo"
)

// ServeUDP serves SIP on conn and returns once the transport layer knows the
// socket, so clients pinned to its address send from it rather than trying
// to bind it a second time.
func ServeUDP(ua *sipgo.UserAgent, srv *sipgo.Server, conn net.PacketConn) {
	go func() { _ = srv.ServeUDP(conn) }()
	addr := conn.LocalAddr().String()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
