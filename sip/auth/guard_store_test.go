package auth

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/store"
)

func TestGuardBansSurviveRestart(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.DiscardHandler)
	c := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	cfg := GuardConfig{MaxFailures: 3, Window: time.Minute, BanFor: 15 * time.Minute}
	g := NewGuard(cfg, c.now)
	if _, err := g.Restore(ctx, db, log); err != nil {
		t.Fatal(err)
	}
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for range 3 {
		g.Fail(ip("203.0.113.1"))
	}
	g.BanNow(ip("203.0.113.2"), BanFlood)
	g.BanNow(ip("203.0.113.3"), BanFlood)
	g.BanNow(ip("198.51.100.9"), BanFlood)
	g.Unban(ip("203.0.113.3"))
	g.SetAllowed("api", []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	g.Close(ctx)

	restart := func(after time.Duration) map[netip.Addr]Ban {
		t.Helper()
		c.t = c.t.Add(after)
		g := NewGuard(cfg, c.now)
		if _, err := g.Restore(ctx, db, log); err != nil {
			t.Fatal(err)
		}
		defer g.Close(ctx)
		out := map[netip.Addr]Ban{}
		for _, b := range g.Bans() {
			out[b.IP] = b
		}
		return out
	}
	tests := []struct {
		name  string
		after time.Duration
		want  map[string]string // ip -> reason
	}{
		{"bans in force come back with their reason", time.Minute, map[string]string{"203.0.113.1": BanAuthFailures, "203.0.113.2": BanFlood}},
		{"expired bans do not", 15 * time.Minute, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := restart(tt.after)
			if len(got) != len(tt.want) {
				t.Fatalf("bans %v, want %v", got, tt.want)
			}
			for a, reason := range tt.want {
				b, ok := got[ip(a)]
				if !ok || b.Reason != reason {
					t.Fatalf("ban of %s: %+v", a, b)
				}
			}
		})
	}
}

func TestGuardRestoreSkipsAllowed(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.DiscardHandler)
	g := NewGuard(DefaultGuardConfig(), nil)
	if _, err := g.Restore(ctx, db, log); err != nil {
		t.Fatal(err)
	}
	g.BanNow(netip.MustParseAddr("192.0.2.5"), BanFlood)
	g.Close(ctx)

	g2 := NewGuard(DefaultGuardConfig(), nil)
	g2.SetAllowed("trunks", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	if n, err := g2.Restore(ctx, db, log); err != nil || n != 0 {
		t.Fatalf("restored %d: %v", n, err)
	}
	if err := g2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	g2.Close(ctx)
	if bans, _ := db.LoadBans(ctx, time.Now()); len(bans) != 0 {
		t.Fatalf("a ban in an allowed network stayed stored: %+v", bans)
	}
}
