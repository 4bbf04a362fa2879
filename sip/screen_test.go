package sip

import (
	"strconv"
	"strings"
	"testing"
)

// request builds a request from header lines; lines naming a header in
// drop are left out, and replace swaps whole lines.
func request(startLine string, drop []string, replace map[string]string, body string) []byte {
	headers := []string{
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-screen1;rport",
		"Max-Forwards: 70",
		"From: <sip:1001@pbx.test>;tag=abc",
		"To: <sip:1002@pbx.test>",
		"Call-ID: screen-1@192.0.2.1",
		"CSeq: 1 INVITE",
		"Contact: <sip:1001@192.0.2.1:5060>",
	}
	var b strings.Builder
	b.WriteString(startLine + "\r\n")
	for _, h := range headers {
		name, _, _ := strings.Cut(h, ":")
		skip := false
		for _, d := range drop {
			skip = skip || d == name
		}
		if r, ok := replace[name]; ok {
			h = r
		}
		if !skip && h != "" {
			b.WriteString(h + "\r\n")
		}
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	return []byte(b.String())
}

func TestScreenRequests(t *testing.T) {
	const invite = "INVITE sip:1002@pbx.test SIP/2.0"
	sdp := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	tests := []struct {
		name    string
		msg     []byte
		stream  bool
		pass    bool
		status  string // start of the stateless answer, "" for none
		contain string // a header the answer must carry
	}{
		{name: "well formed", msg: request(invite, nil, nil, ""), pass: true},
		{name: "well formed with sdp", msg: request(invite, nil, nil, sdp), pass: true},
		{name: "no Call-ID", msg: request(invite, []string{"Call-ID"}, nil, ""), status: "SIP/2.0 400 Missing Call-ID Header"},
		{name: "empty Call-ID", msg: request(invite, nil, map[string]string{"Call-ID": "Call-ID: "}, ""), status: "SIP/2.0 400"},
		{name: "no CSeq", msg: request(invite, []string{"CSeq"}, nil, ""), status: "SIP/2.0 400 Missing CSeq Header"},
		{name: "no From", msg: request(invite, []string{"From"}, nil, ""), status: "SIP/2.0 400 Missing From Header"},
		{name: "no To", msg: request(invite, []string{"To"}, nil, ""), status: "SIP/2.0 400 Missing To Header"},
		{name: "no Via", msg: request(invite, []string{"Via"}, nil, ""), status: "SIP/2.0 400 Missing Via Header"},
		{name: "no Max-Forwards", msg: request(invite, []string{"Max-Forwards"}, nil, ""), status: "SIP/2.0 400 Missing Max-Forwards Header"},
		{name: "no From tag", msg: request(invite, nil, map[string]string{"From": "From: <sip:1001@pbx.test>"}, ""), status: "SIP/2.0 400 Missing From Tag"},
		{name: "no Contact on INVITE", msg: request(invite, []string{"Contact"}, nil, ""), status: "SIP/2.0 400 Missing or Malformed Contact Header"},
		{name: "unparsable Via", msg: request(invite, nil, map[string]string{"Via": "Via: garbage"}, ""), status: "SIP/2.0 400 Malformed Via Header"},
		{name: "unparsable CSeq", msg: request(invite, nil, map[string]string{"CSeq": "CSeq: x INVITE"}, ""), status: "SIP/2.0 400 Malformed CSeq Header"},
		{name: "CSeq method mismatch", msg: request(invite, nil, map[string]string{"CSeq": "CSeq: 1 REGISTER"}, ""), status: "SIP/2.0 400 CSeq Method Mismatch"},
		{name: "duplicate Call-ID", msg: request(invite, nil, map[string]string{"Contact": "Call-ID: other"}, ""), status: "SIP/2.0 400 Duplicate Call-ID Header"},
		{name: "SIP/3.0", msg: request("INVITE sip:1002@pbx.test SIP/3.0", nil, nil, ""), status: "SIP/2.0 505"},
		{name: "tel scheme", msg: request("INVITE tel:+14155550100 SIP/2.0", nil, nil, ""), status: "SIP/2.0 416"},
		{name: "unknown scheme", msg: request("INVITE foo:bar SIP/2.0", nil, nil, ""), status: "SIP/2.0 416"},
		{name: "headers in the Request-URI", msg: request("INVITE sip:1002@pbx.test?Route=x SIP/2.0", nil, nil, ""), status: "SIP/2.0 400 Malformed Request-URI"},
		{name: "extra spaces in the request line", msg: request("INVITE  sip:1002@pbx.test SIP/2.0", nil, nil, ""), status: "SIP/2.0 400 Malformed Request-Line"},
		{name: "Require unknown", msg: request(invite, nil, map[string]string{"Contact": "Contact: <sip:1001@192.0.2.1>\r\nRequire: foo, bar"}, ""), status: "SIP/2.0 420", contain: "Unsupported: foo, bar"},
		{name: "non-SDP body", msg: []byte(strings.Replace(string(request(invite, nil, nil, sdp)), "application/sdp", "text/plain", 1)), status: "SIP/2.0 415", contain: "Accept: application/sdp"},
		{name: "Max-Forwards 0 on INVITE", msg: request(invite, nil, map[string]string{"Max-Forwards": "Max-Forwards: 0"}, ""), status: "SIP/2.0 483"},
		{name: "Max-Forwards 0 on OPTIONS", msg: request("OPTIONS sip:pbx.test SIP/2.0", nil, map[string]string{"CSeq": "CSeq: 1 OPTIONS"}, ""), pass: true},
		{name: "ACK needs no Max-Forwards", msg: request("ACK sip:1002@pbx.test SIP/2.0", []string{"Max-Forwards"}, map[string]string{"CSeq": "CSeq: 1 ACK"}, ""), pass: true},
		{name: "ACK without Call-ID is dropped unanswered", msg: request("ACK sip:1002@pbx.test SIP/2.0", []string{"Call-ID"}, map[string]string{"CSeq": "CSeq: 1 ACK"}, ""), status: ""},
		{name: "ACK of another version is dropped unanswered", msg: request("ACK sip:1002@pbx.test SIP/3.0", nil, map[string]string{"CSeq": "CSeq: 1 ACK"}, ""), status: ""},
		{name: "ACK with a bad Via is dropped unanswered", msg: request("ACK sip:1002@pbx.test SIP/2.0", nil, map[string]string{"CSeq": "CSeq: 1 ACK", "Via": "Via: x"}, ""), status: ""},
		{name: "version is case-insensitive", msg: request("INVITE sip:1002@pbx.test sip/2.0", nil, nil, ""), pass: true},
		{name: "Content-Length past the datagram", msg: []byte(strings.Replace(string(request(invite, nil, nil, sdp)), "Content-Length: ", "Content-Length: 9", 1)), status: ""},
		{name: "negative Content-Length", msg: []byte(strings.Replace(string(request(invite, nil, nil, "")), "Content-Length: 0", "Content-Length: -5", 1)), status: "SIP/2.0 400 Malformed Content-Length Header"},
		{name: "not SIP at all", msg: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), status: ""},
		{name: "binary", msg: []byte{0x80, 0x00, 0x12, 0x34, 0xff}, status: ""},
		{name: "response without Call-ID", msg: []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"), status: ""},
		{name: "response status out of range", msg: []byte("SIP/2.0 999 X\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"), status: ""},
		{name: "good response", msg: []byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"), pass: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := screenMessage(tt.msg, tt.stream)
			if v.pass != tt.pass {
				t.Fatalf("pass = %v (%s), want %v", v.pass, v.why, tt.pass)
			}
			if tt.pass {
				return
			}
			if tt.status == "" {
				if v.reply != nil {
					t.Fatalf("answered %q, want silence", v.reply)
				}
				return
			}
			if !strings.HasPrefix(string(v.reply), tt.status) {
				t.Fatalf("answer %q, want %q", firstLine(v.reply), tt.status)
			}
			if tt.contain != "" && !strings.Contains(string(v.reply), tt.contain+"\r\n") {
				t.Fatalf("answer lacks %q:\n%s", tt.contain, v.reply)
			}
			// Every stateless answer copies what the client matches it by
			// and gives the To a tag (RFC 3261 §8.2.6.2).
			for _, h := range []string{"From:", "CSeq:"} {
				if strings.Contains(string(tt.msg), "\r\n"+h) && !strings.Contains(string(v.reply), "\r\n"+h) {
					t.Errorf("answer lacks %s", h)
				}
			}
			if strings.Contains(string(v.reply), "\r\nTo:") && !strings.Contains(string(v.reply), "tag=") {
				t.Errorf("answer To has no tag")
			}
		})
	}
}

func firstLine(b []byte) string {
	l, _, _ := strings.Cut(string(b), "\r\n")
	return l
}

func TestContentLengthFraming(t *testing.T) {
	tests := []struct {
		head   string
		length int
		ok     bool
	}{
		{"INVITE x SIP/2.0\r\nContent-Length: 12\r\n\r\n", 12, true},
		{"INVITE x SIP/2.0\r\nl: 3\r\n\r\n", 3, true},
		{"INVITE x SIP/2.0\r\ncontent-length:   0  \r\n\r\n", 0, true},
		{"INVITE x SIP/2.0\r\nCall-ID: a\r\n\r\n", 0, false},
		{"INVITE x SIP/2.0\r\nContent-Length: -1\r\n\r\n", 0, false},
		{"INVITE x SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0, false},
		{"INVITE x SIP/2.0\r\nContent-Length: abc\r\n\r\n", 0, false},
		{"INVITE x SIP/2.0\r\nContent-Length: 9223372036854775807\r\n\r\n", 0, false},
		{"INVITE x SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, false},
	}
	for _, tt := range tests {
		n, ok := contentLength([]byte(tt.head))
		if n != tt.length || ok != tt.ok {
			t.Errorf("contentLength(%q) = %d, %v; want %d, %v", tt.head, n, ok, tt.length, tt.ok)
		}
	}
}

func TestHasTag(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"<sip:a@b>;tag=1", true},
		{"<sip:a@b>;x=1; TAG = 2", true},
		{"<sip:a@b;tag=1>", false},
		{"\"tag=me\" <sip:a@b>", false},
		{"sip:a@b;tag=1", true},
		{"sip:a@b", false},
	}
	for _, tt := range tests {
		if got := hasTag(tt.value); got != tt.want {
			t.Errorf("hasTag(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

func BenchmarkScreenInvite(b *testing.B) {
	sdp := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\n"
	msg := request("INVITE sip:1002@pbx.test SIP/2.0", nil, nil, sdp)
	b.ReportAllocs()
	for b.Loop() {
		if v := screenMessage(msg, false); !v.pass {
			b.Fatal(v.why)
		}
	}
}
