package store

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/core/call"
)

func TestRegistrationsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, dir := openTest(t)
	a, b := newExt("2001"), newExt("2002")
	for _, e := range []*core.Extension{a, b} {
		if err := db.CreateExtension(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	reg := func(ext *core.Extension, contact string, ttl time.Duration) core.Registration {
		return core.Registration{ExtensionID: ext.ID, Username: ext.SIPUsername, Contact: contact, Source: "192.0.2.7:5062",
			Transport: "UDP", UserAgent: "phone/1", CallID: "cid-" + contact, CSeq: 7, RegisteredAt: now.Add(-time.Minute),
			ExpiresAt: now.Add(ttl)}
	}
	live := reg(a, "sip:2001@192.0.2.7:5062", time.Hour)
	second := reg(a, "sip:2001@192.0.2.8:5062", time.Hour)
	expired := reg(b, "sip:2002@192.0.2.9:5062", -time.Second)
	gone := reg(b, "sip:2002@192.0.2.10:5062", time.Hour)
	orphan := reg(newExt("2009"), "sip:2009@192.0.2.11:5062", time.Hour) // extension never stored

	steps := []struct {
		name     string
		upserts  []core.Registration
		removals []core.RegistrationKey
		want     []core.Registration
	}{
		{"insert", []core.Registration{live, second, expired, gone, orphan}, nil, []core.Registration{live, second, gone}},
		{"refresh moves the expiry", []core.Registration{func() core.Registration {
			r := live
			r.ExpiresAt, r.CSeq = now.Add(2*time.Hour), 8
			return r
		}()}, nil, nil},
		{"remove", nil, []core.RegistrationKey{{ExtensionID: b.ID, Contact: gone.Contact}}, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := db.SaveRegistrations(ctx, s.upserts, s.removals); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A restart: a fresh handle on the same file.
	db.Close()
	db2, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	got, err := db2.LoadRegistrations(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("loaded %d registrations, want 2: %+v", len(got), got)
	}
	want := live
	want.ExpiresAt, want.CSeq = now.Add(2*time.Hour), 8
	if got[0] != want && got[1] != want {
		t.Fatalf("refreshed binding not found: %+v", got)
	}
	var rows int
	if err := db2.r.GetContext(ctx, &rows, `SELECT COUNT(*) FROM sip_registrations`); err != nil || rows != 2 {
		t.Fatalf("expired rows kept: %d %v", rows, err)
	}
	// Deleting an extension deletes its bindings.
	if err := db2.DeleteExtension(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := db2.LoadRegistrations(ctx, now); len(got) != 0 {
		t.Fatalf("bindings of a deleted extension: %+v", got)
	}
}

func TestBansPersist(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	ban := func(ip string, until time.Duration, reason string) core.Ban {
		return core.Ban{IP: netip.MustParseAddr(ip), Since: now.Add(-time.Minute), Until: now.Add(until), Failures: 10, Reason: reason}
	}
	tests := []struct {
		name   string
		bans   []core.Ban
		lifted []netip.Addr
		want   []string
	}{
		{"save", []core.Ban{ban("203.0.113.1", time.Hour, "auth_failures"), ban("203.0.113.2", time.Hour, "flood"),
			ban("203.0.113.3", -time.Second, "flood"), ban("2001:db8::1", time.Hour, "flood")},
			nil, []string{"203.0.113.1:auth_failures", "203.0.113.2:flood", "2001:db8::1:flood"}},
		{"lift", nil, []netip.Addr{netip.MustParseAddr("203.0.113.2")}, []string{"203.0.113.1:auth_failures", "2001:db8::1:flood"}},
		{"ban again replaces", []core.Ban{ban("203.0.113.1", 2*time.Hour, "flood")}, nil, []string{"203.0.113.1:flood", "2001:db8::1:flood"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.SaveBans(ctx, tt.bans, tt.lifted); err != nil {
				t.Fatal(err)
			}
			got, err := db.LoadBans(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, b := range got {
				seen[b.IP.String()+":"+b.Reason] = true
			}
			if len(got) != len(tt.want) {
				t.Fatalf("bans %+v, want %v", got, tt.want)
			}
			for _, w := range tt.want {
				if !seen[w] {
					t.Fatalf("ban %s missing from %+v", w, got)
				}
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	base := time.Now().UTC().Truncate(time.Microsecond)
	add := func(i int, cidr string) (*core.AllowlistEntry, error) {
		p, err := core.ParseNetwork(cidr)
		if err != nil {
			return nil, err
		}
		e := &core.AllowlistEntry{ID: core.AllowlistID(core.NewID(core.PrefixAllowlist)), Network: p, Description: cidr,
			CreatedAt: base.Add(time.Duration(i) * time.Millisecond)}
		return e, db.CreateAllowlistEntry(ctx, e)
	}
	cidrs := []string{"192.0.2.0/24", "198.51.100.7", "2001:db8::/32", "203.0.113.9/24", "2001:db8:1::5"}
	var ids []core.AllowlistID
	for i, c := range cidrs {
		e, err := add(i, c)
		if err != nil {
			t.Fatalf("add %s: %v", c, err)
		}
		ids = append(ids, e.ID)
	}
	tests := []struct {
		name  string
		cidr  string
		want  error
		field string
	}{
		{"duplicate", "192.0.2.0/24", core.ErrConflict, "cidr"},
		{"duplicate after masking", "192.0.2.99/24", core.ErrConflict, "cidr"},
		{"bare address is a /32", "198.51.100.7/32", core.ErrConflict, "cidr"},
		{"not a network", "nope", core.ErrInvalid, "cidr"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := add(100+i, tt.cidr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var ce *core.ConflictError
			var fe *core.FieldError
			if !(errors.As(err, &ce) && ce.Field == tt.field) && !(errors.As(err, &fe) && fe.Field == tt.field) {
				t.Fatalf("error %v does not name %s", err, tt.field)
			}
		})
	}
	// Pages of two walk every entry once, oldest first.
	var walked []string
	for cursor := ""; ; {
		page, err := db.ListAllowlist(ctx, core.PageRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			walked = append(walked, e.Network.String())
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	want := []string{"192.0.2.0/24", "198.51.100.7/32", "2001:db8::/32", "203.0.113.0/24", "2001:db8:1::5/128"}
	if len(walked) != len(want) {
		t.Fatalf("walked %v", walked)
	}
	for i := range want {
		if walked[i] != want[i] {
			t.Fatalf("walked %v, want %v", walked, want)
		}
	}
	if err := db.DeleteAllowlistEntry(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAllowlistEntry(ctx, ids[0]); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	nets, err := db.AllowlistNetworks(ctx)
	if err != nil || len(nets) != 4 || nets[0].String() != "198.51.100.7/32" {
		t.Fatalf("networks %v %v", nets, err)
	}
}

func TestDanglingCallsGetTheirEndEvents(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	started := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	answered := started.Add(5 * time.Second)
	hook := &core.Webhook{ID: core.WebhookID(core.NewID(core.PrefixWebhook)), URL: "https://crm.example/hook",
		EventTypes: []string{"call.ended"}, Enabled: true, Secret: "s3cret", Version: 1, CreatedAt: started, UpdatedAt: started}
	if err := db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	recs := []*call.Record{
		{ID: call.NewID(), SIPCallID: "a@x", Direction: call.Internal, FromNumber: "1001", ToNumber: "1002",
			StartedAt: started},
		{ID: call.NewID(), SIPCallID: "b@x", Direction: call.Inbound, FromNumber: "+15551234567", ToNumber: "+15557654321",
			TrunkID: "trk_1", NumberID: "num_1", StartedAt: started.Add(time.Second)},
	}
	for _, r := range recs {
		if err := db.CreateCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// The first call's last event names both extensions and its answer
	// (records are written at start and end only); the second is not between extensions.
	live := *recs[0]
	live.AnsweredAt = &answered
	d, exts := call.NewEventData(&live, "ext_a", "ext_b")
	if err := db.AppendEvents(ctx, core.NewEvent(core.EventCallAnswered, answered, "call:"+string(recs[0].ID), exts, d)); err != nil {
		t.Fatal(err)
	}
	finished := &call.Record{ID: call.NewID(), SIPCallID: "c@x", Direction: call.Internal, StartedAt: started, EndedAt: &answered,
		Disposition: call.Answered}
	if err := db.CreateCallRecord(ctx, finished); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	n, err := db.CloseDanglingCallRecords(ctx, at, call.CauseShutdown)
	if err != nil || n != 2 {
		t.Fatalf("closed %d: %v", n, err)
	}
	evs, err := db.EventsAfter(ctx, 0, EventFilter{Types: []string{"call.ended"}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d call.ended events, want 2", len(evs))
	}
	byCall := map[string]call.EventData{}
	for _, e := range evs {
		var d call.EventData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if e.OrderKey != "call:"+d.CallID || !e.OccurredAt.Equal(at) {
			t.Fatalf("event envelope %+v", e)
		}
		byCall[d.CallID] = d
		if d.CallID == string(recs[0].ID) && (len(e.Extensions) != 2 || e.Extensions[0] != "ext_a" || e.Extensions[1] != "ext_b") {
			t.Fatalf("extensions of the event: %v", e.Extensions)
		}
	}
	tests := []struct {
		name string
		rec  *call.Record
		want call.EventData
	}{
		{"answered internal call", recs[0], call.EventData{CallID: string(recs[0].ID), SIPCallID: "a@x", Direction: call.Internal,
			FromNumber: "1001", FromExtensionID: "ext_a", ToNumber: "1002", ToExtensionID: "ext_b", StartedAt: started,
			AnsweredAt: &answered, EndedAt: &at, RingSeconds: 5, TalkSeconds: at.Sub(answered).Round(10 * time.Millisecond).Seconds(),
			Disposition: "failed", HangupCause: "shutdown", HangupBy: "system"}},
		{"ringing inbound call", recs[1], call.EventData{CallID: string(recs[1].ID), SIPCallID: "b@x", Direction: call.Inbound,
			FromNumber: "+15551234567", ToNumber: "+15557654321", TrunkID: "trk_1", NumberID: "num_1", StartedAt: started.Add(time.Second),
			EndedAt: &at, RingSeconds: at.Sub(started.Add(time.Second)).Round(10 * time.Millisecond).Seconds(),
			Disposition: "failed", HangupCause: "shutdown", HangupBy: "system"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := byCall[string(tt.rec.ID)]
			if !ok {
				t.Fatal("no call.ended")
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Fatalf("payload\n got %s\nwant %s", g, w)
			}
			r, err := db.GetCallRecord(ctx, tt.rec.ID)
			if err != nil || r.EndedAt == nil || r.Disposition != call.Failed || r.HangupCause != call.CauseShutdown ||
				(r.AnsweredAt == nil) != (tt.want.AnsweredAt == nil) {
				t.Fatalf("record %+v %v", r, err)
			}
		})
	}
	var deliveries int
	if err := db.r.GetContext(ctx, &deliveries, `SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = ?`, hook.ID); err != nil || deliveries != 2 {
		t.Fatalf("%d deliveries queued for the webhook: %v", deliveries, err)
	}
	if n, err := db.CloseDanglingCallRecords(ctx, at, call.CauseShutdown); err != nil || n != 0 {
		t.Fatalf("second close: %d %v", n, err)
	}
}
