package b2bua

import "testing"

func TestParseInfoDTMF(t *testing.T) {
	for _, tt := range []struct {
		relay bool
		body  string
		want  byte
		ok    bool
	}{
		{true, "Signal=5\r\nDuration=160\r\n", '5', true},
		{true, "Signal= #\r\nDuration=100\r\n", '#', true},
		{true, "signal=11\nduration=250\n", '#', true},
		{true, "Signal=10\r\n", '*', true},
		{true, "Signal=d\r\n", 'D', true},
		{true, "Duration=160\r\n", 0, false},
		{true, "Signal=X\r\n", 0, false},
		{false, "5", '5', true},
		{false, "*\r\n", '*', true},
		{false, "55", 0, false},
		{false, "", 0, false},
	} {
		parse := parseSignal
		if tt.relay {
			parse = func(s string) (byte, bool) { return parseDTMFRelay([]byte(s)) }
		}
		if got, ok := parse(tt.body); got != tt.want || ok != tt.ok {
			t.Errorf("%q: %q %v, want %q %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}
