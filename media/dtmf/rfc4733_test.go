package dtmf

import (
	"errors"
	"testing"
)

func TestEventRoundTrip(t *testing.T) {
	tests := []Event{
		{Code: 5, Volume: 10, Duration: 160},
		{Code: 11, End: true, Volume: 63, Duration: 1280},
		{Code: 16, Duration: 65535},
	}
	for _, e := range tests {
		got, err := Parse(e.Append(nil))
		if err != nil || got != e {
			t.Fatalf("%+v became %+v (%v)", e, got, err)
		}
	}
	if _, err := Parse([]byte{1, 2, 3}); !errors.Is(err, ErrShort) {
		t.Fatalf("short payload: %v", err)
	}
}

func TestDigits(t *testing.T) {
	for _, d := range []byte("0123456789*#ABCD") {
		c, ok := Code(d)
		if !ok || Digit(c) != d {
			t.Fatalf("%c -> %d -> %c", d, c, Digit(c))
		}
	}
	if _, ok := Code('x'); ok {
		t.Fatal("x is not a digit")
	}
	if c, _ := Code('a'); Digit(c) != 'A' {
		t.Fatal("lower case letters")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{1, 0x8a, 0, 160})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		e2, err := Parse(e.Append(nil))
		if err != nil || e2 != e {
			t.Fatalf("re-encode changed %+v to %+v", e, e2)
		}
	})
}
