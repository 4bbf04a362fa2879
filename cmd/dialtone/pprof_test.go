package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestProfiling: profiles are served on a loopback listener when asked
// for, and an address that is not loopback is refused.
func TestProfiling(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, addr := range []string{"0.0.0.0:6060", "192.0.2.1:6060", "6060", "example.com:6060"} {
		if _, err := openProfiling(addr, log); err == nil {
			t.Errorf("--pprof %s was accepted", addr)
		}
	}
	p, err := openProfiling("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	p.serve()
	defer p.close(context.Background())
	res, err := http.Get("http://" + p.side.ln.Addr().String() + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(b), "heap profile") {
		t.Fatalf("heap profile: %d %.100s", res.StatusCode, b)
	}
	off, err := openProfiling("", log)
	if err != nil || off.side != nil {
		t.Fatalf("profiles served without --pprof: %v", err)
	}
}
