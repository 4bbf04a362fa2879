package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/dialtone-pbx/dialtone/media/codec"
)

const offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 8 0 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:20\r\na=sendonly\r\n"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		sdp     string
		addr    string
		formats []codec.Codec
		dtmf    uint8
		dir     Direction
		err     error
	}{
		{"full", offer, "192.0.2.10:40000", []codec.Codec{codec.PCMA, codec.PCMU}, 96, SendOnly, nil},
		{"static without rtpmap", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 18\r\n",
			"10.0.0.1:4000", []codec.Codec{codec.PCMU}, 0, SendRecv, nil},
		{"media level connection and session direction", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\na=inactive\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4002 RTP/AVP 8\r\nc=IN IP4 10.0.0.2\r\n",
			"10.0.0.2:4002", []codec.Codec{codec.PCMA}, 0, Inactive, nil},
		{"no audio", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n", "", nil, 0, 0, ErrNoAudio},
		{"garbage", "hello", "", nil, 0, 0, errors.New("any")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.sdp))
			if tt.err != nil {
				if err == nil || (errors.Is(tt.err, ErrNoAudio) && !errors.Is(err, ErrNoAudio)) {
					t.Fatalf("want error %v, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Addr != netip.MustParseAddrPort(tt.addr) || m.DTMFPayloadType != tt.dtmf || m.Direction != tt.dir {
				t.Fatalf("parsed %+v", m)
			}
			if len(m.Formats) != len(tt.formats) {
				t.Fatalf("formats %+v", m.Formats)
			}
			for i, f := range m.Formats {
				if f.Codec != tt.formats[i] {
					t.Fatalf("formats %+v", m.Formats)
				}
			}
		})
	}
}

func TestChooseAndMarshalRoundTrip(t *testing.T) {
	m, err := Parse([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Choose([]codec.Codec{codec.PCMU, codec.PCMA})
	if err != nil || f.Codec != codec.PCMA {
		t.Fatalf("offerer's preference should win: %v %v", f, err)
	}
	if _, err := m.Choose(nil); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("want ErrNoCommonCodec, got %v", err)
	}
	if !m.OnHold() {
		t.Fatal("sendonly offer is hold")
	}
	ans := Local{Addr: netip.MustParseAddrPort("127.0.0.1:10000"), Codecs: []codec.Codec{f.Codec}, DTMF: 101, Direction: m.Direction.Reverse(), SessionID: 7, Version: 1}
	b := ans.Marshal()
	if !strings.Contains(string(b), "a=recvonly") {
		t.Fatalf("answer direction: %s", b)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Addr != ans.Addr || back.DTMFPayloadType != 101 || len(back.Formats) != 1 || back.Formats[0].Codec != codec.PCMA || back.Direction != RecvOnly {
		t.Fatalf("round trip: %+v", back)
	}
}

// TestAnswerKeepsEveryStream: an answer has one m-line per offered m-line,
// in the offer's order; the streams Dialtone does not use are refused with
// port 0 and the offered media type, protocol and formats (RFC 3264 §6).
func TestAnswerKeepsEveryStream(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
	const audio = "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	tests := []struct {
		name  string
		offer string
		want  []string // the answer's m-lines; "audio" is ours
	}{
		{"audio only", head + audio, []string{"audio"}},
		{"audio and video", head + audio + "m=video 40002 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\na=rtpmap:97 VP8/90000\r\n",
			[]string{"audio", "m=video 0 RTP/AVP 96 97"}},
		{"video first", head + "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" + audio,
			[]string{"m=video 0 RTP/AVP 96", "audio"}},
		{"a second audio stream", head + audio + "m=audio 40004 RTP/AVP 8\r\n",
			[]string{"audio", "m=audio 0 RTP/AVP 8"}},
		{"refused audio before the usable one", head + "m=audio 0 RTP/AVP 0\r\n" + audio,
			[]string{"m=audio 0 RTP/AVP 0", "audio"}},
		{"secure audio is not ours", head + "m=audio 40006 RTP/SAVP 0\r\n" + audio,
			[]string{"m=audio 0 RTP/SAVP 0", "audio"}},
		{"unknown media types", head + "m=application 9 UDP/BFCP *\r\n" + audio + "m=text 40010 RTP/AVP 98\r\n",
			[]string{"m=application 0 UDP/BFCP *", "audio", "m=text 0 RTP/AVP 98"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.offer))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Streams) != len(tt.want) {
				t.Fatalf("streams %+v", m.Streams)
			}
			ans := Local{Addr: netip.MustParseAddrPort("127.0.0.1:10000"), Codecs: []codec.Codec{codec.PCMU}, DTMF: 101,
				Direction: SendRecv, SessionID: 7, Version: 1, Streams: m.Streams, Index: m.Index}
			body := ans.Marshal()
			var mlines []string
			for _, line := range strings.Split(string(body), "\r\n") {
				if strings.HasPrefix(line, "m=") {
					mlines = append(mlines, line)
				}
			}
			if len(mlines) != len(tt.want) {
				t.Fatalf("answer m-lines %q, want %q", mlines, tt.want)
			}
			for i, w := range tt.want {
				if w == "audio" {
					w = "m=audio 10000 RTP/AVP 0 101"
				}
				if mlines[i] != w {
					t.Fatalf("answer m-lines %q, want %q", mlines, tt.want)
				}
			}
			// The answer itself parses to our audio stream at the same place.
			back, err := Parse(body)
			if err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, body)
			}
			if back.Addr != ans.Addr || back.Index != m.Index || len(back.Streams) != len(m.Streams) || back.Direction != SendRecv {
				t.Fatalf("answer parsed as %+v\n%s", back, body)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(offer))
	f.Add([]byte("v=0\r\nm=audio 0 RTP/AVP 0\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		_, _ = m.Choose([]codec.Codec{codec.PCMU, codec.PCMA})
		l := Local{Addr: m.Addr, Codecs: []codec.Codec{codec.PCMU}, DTMF: m.DTMFPayloadType, Direction: m.Direction.Reverse(),
			Streams: m.Streams, Index: m.Index}
		back, err := Parse(l.Marshal())
		if err != nil && m.Addr.Port() != 0 {
			t.Fatalf("our own answer does not parse: %v\n%s", err, l.Marshal())
		}
		if err == nil && (len(back.Streams) != len(m.Streams) || back.Index != m.Index) {
			t.Fatalf("our own answer has other streams: %+v\n%s", back.Streams, l.Marshal())
		}
	})
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr    string
		initial bool
		reason  string // "" for usable
	}{
		{"192.0.2.10:4000", true, ""},
		{"[2001:db8::1]:4000", true, ""},
		{"0.0.0.0:4000", true, ReasonUnspecified},
		{"[::]:4000", true, ReasonUnspecified},
		{"0.0.0.0:4000", false, ""}, // RFC 2543 hold in a re-offer
		{"224.0.0.1:4000", true, ReasonMulticast},
		{"239.1.2.3:4000", false, ReasonMulticast},
		{"[ff02::1]:4000", true, ReasonMulticast},
		{"255.255.255.255:4000", true, ReasonBroadcast},
		{"255.255.255.255:4000", false, ReasonBroadcast},
		{"240.0.0.1:4000", true, ReasonReserved},
		{"0.1.2.3:4000", true, ReasonReserved},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s initial=%v", tt.addr, tt.initial), func(t *testing.T) {
			ap := netip.MustParseAddrPort(tt.addr)
			family, host := "IP4", ap.Addr().String()
			if ap.Addr().Is6() {
				family = "IP6"
			}
			body := fmt.Sprintf("v=0\r\no=- 1 1 IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n",
				family, host, family, host, ap.Port())
			m, err := Parse([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			err = m.CheckAddr(tt.initial)
			var ae *AddrError
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.reason != "" && (!errors.As(err, &ae) || ae.Reason != tt.reason || !errors.Is(err, ErrMediaAddr)):
				t.Fatalf("got %v, want %s", err, tt.reason)
			}
		})
	}
}

func TestSends(t *testing.T) {
	tests := []struct {
		dir   Direction
		addr  string
		sends bool
	}{
		{SendRecv, "192.0.2.1:4000", true},
		{SendOnly, "192.0.2.1:4000", true},
		{RecvOnly, "192.0.2.1:4000", false},
		{Inactive, "192.0.2.1:4000", false},
		{SendRecv, "0.0.0.0:4000", false}, // RFC 2543 hold, read as inactive
	}
	for _, tt := range tests {
		t.Run(tt.dir.String()+" "+tt.addr, func(t *testing.T) {
			m := &Media{Direction: tt.dir, Addr: netip.MustParseAddrPort(tt.addr)}
			if m.Sends() != tt.sends {
				t.Fatalf("Sends() = %v", m.Sends())
			}
		})
	}
}
