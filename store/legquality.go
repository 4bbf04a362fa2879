package store

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dialtone-pbx/dialtone/core/call"
)

// A call record holds each leg's media quality as the JSON of
// call.LegQuality, and a page of records decodes two per row. decodeQuality
// reads the shape json.Marshal writes ({"codec":"PCMA","packets_in":1,...}:
// no spaces, no escapes, plain numbers) directly, several times faster than
// encoding/json; anything else goes to encoding/json, so the result is
// always the one json.Unmarshal gives (legquality_test.go holds it to that).

// decodeQuality sets q from the stored JSON s.
func decodeQuality(s string, q *call.LegQuality) {
	if !parseQuality(s, q) {
		*q = call.LegQuality{}
		_ = json.Unmarshal([]byte(s), q)
	}
}

// parseQuality parses s into q when s has the plain shape; it leaves q
// alone and returns false otherwise.
func parseQuality(s string, q *call.LegQuality) bool {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return false
	}
	var out call.LegQuality
	s = s[1 : len(s)-1]
	for len(s) > 0 {
		if s[0] != '"' {
			return false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return false
		}
		key := s[1 : 1+end]
		s = s[2+end:]
		if len(s) == 0 || s[0] != ':' {
			return false
		}
		s = s[1:]
		if key == "codec" {
			if len(s) == 0 || s[0] != '"' {
				return false
			}
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return false
			}
			v := s[1 : 1+end]
			if !plainString(v) {
				return false
			}
			out.Codec = v
			s = s[2+end:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v := s[:end]
			s = s[end:]
			var p *uint64
			switch key {
			case "packets_in":
				p = &out.PacketsIn
			case "packets_out":
				p = &out.PacketsOut
			case "bytes_in":
				p = &out.BytesIn
			case "bytes_out":
				p = &out.BytesOut
			case "lost":
				p = &out.Lost
			case "jitter_ms":
				if !jsonNumber(v) {
					return false
				}
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return false
				}
				out.JitterMs = f
			default:
				return false
			}
			if p != nil {
				if !plainUint(v) {
					return false
				}
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return false
				}
				*p = n
			}
		}
		if len(s) > 0 {
			if s[0] != ',' || len(s) == 1 {
				return false
			}
			s = s[1:]
		}
	}
	*q = out
	return true
}

// plainString: valid UTF-8 without quotes, backslashes or control
// characters, so it reads the same with or without JSON decoding.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '\\' || c == '"' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// plainUint: digits without a leading zero, as JSON writes an integer.
func plainUint(s string) bool {
	if s == "" || s[0] == '0' && len(s) > 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// jsonNumber reports whether s is a number by JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
