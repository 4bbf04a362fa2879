package sip

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// A screen checks each SIP message before the transaction layer sees it, so
// handlers only ever get requests that parse and carry every mandatory
// header (RFC 3261 §8.1.1, §8.2). Requests that fail get a stateless error
// response built from their raw header lines; responses that fail are
// dropped (RFC 3261 §18.1.2 lets a client discard a malformed response).
//
// The screen is pure: it neither sends nor logs. The transport wrappers in
// screenudp.go and screentcp.go act on its verdict.

// verdict is what to do with one message.
type verdict struct {
	pass  bool         // hand it to sipgo
	reply []byte       // stateless response to send to the source (requests only)
	why   string       // why it did not pass, for the log
	req   *sip.Request // a request that passed, as parsed by the screen
}

func passed() verdict { return verdict{pass: true} }

func dropped(why string) verdict { return verdict{why: why} }

// supportedSchemes are the Request-URI schemes the PBX serves; others get
// 416 (RFC 3261 §8.2.2.1).
var supportedSchemes = map[string]bool{"sip": true, "sips": true}

// supportedExtensions are the option tags the PBX implements; a Require or
// Proxy-Require naming another gets 420 (RFC 3261 §8.2.2.3).
var supportedExtensions = map[string]bool{"timer": true}

// singleHeaders may appear at most once in a message (RFC 3261 §7.3.1,
// §20: the header fields that are not comma-separated lists).
var singleHeaders = []string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

// screenMessage decides what happens to one whole message (a datagram, or one
// framed message of a stream). stream says the message came over TCP, where
// framing already guaranteed the body length.
func screenMessage(data []byte, stream bool) (v verdict) {
	line, _, _ := bytes.Cut(data, []byte("\r\n"))
	if bytes.HasPrefix(line, []byte("SIP/")) {
		return screenResponse(data)
	}
	if v, ok := checkRequestLine(data, string(line)); !ok {
		return v
	}
	msg, err := parseGuarded(data)
	if err != nil {
		if !stream && errors.Is(err, sip.ErrParseReadBodyIncomplete) {
			// RFC 3261 §18.3: a datagram whose Content-Length exceeds its body
			// is discarded.
			return dropped("content-length longer than the datagram")
		}
		return reject(data, 400, malformedReason(data, err))
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return dropped("start line does not match the message")
	}
	v = screenRequest(data, req)
	if v.pass {
		v.req = req
	}
	return v
}

// checkRequestLine checks the request line by hand, because its errors each
// have their own status code: 505 for another SIP version (RFC 3261 §8.2.2),
// 416 for a URI scheme we do not serve, 400 otherwise.
func checkRequestLine(data []byte, line string) (verdict, bool) {
	// Method SP Request-URI SP SIP-Version: exactly two spaces (RFC 3261 §7.1).
	method, rest, ok1 := strings.Cut(line, " ")
	uri, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || uri == "" || strings.Contains(version, " ") {
		if looksLikeRequestLine(line) {
			return reject(data, 400, "Malformed Request-Line"), false
		}
		return dropped("not a sip message"), false
	}
	if !isToken(method) {
		return reject(data, 400, "Malformed Method"), false
	}
	if !strings.EqualFold(version, "SIP/2.0") { // case-insensitive (RFC 3261 §7.1)
		if len(version) > 4 && strings.EqualFold(version[:4], "SIP/") {
			return reject(data, 505, "Version Not Supported"), false
		}
		return dropped("not a sip message"), false
	}
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || !isToken(scheme) {
		return reject(data, 400, "Malformed Request-URI"), false
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:] // '?' may appear in the user part
	}
	if supportedSchemes[strings.ToLower(scheme)] && strings.Contains(rest, "?") {
		// Header fields are not allowed in a Request-URI (RFC 3261 §19.1.1).
		return reject(data, 400, "Malformed Request-URI"), false
	}
	if !supportedSchemes[strings.ToLower(scheme)] {
		return reject(data, 416, "Unsupported URI Scheme"), false
	}
	return verdict{}, true
}

func looksLikeRequestLine(line string) bool {
	return strings.HasSuffix(strings.TrimRight(line, " \t"), "SIP/2.0")
}

// isToken reports whether s is an RFC 3261 §25.1 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// parseGuarded parses with sipgo, turning a parser panic into an error.
func parseGuarded(data []byte) (msg sip.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("parser panic: %v", r)
		}
	}()
	return sip.ParseMessage(data)
}

func screenRequest(data []byte, req *sip.Request) verdict {
	switch {
	case req.Via() == nil:
		return reject(data, 400, "Missing Via Header")
	case req.From() == nil:
		return reject(data, 400, "Missing From Header")
	case req.To() == nil:
		return reject(data, 400, "Missing To Header")
	case req.CallID() == nil || strings.TrimSpace(req.CallID().Value()) == "":
		return reject(data, 400, "Missing Call-ID Header")
	case req.CSeq() == nil:
		return reject(data, 400, "Missing CSeq Header")
	}
	if !addressUsable(req.From().Address) || !addressUsable(req.To().Address) {
		return reject(data, 400, "Malformed From or To Header")
	}
	if tag, ok := req.From().Params.Get("tag"); !ok || tag == "" {
		// RFC 3261 §8.1.1.3: a request MUST carry a From tag; transactions
		// and dialogs are matched with it.
		return reject(data, 400, "Missing From Tag")
	}
	if name := duplicateSingleHeader(req); name != "" {
		return reject(data, 400, "Duplicate "+name+" Header")
	}
	// sipgo upper-cases the request method; compare the CSeq method alike.
	if !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)) {
		return reject(data, 400, "CSeq Method Mismatch")
	}
	if req.Method == sip.ACK {
		return passed() // an ACK is never answered
	}
	mf := req.MaxForwards()
	if mf == nil {
		return reject(data, 400, "Missing Max-Forwards Header")
	}
	if unsupported := unsupportedRequires(req); unsupported != "" {
		return reject(data, 420, "Bad Extension", "Unsupported: "+unsupported)
	}
	if req.Method == sip.CANCEL {
		return passed()
	}
	if req.Method == sip.INVITE {
		if mf.Val() == 0 {
			return reject(data, 483, "Too Many Hops")
		}
		if c := req.Contact(); c == nil || c.Address.Wildcard || c.Address.Host == "" {
			return reject(data, 400, "Missing or Malformed Contact Header")
		}
		if len(req.Body()) > 0 {
			if ct := req.ContentType(); ct == nil || !isSDP(ct.Value()) {
				return reject(data, 415, "Unsupported Media Type", "Accept: application/sdp")
			}
		}
	}
	return passed()
}

// addressUsable reports whether a From or To URI names someone: a SIP URI
// with a host, or a tel URI (RFC 3966).
func addressUsable(u sip.Uri) bool {
	return u.Host != "" || (strings.EqualFold(u.Scheme, "tel") && u.User != "")
}

// duplicateSingleHeader names a header of singleHeaders that appears more
// than once, in one pass over the headers and without allocating.
func duplicateSingleHeader(req *sip.Request) string {
	var seen [8]bool
	for _, h := range req.Headers() {
		name := h.Name()
		for i, single := range singleHeaders {
			if strings.EqualFold(name, single) {
				if seen[i] {
					return single
				}
				seen[i] = true
				break
			}
		}
	}
	return ""
}

// isSDP reports whether a Content-Type value names SDP (parameters allowed,
// case-insensitive, RFC 3261 §7.3.1).
func isSDP(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/sdp")
}

// unsupportedRequires lists the option tags of Require and Proxy-Require
// that the PBX does not implement, comma-separated.
func unsupportedRequires(req *sip.Request) string {
	var out []string
	for _, name := range []string{"Require", "Proxy-Require"} {
		for _, h := range req.GetHeaders(name) {
			for _, tag := range strings.Split(h.Value(), ",") {
				tag = strings.TrimSpace(tag)
				if tag != "" && !supportedExtensions[strings.ToLower(tag)] {
					out = append(out, tag)
				}
			}
		}
	}
	return strings.Join(out, ", ")
}

func screenResponse(data []byte) verdict {
	msg, err := parseGuarded(data)
	if err != nil {
		return dropped("malformed response: " + err.Error())
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return dropped("malformed response status line")
	}
	switch {
	case res.SipVersion != "SIP/2.0":
		return dropped("response of another sip version")
	case res.StatusCode < 100 || res.StatusCode > 699:
		return dropped("response status out of range")
	case res.Via() == nil, res.From() == nil, res.To() == nil, res.CallID() == nil, res.CSeq() == nil:
		return dropped("response without a mandatory header")
	}
	return passed()
}

// malformedReason names the header that sipgo could not parse, by parsing
// the header lines one at a time (only on this error path).
func malformedReason(data []byte, err error) string {
	if errors.Is(err, sip.ErrMessageTooLarge) {
		return "Message Too Large"
	}
	parser := sip.HeadersParser(sip.DefaultHeadersParser())
	for _, l := range headerLines(data) {
		name, _, ok := strings.Cut(l, ":")
		if !ok {
			return "Malformed Header Line"
		}
		if _, err := parser.ParseHeader(nil, []byte(l)); err != nil {
			return "Malformed " + canonicalHeader(strings.TrimSpace(name)) + " Header"
		}
	}
	if errors.Is(err, sip.ErrParseReadBodyIncomplete) {
		return "Incomplete Body"
	}
	return "Malformed Message"
}

// headerLines returns the header lines of a message (not the start line),
// with folded continuation lines joined (RFC 3261 §7.3.1).
func headerLines(data []byte) []string {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	var out []string
	for _, l := range lines[1:] {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(out) > 0 {
			out[len(out)-1] += " " + strings.TrimSpace(l)
			continue
		}
		out = append(out, l)
	}
	return out
}

// compactHeaders maps RFC 3261 §7.3.3 compact forms to full names.
var compactHeaders = map[string]string{"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "l": "Content-Length",
	"m": "Contact", "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding"}

func canonicalHeader(name string) string {
	if full, ok := compactHeaders[strings.ToLower(name)]; ok {
		return full
	}
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length",
		"Content-Type", "Expires", "Route", "Record-Route"} {
		if strings.EqualFold(name, h) {
			return h
		}
	}
	return name
}

// reject builds a stateless response to a request from its raw header lines,
// so it works for requests sipgo cannot parse. It copies Via, From, To,
// Call-ID and CSeq (RFC 3261 §8.2.6.2) and adds a To tag when there is none.
func reject(data []byte, code int, reason string, extra ...string) verdict {
	if bytes.HasPrefix(data, []byte("ACK ")) {
		// An ACK is never answered (RFC 3261 §17.1.1.3): drop it.
		return dropped(strconv.Itoa(code) + " " + reason + " (ACK, not answered)")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	seen := map[string]bool{}
	for _, l := range headerLines(data) {
		name, value, ok := strings.Cut(l, ":")
		if !ok || strings.ContainsAny(l, "\x00") {
			continue
		}
		full := canonicalHeader(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		switch full {
		case "Via":
			b.WriteString("Via: " + value + "\r\n")
		case "From", "Call-ID", "CSeq":
			if !seen[full] {
				b.WriteString(full + ": " + value + "\r\n")
			}
		case "To":
			if !seen[full] {
				if !hasTag(value) {
					value += ";tag=" + randomTag()
				}
				b.WriteString("To: " + value + "\r\n")
			}
		default:
			continue
		}
		seen[full] = true
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if code == 405 || code == 501 {
		b.WriteString("Allow: " + allowHeader + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return verdict{reply: []byte(b.String()), why: strconv.Itoa(code) + " " + reason}
}

// hasTag reports whether a To or From value carries a tag parameter: a
// header parameter, after the name-addr's '>' or, without one, after the
// URI (RFC 3261 §20.10), so a URI parameter named tag does not count.
func hasTag(value string) bool {
	params := ""
	if i := strings.LastIndexByte(value, '>'); i >= 0 {
		params = value[i+1:]
	} else if i := strings.IndexByte(value, ';'); i >= 0 {
		params = value[i:]
	}
	for _, p := range strings.Split(params, ";") {
		name, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "tag") {
			return true
		}
	}
	return false
}

func randomTag() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
