// Package sdp handles SDP offer/answer (RFC 3264) for G.711 audio with
// RFC 4733 telephone-event, on top of pion/sdp.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

// Direction is an SDP media direction attribute (RFC 3264 §5.1).
type Direction int

// Directions. SendRecv is the default when none is given.
const (
	DirUnknown Direction = iota
	SendRecv
	SendOnly
	RecvOnly
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "unknown"
}

// Reverse is the direction an answerer uses for an offer in direction d
// (RFC 3264 §6.1): sendonly is answered recvonly and the other way round.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// Format is one audio payload format of a media description.
type Format struct {
	PayloadType uint8
	Codec       codec.Codec
}

// Media is what Dialtone needs from a remote session description.
type Media struct {
	// Addr is where the remote party wants RTP; its address is unspecified
	// (0.0.0.0) when the party signals hold the RFC 2543 way.
	Addr    netip.AddrPort
	Formats []Format // G.711 formats in the remote party's order of preference
	// DTMFPayloadType is the payload type of telephone-event/8000, 0 when absent.
	DTMFPayloadType uint8
	Direction       Direction
	Ptime           int
	// Streams are every m-line of the description, in order, and Index the
	// one described above: an answer keeps them all (RFC 3264 §6).
	Streams []Stream
	Index   int
}

// Stream is one m-line of a session description: its media type,
// transport protocol and formats, as the other party wrote them.
type Stream struct {
	Media   string // "audio", "video", "application", ...
	Proto   string // "RTP/AVP", "RTP/SAVP", ...
	Formats []string
}

// Errors of Parse.
var (
	ErrNoAudio       = errors.New("sdp: no audio stream")
	ErrNoCommonCodec = errors.New("sdp: no common codec")
)

// Parse reads the first active audio stream of a session description.
func Parse(b []byte) (*Media, error) {
	var sd psdp.SessionDescription
	if err := sd.UnmarshalString(string(b)); err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	streams := make([]Stream, 0, len(sd.MediaDescriptions))
	for _, md := range sd.MediaDescriptions {
		streams = append(streams, Stream{Media: md.MediaName.Media, Proto: strings.Join(md.MediaName.Protos, "/"),
			Formats: md.MediaName.Formats})
	}
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if !strings.HasPrefix(strings.ToUpper(strings.Join(md.MediaName.Protos, "/")), "RTP/AVP") {
			continue
		}
		m := &Media{Direction: SendRecv, Streams: streams, Index: i}
		conn := md.ConnectionInformation
		if conn == nil {
			conn = sd.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return nil, errors.New("sdp: audio stream without a connection address")
		}
		host := conn.Address.Address
		if i := strings.IndexByte(host, '/'); i >= 0 {
			host = host[:i]
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("sdp: connection address %q is not an IP address", host)
		}
		port := md.MediaName.Port.Value
		if port < 0 || port > 65535 {
			return nil, fmt.Errorf("sdp: bad port %d", port)
		}
		m.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
		if err := m.readFormats(md); err != nil {
			return nil, err
		}
		m.Direction = direction(sd.Attributes, SendRecv)
		m.Direction = direction(md.Attributes, m.Direction)
		if v, ok := md.Attribute("ptime"); ok {
			m.Ptime, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		return m, nil
	}
	return nil, ErrNoAudio
}

func (m *Media) readFormats(md *psdp.MediaDescription) error {
	rtpmap := map[uint8]string{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		n, err := strconv.ParseUint(pt, 10, 8)
		if ok && err == nil {
			rtpmap[uint8(n)] = strings.ToLower(strings.TrimSpace(enc))
		}
	}
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil || n > 127 {
			continue
		}
		pt := uint8(n)
		enc, mapped := rtpmap[pt]
		switch {
		case mapped && enc == "telephone-event/8000":
			if m.DTMFPayloadType == 0 {
				m.DTMFPayloadType = pt
			}
		case mapped && (enc == "pcmu/8000" || enc == "pcmu/8000/1"):
			m.Formats = append(m.Formats, Format{pt, codec.PCMU})
		case mapped && (enc == "pcma/8000" || enc == "pcma/8000/1"):
			m.Formats = append(m.Formats, Format{pt, codec.PCMA})
		case !mapped && (pt == codec.PayloadPCMU || pt == codec.PayloadPCMA):
			m.Formats = append(m.Formats, Format{pt, codec.FromPayloadType(pt)})
		}
	}
	return nil
}

func direction(attrs []psdp.Attribute, def Direction) Direction {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv":
			return SendRecv
		case "sendonly":
			return SendOnly
		case "recvonly":
			return RecvOnly
		case "inactive":
			return Inactive
		}
	}
	return def
}

// ErrMediaAddr is what every AddrError matches with errors.Is.
var ErrMediaAddr = errors.New("sdp: media address not acceptable")

// AddrError is a connection address media cannot be sent to.
type AddrError struct {
	Addr   netip.AddrPort
	Reason string // what the address is, for a Warning header: "multicast", ...
}

func (e *AddrError) Error() string {
	return fmt.Sprintf("sdp: media address %s not acceptable: %s", e.Addr, e.Reason)
}

func (e *AddrError) Unwrap() error { return ErrMediaAddr }

// Reasons of AddrError.
const (
	ReasonUnspecified = "unspecified address"
	ReasonMulticast   = "multicast address"
	ReasonBroadcast   = "broadcast address"
	ReasonReserved    = "reserved address"
)

var (
	limitedBroadcast = netip.MustParseAddr("255.255.255.255")
	reservedV4       = netip.MustParsePrefix("240.0.0.0/4") // RFC 1112 §4 class E
	thisNetwork      = netip.MustParsePrefix("0.0.0.0/8")   // RFC 1122 §3.2.1.3
)

// CheckAddr reports why the remote party's media address cannot be used for
// a unicast call, or nil when it can. Multicast (RFC 3264 §5.1 allows it, a
// two-party PBX call does not), broadcast and reserved addresses are always
// refused. An unspecified address (0.0.0.0, ::) is refused in an initial
// offer or answer; in a re-offer it is the RFC 2543 way of putting a call on
// hold, which RFC 3264 §8.4 asks to keep understanding.
func (m *Media) CheckAddr(initial bool) error {
	ip := m.Addr.Addr().Unmap()
	reason := ""
	switch {
	case !ip.IsValid():
		reason = ReasonUnspecified
	case ip.IsUnspecified():
		if initial {
			reason = ReasonUnspecified
		}
	case ip.IsMulticast():
		reason = ReasonMulticast
	case ip == limitedBroadcast:
		reason = ReasonBroadcast
	case reservedV4.Contains(ip), thisNetwork.Contains(ip):
		reason = ReasonReserved
	}
	if reason == "" {
		return nil
	}
	return &AddrError{Addr: m.Addr, Reason: reason}
}

// Sends reports whether the remote party is expected to send media: it did
// not negotiate recvonly or inactive (RFC 3264 §6.1), nor hold with an
// unspecified address, which this package reads as inactive.
func (m *Media) Sends() bool {
	return (m.Direction == SendRecv || m.Direction == SendOnly) && !m.Addr.Addr().IsUnspecified()
}

// OnHold reports whether the remote party asks not to receive media.
func (m *Media) OnHold() bool {
	return m.Direction == SendOnly || m.Direction == Inactive || m.Addr.Addr().IsUnspecified()
}

// Choose picks the first of the remote formats that is in allowed, in the
// remote party's order (the offerer's preference wins, RFC 3264 §6.1).
func (m *Media) Choose(allowed []codec.Codec) (Format, error) {
	for _, f := range m.Formats {
		for _, c := range allowed {
			if f.Codec == c {
				return f, nil
			}
		}
	}
	return Format{}, ErrNoCommonCodec
}

// Local describes our side of a session.
type Local struct {
	Addr      netip.AddrPort
	Codecs    []codec.Codec // in order of preference
	DTMF      uint8         // telephone-event payload type, 0 for none
	Direction Direction
	SessionID uint64
	Version   uint64
	// Streams, when set, are the m-lines of the offer this answers (and
	// of every later offer of the session), Index the audio stream
	// Dialtone uses. Each other stream is refused in its place with port
	// 0, the same media type, protocol and formats (RFC 3264 §6), so the
	// answer has as many m-lines as the offer, in the same order, and a
	// later offer never has fewer (RFC 3264 §8).
	Streams []Stream
	Index   int
}

// DefaultDTMFPayloadType is the telephone-event payload type Dialtone offers.
const DefaultDTMFPayloadType = 101

// Marshal renders the local description as an offer or an answer.
func (l Local) Marshal() []byte {
	ip := l.Addr.Addr()
	family := "IP4"
	if ip.Is6() && !ip.Is4In6() {
		family = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=dialtone %d %d IN %s %s\r\ns=dialtone\r\nc=IN %s %s\r\nt=0 0\r\n",
		l.SessionID, l.Version, family, ip.Unmap(), family, ip.Unmap())
	if len(l.Streams) == 0 || l.Index < 0 || l.Index >= len(l.Streams) {
		l.audio(&b)
		return []byte(b.String())
	}
	for i, st := range l.Streams {
		if i == l.Index {
			l.audio(&b)
			continue
		}
		formats := strings.Join(st.Formats, " ")
		if formats == "" {
			formats = "0" // SDP needs at least one format, even refused (RFC 4566 §5.14)
		}
		fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", st.Media, st.Proto, formats)
	}
	return []byte(b.String())
}

// audio writes the audio m-line Dialtone uses and its attributes.
func (l Local) audio(b *strings.Builder) {
	b.WriteString("m=audio ")
	b.WriteString(strconv.Itoa(int(l.Addr.Port())))
	b.WriteString(" RTP/AVP")
	for _, c := range l.Codecs {
		b.WriteString(" " + strconv.Itoa(int(c.PayloadType())))
	}
	if l.DTMF != 0 {
		b.WriteString(" " + strconv.Itoa(int(l.DTMF)))
	}
	b.WriteString("\r\n")
	for _, c := range l.Codecs {
		fmt.Fprintf(b, "a=rtpmap:%d %s/8000\r\n", c.PayloadType(), c)
	}
	if l.DTMF != 0 {
		fmt.Fprintf(b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", l.DTMF, l.DTMF)
	}
	b.WriteString("a=ptime:20\r\n")
	dir := l.Direction
	if dir == DirUnknown {
		dir = SendRecv
	}
	b.WriteString("a=" + dir.String() + "\r\n")
}
