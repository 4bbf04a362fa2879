package core

import "testing"

func TestDialPattern(t *testing.T) {
	tests := []struct {
		pattern, dialled, want string
		ok                     bool
	}{
		{"NXXNXXXXXX", "4155550100", "4155550100", true},
		{"NXXNXXXXXX", "1155550100", "", false},
		{"NXXNXXXXXX", "415555010", "", false},
		{"1NXXNXXXXXX", "14155550100", "14155550100", true},
		{"9|NXXNXXXXXX", "94155550100", "4155550100", true},
		{"9|NXXNXXXXXX", "4155550100", "", false},
		{"011.", "01144207946000", "01144207946000", true},
		{"011.", "011", "", false},
		{"+.", "+442079460000", "+442079460000", true},
		{"[2-9]11", "911", "911", true},
		{"[2-9]11", "111", "", false},
		{"[135]XX", "399", "399", true},
		{"[135]XX", "299", "", false},
		{"*82|.", "*824155550100", "4155550100", true},
		{"ZXXX", "0123", "", false},
		{"XXX.", "12a4", "", false},
	}
	for _, tt := range tests {
		p, err := ParseDialPattern(tt.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tt.pattern, err)
		}
		got, ok := p.Match(tt.dialled)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s ~ %s: got %q %v, want %q %v", tt.pattern, tt.dialled, got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []string{"", "9|", "1.2", "[", "[]", "[9-1]", "a", "1|2|3", "[a-z]"} {
		if _, err := ParseDialPattern(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzDialPattern(f *testing.F) {
	f.Add("9|NXXNXXXXXX", "94155550100")
	f.Add("011.", "0114420")
	f.Add("[2-9]11", "911")
	f.Fuzz(func(t *testing.T, pattern, dialled string) {
		p, err := ParseDialPattern(pattern)
		if err != nil {
			return
		}
		if out, ok := p.Match(dialled); ok && len(out) > len(dialled) {
			t.Fatalf("match grew the number: %q -> %q", dialled, out)
		}
	})
}

func TestNormalizeNumber(t *testing.T) {
	tests := []struct {
		raw, country, e164 string
		kind               NumberKind
	}{
		{"(415) 555-0100", "US", "+14155550100", KindLocal},
		{"+1 800 555 0199", "US", "+18005550199", KindTollFree},
		{"020 7946 0000", "GB", "+442079460000", KindLocal},
		{"07400 123456", "GB", "+447400123456", KindMobile},
		{"0800 123 4567", "GB", "+448001234567", KindTollFree},
		{"01 23 45 67 89", "FR", "+33123456789", KindLocal},
		{"06 12 34 56 78", "FR", "+33612345678", KindMobile},
		{"+44 20 7946 0000", "US", "+442079460000", KindNational},
		{"0044 20 7946 0000", "US", "+442079460000", KindNational},
	}
	for _, tt := range tests {
		e, k, err := NormalizeNumber(tt.raw, tt.country)
		if err != nil || e != tt.e164 || k != tt.kind {
			t.Errorf("%s in %s: %s %s %v, want %s %s", tt.raw, tt.country, e, k, err, tt.e164, tt.kind)
		}
	}
	if _, _, err := NormalizeNumber("12", "US"); err == nil {
		t.Error("12 is not a phone number")
	}
}
