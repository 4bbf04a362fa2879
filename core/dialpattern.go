package core

import (
	"fmt"
	"strings"
)

// DialPattern is a dial pattern in the syntax PBX admins know: X is 0-9,
// Z is 1-9, N is 2-9, [1-5] or [135] a class, "." one or more of anything
// (only last), other characters (digits, *, #, +) match themselves. An
// optional "prefix|" before the pattern is matched and stripped.
type DialPattern struct {
	raw    string
	strip  int      // how many leading elements the prefix part holds
	elems  []string // one matcher per dialled character
	anyEnd bool
}

// ParseDialPattern reads a pattern; an error names what is wrong.
func ParseDialPattern(s string) (*DialPattern, error) {
	p := &DialPattern{raw: s}
	prefix, rest, hasPrefix := strings.Cut(s, "|")
	if !hasPrefix {
		prefix, rest = "", s
	}
	if strings.Contains(rest, "|") {
		return nil, fmt.Errorf("pattern %q has more than one |", s)
	}
	pe, end, err := patternElems(prefix)
	if err != nil || end {
		return nil, fmt.Errorf("pattern %q: bad prefix", s)
	}
	re, end, err := patternElems(rest)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", s, err)
	}
	if len(re) == 0 && !end {
		return nil, fmt.Errorf("pattern %q has nothing after the prefix", s)
	}
	p.strip, p.elems, p.anyEnd = len(pe), append(pe, re...), end
	if len(p.elems) == 0 {
		return nil, fmt.Errorf("pattern %q is empty", s)
	}
	return p, nil
}

func patternElems(s string) ([]string, bool, error) {
	var out []string
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if i != len(s)-1 {
				return nil, false, fmt.Errorf(". must come last")
			}
			return out, true, nil
		case c == 'X' || c == 'x':
			out = append(out, "0123456789")
		case c == 'Z' || c == 'z':
			out = append(out, "123456789")
		case c == 'N' || c == 'n':
			out = append(out, "23456789")
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 2 {
				return nil, false, fmt.Errorf("unclosed or empty [")
			}
			set, err := expandClass(s[i+1 : i+j])
			if err != nil {
				return nil, false, err
			}
			out = append(out, set)
			i += j
		case c >= '0' && c <= '9' || c == '*' || c == '#' || c == '+':
			out = append(out, string(c))
		default:
			return nil, false, fmt.Errorf("unexpected %q", c)
		}
	}
	return out, false, nil
}

func expandClass(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return "", fmt.Errorf("class [%s] may hold only digits and ranges", s)
		}
		if i+2 < len(s) && s[i+1] == '-' {
			hi := s[i+2]
			if hi < c || hi > '9' {
				return "", fmt.Errorf("bad range in [%s]", s)
			}
			for d := c; d <= hi; d++ {
				b.WriteByte(d)
			}
			i += 2
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// Match reports whether dialled matches, and returns it without the prefix.
func (p *DialPattern) Match(dialled string) (string, bool) {
	if len(dialled) < len(p.elems) || (!p.anyEnd && len(dialled) != len(p.elems)) || (p.anyEnd && len(dialled) == len(p.elems)) {
		return "", false
	}
	for i, set := range p.elems {
		if !strings.ContainsRune(set, rune(dialled[i])) {
			return "", false
		}
	}
	for i := len(p.elems); i < len(dialled); i++ {
		if c := dialled[i]; !(c >= '0' && c <= '9' || c == '*' || c == '#') {
			return "", false
		}
	}
	return dialled[p.strip:], true
}

func (p *DialPattern) String() string { return p.raw }
