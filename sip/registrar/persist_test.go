package registrar

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

func TestRegistryPersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	spec := core.DefaultExtensionSpec()
	spec.Number = "3001"
	spec.Normalize()
	ext := &core.Extension{ID: core.ExtensionID(core.NewID(core.PrefixExtension)), ExtensionSpec: spec,
		SIPPassword: core.NewSIPPassword(), Version: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := db.CreateExtension(ctx, ext); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	log := slog.New(slog.DiscardHandler)
	r := NewRegistry(5, c.now)
	// Refreshes are only written by the periodic flush, here never before Close.
	if _, err := r.Restore(ctx, db, PersistConfig{FlushEvery: time.Hour}, log); err != nil {
		t.Fatal(err)
	}
	bind := func(contact, source string, cseq uint32, ttl time.Duration) Binding {
		return Binding{ExtensionID: ext.ID, Username: "3001", Contact: contact, Source: source, Transport: "UDP",
			CallID: "cid-" + contact, CSeq: cseq, ExpiresAt: c.t.Add(ttl)}
	}
	stored := func() map[string]core.Registration {
		t.Helper()
		list, err := db.LoadRegistrations(ctx, c.t)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]core.Registration{}
		for _, r := range list {
			out[r.Contact] = r
		}
		return out
	}
	const a, b = "sip:3001@192.0.2.1:5062", "sip:3001@192.0.2.2:5062"
	steps := []struct {
		name   string
		do     func()
		check  string // contact looked at; its stored source and expiry are compared
		source string
		expiry time.Duration // from the step's clock; 0: not stored
	}{
		{"a new binding is written before Upsert returns", func() { r.Upsert(bind(a, "192.0.2.1:5062", 1, time.Hour)) },
			a, "192.0.2.1:5062", time.Hour},
		{"a refresh waits for the flush", func() {
			c.t = c.t.Add(time.Minute)
			for i := range 100 {
				r.Upsert(bind(a, "192.0.2.1:5062", uint32(2+i), time.Hour))
			}
		}, a, "192.0.2.1:5062", time.Hour - time.Minute},
		{"a new source is written at once", func() { r.Upsert(bind(a, "198.51.100.1:4000", 200, 2*time.Hour)) },
			a, "198.51.100.1:4000", 2 * time.Hour},
		{"a second contact", func() { r.Upsert(bind(b, "192.0.2.2:5062", 1, time.Hour)) }, b, "192.0.2.2:5062", time.Hour},
		{"removed at once", func() { r.Remove(ext.ID, b) }, b, "", 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do()
			got, ok := stored()[s.check]
			if s.expiry == 0 {
				if ok {
					t.Fatalf("%s still stored", s.check)
				}
				return
			}
			if !ok || got.Source != s.source || !got.ExpiresAt.Equal(c.t.Add(s.expiry)) {
				t.Fatalf("stored %+v, want source %s expiring at %s", got, s.source, c.t.Add(s.expiry))
			}
		})
	}
	// A refresh pending at Close is written by it.
	c.t = c.t.Add(time.Minute)
	r.Upsert(bind(a, "198.51.100.1:4000", 300, time.Hour))
	r.Close(ctx)
	if got := stored()[a]; !got.ExpiresAt.Equal(c.t.Add(time.Hour)) || got.CSeq != 300 {
		t.Fatalf("refresh not flushed at close: %+v", got)
	}

	// A restart: bindings come back without change notifications; expired ones do not.
	db.Close()
	db, err = store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r2 := NewRegistry(5, c.now)
	notified := 0
	r2.OnChange(func(core.ExtensionID, []Binding, []Binding) { notified++ })
	n, err := r2.Restore(ctx, db, PersistConfig{}, log)
	if err != nil || n != 1 || notified != 0 {
		t.Fatalf("restored %d (%v), %d notifications", n, err, notified)
	}
	got := r2.Lookup(ext.ID)
	if len(got) != 1 || got[0].Source != "198.51.100.1:4000" || got[0].Transport != "UDP" || got[0].CSeq != 300 {
		t.Fatalf("restored %+v", got)
	}
	r2.Close(ctx)
	c.t = c.t.Add(2 * time.Hour)
	r3 := NewRegistry(5, c.now)
	if n, err := r3.Restore(ctx, db, PersistConfig{}, log); err != nil || n != 0 || len(r3.All()) != 0 {
		t.Fatalf("expired bindings restored: %d %v", n, err)
	}
	r3.Close(ctx)
}
