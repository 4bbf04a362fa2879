package sip

import (
	"fmt"
	"net"
	"time"

	"github.com/emiago/sipgo"
)

// ServeUDP serves SIP on conn and returns once the transport layer knows the
// socket, so clients pinned to its address send from it rather than trying
// to bind it a second time.
func ServeUDP(ua *sipgo.UserAgent, srv *sipgo.Server, conn net.PacketConn) {
	go func() { _ = srv.ServeUDP(conn) }()
	waitUDPReady(ua, conn)
}

// waitUDPReady waits (at most 2 s) until the transport layer knows conn.
func waitUDPReady(ua *sipgo.UserAgent, conn net.PacketConn) {
	addr := conn.LocalAddr().String()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Ready reports an error when a SIP listener is down.
func (s *Server) Ready() error {
	switch {
	case !s.serving.Load():
		return fmt.Errorf("sip front on %s is not serving yet", s.udp.LocalAddr())
	case s.udpDown.Load():
		return fmt.Errorf("sip udp listener on %s is down", s.udp.LocalAddr())
	case s.tcpFront.down.Load():
		return fmt.Errorf("sip tcp listener on %s is down", s.tcp.Addr())
	}
	return nil
}
