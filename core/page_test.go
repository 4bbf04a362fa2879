package core

import (
	"errors"
	"testing"
)

func TestPageRequestSize(t *testing.T) {
	for _, tt := range []struct {
		limit, want int
	}{
		{0, DefaultPageLimit},
		{-3, DefaultPageLimit},
		{1, 1},
		{MaxPageLimit, MaxPageLimit},
		{MaxPageLimit + 1, MaxPageLimit},
	} {
		if got := (PageRequest{Limit: tt.limit}).Size(); got != tt.want {
			t.Errorf("limit %d: size %d, want %d", tt.limit, got, tt.want)
		}
	}
}

// TestCursorRoundTrip: a cursor gives back the keys it was made of, and a
// cursor of another shape is a validation error naming the cursor.
func TestCursorRoundTrip(t *testing.T) {
	c := EncodeCursor(int64(1772366400123456789), "call_01J9")
	var at int64
	var id string
	if err := DecodeCursor(c, &at, &id); err != nil || at != 1772366400123456789 || id != "call_01J9" {
		t.Fatalf("decoded %d %q: %v", at, id, err)
	}
	for _, tt := range []struct{ name, cursor string }{
		{"not base64", "garbage!"},
		{"not JSON", "bm90IGpzb24"},
		{"not an array", "eyJhIjoxfQ"},
		{"too few keys", EncodeCursor(int64(1))},
		{"too many keys", EncodeCursor(int64(1), "a", "b")},
		{"keys of other types", EncodeCursor("a", int64(1))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ve ValidationError
			if err := DecodeCursor(tt.cursor, &at, &id); !errors.As(err, &ve) || len(ve) != 1 || ve[0].Field != "cursor" {
				t.Fatalf("%v", err)
			}
		})
	}
}

// FuzzDecodeCursor: whatever a client sends as a cursor, decoding it
// returns keys or a validation error, and never panics.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(EncodeCursor(int64(5), "call_x"))
	f.Add("")
	f.Add("WyJhIiwxXQ")
	f.Add("W251bGwsbnVsbF0")
	f.Fuzz(func(t *testing.T, cursor string) {
		var at int64
		var id string
		err := DecodeCursor(cursor, &at, &id)
		var ve ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("%q: %v is no validation error", cursor, err)
		}
		if err == nil {
			var at2 int64
			var id2 string
			if err := DecodeCursor(EncodeCursor(at, id), &at2, &id2); err != nil || at2 != at || id2 != id {
				t.Fatalf("%q: keys %d %q do not round-trip: %d %q %v", cursor, at, id, at2, id2, err)
			}
		}
	})
}
