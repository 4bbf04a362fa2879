package plan

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// keypadDigit maps a Latin letter to its key on a phone keypad (ITU-T
// E.161 §3: 2 ABC, 3 DEF, 4 GHI, 5 JKL, 6 MNO, 7 PQRS, 8 TUV, 9 WXYZ).
func keypadDigit(r rune) (byte, bool) {
	const keys = "22233344455566677778889999"
	r = unicode.ToUpper(r)
	if r < 'A' || r > 'Z' {
		return 0, false
	}
	return keys[r-'A'], true
}

// KeypadDigits spells a name as the digits a caller keys for it: accents
// are dropped (é keys as E) and anything that is not a letter is skipped.
func KeypadDigits(name string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(name) {
		if d, ok := keypadDigit(r); ok {
			b.WriteByte(d)
		}
	}
	return b.String()
}

// splitName cuts an extension's name into first and last name at its last
// space; a one-word name is both.
func splitName(name string) (first, last string) {
	name = strings.TrimSpace(name)
	i := strings.LastIndexFunc(name, unicode.IsSpace)
	if i < 0 {
		return name, name
	}
	return strings.TrimSpace(name[:i]), strings.TrimSpace(name[i+1:])
}
