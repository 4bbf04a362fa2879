package sip

import (
	"log/slog"
	"net"
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// screenedPacketConn is the SIP UDP socket as sipgo sees it: datagrams that
// the front refuses never leave ReadFrom, and its stateless answers are sent
// from the same socket.
type screenedPacketConn struct {
	net.PacketConn
	front *front
	// answer, when set, is offered every screened request and reports
	// whether it answered or absorbed it in place of sipgo (see
	// registerinline.go and inviteinline.go).
	answer func(req *sip.Request, reply func(*sip.Response)) bool
}

func (c *screenedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		var ip netip.Addr
		if ua, ok := addr.(*net.UDPAddr); ok {
			ip = ua.AddrPort().Addr().Unmap()
		}
		v := c.front.inspect(p[:n], ip, "UDP")
		if v.pass {
			if v.req != nil && c.answer != nil {
				v.req.SetTransport("UDP")
				v.req.SetSource(addr.String())
				if c.answer(v.req, c.replyTo(addr)) {
					c.front.stateless.Add(1)
					continue
				}
			}
			return n, addr, nil
		}
		if v.reply != nil {
			_, _ = c.PacketConn.WriteTo(v.reply, addr)
		}
	}
}

// maxSIPMessage is the largest SIP message the PBX reads, over UDP or TCP.
const maxSIPMessage = 65535

func init() {
	// RFC 3261 §18.1.1 moves large requests to TCP, but a response must go
	// back over the transport of its request (a 200 to a REGISTER listing
	// several contacts easily passes 1300 bytes): let any SIP message that
	// fits in a UDP datagram be sent, and IP fragment it. sipgo refuses
	// messages above UDPMTUSize-200 bytes.
	sip.UDPMTUSize = 65507 + 200
	// sipgo reads every datagram and TCP chunk into a buffer of this size:
	// the largest message the front passes fits whole, so a message is
	// never truncated or split where a peer chooses.
	sip.TransportBufferReadSize = maxSIPMessage
	// sipgo's connection reference counting logs through a package logger
	// (debug chatter and a harmless "ref went negative" warning); the
	// transport and transaction layers log through ours.
	sip.SetDefaultLogger(slog.New(slog.DiscardHandler))
}
