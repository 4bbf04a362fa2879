package auth

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// credentials are the fields of a Digest Authorization or
// Proxy-Authorization header (RFC 7616 §3.4, RFC 3261 §22.4) that Check reads.
type credentials struct {
	username, realm, nonce, uri, response, algorithm, cnonce, qop string
	nc                                                            int
}

// parseCredentials reads a Digest credentials header value with the grammar
// of digest.ParseCredentials (so both accept and refuse the same headers and
// read the same values), without allocating: values are slices of s, except
// quoted values holding escapes or bytes that are not UTF-8.
func parseCredentials(s string) (credentials, bool) {
	c, ok := parseParams(s)
	if !ok {
		return credentials{}, false
	}
	return c, true
}

func parseParams(s string) (credentials, bool) {
	var c credentials
	const prefix = "Digest "
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return c, false
	}
	s = s[len(prefix):]
	i := 0
	for first := true; ; first = false {
		i = skipSpaces(s, i)
		if i == len(s) {
			return c, true
		}
		if !first {
			if s[i] != ',' {
				return c, false
			}
			i = skipSpaces(s, i+1)
		}
		k := i
		i = skipIdent(s, i)
		key := s[k:i]
		i = skipSpaces(s, i)
		if i == len(s) || s[i] != '=' {
			return c, false
		}
		i = skipSpaces(s, i+1)
		var value string
		if i < len(s) && s[i] == '"' {
			var ok bool
			if value, i, ok = quoted(s, i+1); !ok {
				return c, false
			}
		} else {
			v := i
			i = skipIdent(s, i)
			value = s[v:i]
		}
		switch key {
		case "username":
			c.username = value
		case "realm":
			c.realm = value
		case "nonce":
			c.nonce = value
		case "uri":
			c.uri = value
		case "response":
			c.response = value
		case "algorithm":
			c.algorithm = value
		case "cnonce":
			c.cnonce = value
		case "qop":
			c.qop = value
		case "nc":
			n, err := strconv.ParseInt(value, 16, 32)
			if err != nil {
				return c, false
			}
			c.nc = int(n)
		}
	}
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

func skipIdent(s string, i int) int {
	for i < len(s) {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-') {
			break
		}
		i++
	}
	return i
}

// quoted reads a quoted string whose opening quote precedes s[i] and
// returns its value and the index after the closing quote. A backslash
// takes the next character literally; bytes that are not UTF-8 read as
// U+FFFD, as a rune reader reads them.
func quoted(s string, i int) (string, int, bool) {
	for j := i; j < len(s); j++ {
		switch b := s[j]; {
		case b == '"':
			return s[i:j], j + 1, true
		case b == '\\' || b >= utf8.RuneSelf:
			return quotedSlow(s, i)
		}
	}
	return "", 0, false
}

func quotedSlow(s string, i int) (string, int, bool) {
	var b strings.Builder
	escaped := false
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case escaped:
			b.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			return b.String(), i, true
		default:
			b.WriteRune(r)
		}
	}
	return "", 0, false
}
