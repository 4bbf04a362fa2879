package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: the server runs the collector at serveGCPercent, unless GOGC
// names a target of its own.
func TestTuneGC(t *testing.T) {
	const before = 137
	for _, tt := range []struct {
		name string
		gogc string
		want int
	}{
		{"no GOGC", "", serveGCPercent},
		{"GOGC set", "200", before},
		{"GOGC off", "off", before},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prev := debug.SetGCPercent(before)
			defer debug.SetGCPercent(prev)
			tuneGC(func(k string) string {
				if k == "GOGC" {
					return tt.gogc
				}
				return ""
			})
			if got := debug.SetGCPercent(before); got != tt.want {
				t.Fatalf("GC percent %d, want %d", got, tt.want)
			}
		})
	}
}
