package sip

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/sip/auth"
)

// TestTrunkNetworksAreNeverBanned checks that the guard follows trunk
// changes: an IP trunk's networks are allowed (lifting bans on them) while
// the trunk is enabled, and no longer once it is disabled.
func TestTrunkNetworksAreNeverBanned(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	s, err := Listen(Config{Listen: "127.0.0.1:0", Domain: "pbx.test", RTPMin: 41200, RTPMax: 41300,
		Trunks: TrunkTiming{Reload: time.Hour}}, slog.New(slog.DiscardHandler), db, db, db)
	if err != nil {
		t.Fatal(err)
	}
	defer serveRestored(t, s, db)()
	carrier := netip.MustParseAddr("192.0.2.5")
	s.Guard.BanNow(carrier, auth.BanFlood)
	now := time.Now().UTC().Truncate(time.Microsecond)
	trk := &core.Trunk{ID: core.TrunkID(core.NewID(core.PrefixTrunk)), Name: "carrier", Host: "127.0.0.1", Port: 9,
		Transport: "udp", AuthMode: "ip", AllowedCIDRs: []string{"192.0.2.0/28", "2001:db8::7"}, DIDSource: "request_uri",
		Codecs: []string{"PCMU"}, Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateTrunk(ctx, trk); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	steps := []struct {
		name    string
		change  func()
		allowed bool
	}{
		{"enabled trunk", func() {}, true},
		{"disabled trunk", func() {
			trk.Enabled = false
			if err := db.UpdateTrunk(ctx, trk, trk.Version); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			s.TrunksChanged()
			for _, ip := range []string{"192.0.2.5", "2001:db8::7"} {
				waitFor(ip+" allowed: want "+map[bool]string{true: "yes", false: "no"}[st.allowed], func() bool {
					return s.Guard.Allowed(netip.MustParseAddr(ip)) == st.allowed
				})
			}
			if st.allowed && s.Guard.Banned(carrier) {
				t.Fatal("the ban on a trunk address was not lifted")
			}
		})
	}
	if err := s.Guard.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if bans, _ := db.LoadBans(ctx, time.Now()); len(bans) != 0 {
		t.Fatalf("lifted ban still stored: %+v", bans)
	}
}
