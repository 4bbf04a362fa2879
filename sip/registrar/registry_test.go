package registrar

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRegistry(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	r := NewRegistry(5, c.now)
	var added, removed int
	r.OnChange(func(_ core.ExtensionID, a, rm []Binding) { added += len(a); removed += len(rm) })
	bind := func(contact string, ttl time.Duration, cseq uint32) Binding {
		return Binding{ExtensionID: "ext_a", Contact: contact, CallID: "cid-" + contact, CSeq: cseq, ExpiresAt: c.t.Add(ttl)}
	}
	steps := []struct {
		name    string
		do      func()
		want    int
		oldest  string
		advance time.Duration
	}{
		{"first", func() { r.Upsert(bind("sip:a@1", time.Hour, 1)) }, 1, "sip:a@1", time.Second},
		{"refresh keeps one", func() { r.Upsert(bind("sip:a@1", time.Hour, 2)) }, 1, "sip:a@1", time.Second},
		{"stale retransmission ignored", func() { r.Upsert(bind("sip:a@1", time.Minute, 1)) }, 1, "sip:a@1", time.Second},
		{"up to five", func() {
			for i := 2; i <= 5; i++ {
				r.Upsert(bind(fmt.Sprintf("sip:a@%d", i), time.Hour, 1))
				c.t = c.t.Add(time.Second)
			}
		}, 5, "sip:a@1", 0},
		{"sixth evicts the oldest", func() { r.Upsert(bind("sip:a@6", time.Hour, 1)) }, 5, "sip:a@2", 0},
		{"remove one", func() { r.Remove("ext_a", "sip:a@2") }, 4, "sip:a@3", 0},
		{"short binding", func() { r.Upsert(bind("sip:a@7", 10*time.Second, 1)) }, 5, "sip:a@3", 11 * time.Second},
		{"expired binding is gone", func() { r.Sweep() }, 4, "sip:a@3", 0},
		{"remove all", func() { r.RemoveAll("ext_a") }, 0, "", 0},
	}
	for _, s := range steps {
		s.do()
		got := r.Lookup("ext_a")
		if len(got) != s.want {
			t.Fatalf("%s: %d bindings, want %d", s.name, len(got), s.want)
		}
		if s.want > 0 && got[0].Contact != s.oldest {
			t.Fatalf("%s: oldest is %s, want %s", s.name, got[0].Contact, s.oldest)
		}
		c.t = c.t.Add(s.advance)
	}
	if added != 7 || removed != 7 {
		t.Fatalf("change notifications: %d added, %d removed", added, removed)
	}
	if len(r.All()) != 0 {
		t.Fatal("All lists bindings after RemoveAll")
	}
}

// TestRegistryExpiredOnChange: a change of an extension's bindings drops
// its expired ones and reports them removed, as Sweep would; a refresh that
// is turned away leaves the list as it was, whether or not some of it
// expired, and a refresh alone is turned away while some of it expired.
func TestRegistryExpiredOnChange(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	r := NewRegistry(5, c.now)
	var gone []string
	r.OnChange(func(_ core.ExtensionID, _, removed []Binding) {
		for _, b := range removed {
			gone = append(gone, b.Contact)
		}
	})
	bind := func(contact, source string, ttl time.Duration, cseq uint32) Binding {
		return Binding{ExtensionID: "ext_a", Contact: contact, Source: source, CallID: "cid-" + contact, CSeq: cseq, ExpiresAt: c.t.Add(ttl)}
	}
	contacts := func() string {
		var s []string
		for _, b := range r.Lookup("ext_a") {
			s = append(s, fmt.Sprintf("%s@%s#%d", b.Contact, b.Source, b.CSeq))
		}
		return fmt.Sprint(s)
	}
	// The table's bindings expire counting from when it is built.
	refresh := func(b Binding) func() bool {
		return func() bool { _, ok := r.upsert(b, true); return ok }
	}
	r.Upsert(bind("sip:a@1", "10.0.0.1:5060", time.Hour, 1))
	c.t = c.t.Add(time.Second)
	r.Upsert(bind("sip:a@2", "10.0.0.2:5060", 10*time.Second, 1))
	c.t = c.t.Add(time.Second)
	r.Upsert(bind("sip:a@3", "10.0.0.3:5060", time.Hour, 1))
	r.Upsert(bind("sip:a@4", "10.0.0.4:5060", 10*time.Second, 1))
	steps := []struct {
		name    string
		advance time.Duration
		do      func() bool
		ok      bool
		want    string
		stored  int
		gone    string
	}{
		{"refresh, none expired", 0, refresh(bind("sip:a@1", "10.0.0.1:5060", time.Hour, 2)),
			true, "[sip:a@1@10.0.0.1:5060#2 sip:a@2@10.0.0.2:5060#1 sip:a@3@10.0.0.3:5060#1 sip:a@4@10.0.0.4:5060#1]", 4, "[]"},
		{"refresh from elsewhere turned away, none expired", 0, refresh(bind("sip:a@3", "10.9.9.9:5060", time.Hour, 2)),
			false, "[sip:a@1@10.0.0.1:5060#2 sip:a@2@10.0.0.2:5060#1 sip:a@3@10.0.0.3:5060#1 sip:a@4@10.0.0.4:5060#1]", 4, "[]"},
		{"refresh from elsewhere turned away, two expired", 20 * time.Second, refresh(bind("sip:a@3", "10.9.9.9:5060", time.Hour, 2)),
			false, "[sip:a@1@10.0.0.1:5060#2 sip:a@3@10.0.0.3:5060#1]", 4, "[]"},
		{"refresh alone turned away, two expired", 0, refresh(bind("sip:a@3", "10.0.0.3:5060", time.Hour, 3)),
			false, "[sip:a@1@10.0.0.1:5060#2 sip:a@3@10.0.0.3:5060#1]", 4, "[]"},
		{"stale retransmission, two expired", 0, func() bool { r.Upsert(bind("sip:a@3", "10.0.0.3:5060", time.Hour, 1)); return true },
			true, "[sip:a@1@10.0.0.1:5060#2 sip:a@3@10.0.0.3:5060#1]", 2, "[sip:a@2 sip:a@4]"},
		{"refresh, none expired again", 0, refresh(bind("sip:a@3", "10.0.0.3:5060", 35*time.Second, 3)),
			true, "[sip:a@1@10.0.0.1:5060#2 sip:a@3@10.0.0.3:5060#3]", 2, "[sip:a@2 sip:a@4]"},
		{"remove, one expired", 20 * time.Second, func() bool { r.Remove("ext_a", "sip:a@1"); return true },
			true, "[]", 0, "[sip:a@2 sip:a@4 sip:a@3 sip:a@1]"},
	}
	for _, s := range steps {
		c.t = c.t.Add(s.advance)
		if ok := s.do(); ok != s.ok {
			t.Fatalf("%s: stored %v, want %v", s.name, ok, s.ok)
		}
		if got := contacts(); got != s.want {
			t.Fatalf("%s: bindings %s, want %s", s.name, got, s.want)
		}
		if n := len(r.byExt["ext_a"]); n != s.stored {
			t.Fatalf("%s: %d bindings stored, want %d", s.name, n, s.stored)
		}
		if got := fmt.Sprint(gone); got != s.gone {
			t.Fatalf("%s: reported removed %s, want %s", s.name, got, s.gone)
		}
	}
}

// TestRemoveInOrder checks that the store itself removes a binding only for
// a request later than the one that made it, whatever a caller checked
// before: another Call-ID, a higher CSeq, or no request at all.
func TestRemoveInOrder(t *testing.T) {
	cases := []struct {
		name    string
		o       order
		removed bool // sip:a@1 (CSeq 7) by a removal of it
		all     int  // how many a removal of all takes (sip:a@2 has CSeq 6)
	}{
		{"older CSeq", order{"reg-1", 6}, false, 0},
		{"same CSeq", order{"reg-1", 7}, false, 1},
		{"later CSeq", order{"reg-1", 8}, true, 2},
		{"another Call-ID", order{"reg-2", 1}, true, 2},
		{"no request", order{}, true, 2},
	}
	for _, tc := range cases {
		for _, all := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, all %v", tc.name, all), func(t *testing.T) {
				c := &clock{t: time.Now()}
				r := NewRegistry(5, c.now)
				for i, contact := range []string{"sip:a@1", "sip:a@2"} {
					r.Upsert(Binding{ExtensionID: "ext_a", Contact: contact, CallID: "reg-1", CSeq: uint32(7 - i), ExpiresAt: c.t.Add(time.Hour)})
				}
				// An expired binding goes whatever the order, reported removed
				// as Sweep would have.
				r.Upsert(Binding{ExtensionID: "ext_a", Contact: "sip:a@0", CallID: "reg-1", CSeq: 9, ExpiresAt: c.t.Add(time.Minute)})
				c.t = c.t.Add(2 * time.Minute)
				var reported []Binding
				r.OnChange(func(_ core.ExtensionID, _, removed []Binding) { reported = append(reported, removed...) })
				if all {
					r.remove("ext_a", allContacts, tc.o).wait()
				} else {
					r.remove("ext_a", "sip:a@1", tc.o).wait()
				}
				if got := slices.ContainsFunc(r.Lookup("ext_a"), func(b Binding) bool { return b.Contact == "sip:a@1" }); got == tc.removed {
					t.Fatalf("sip:a@1 still bound: %v, want %v", got, !tc.removed)
				}
				want := 0
				if tc.removed {
					want = 1
				}
				if all {
					want = tc.all
				}
				if len(reported) != want+1 || len(r.Lookup("ext_a")) != 2-want {
					t.Fatalf("reported %d removed, %d left; want %d removed and the expired one", len(reported), len(r.Lookup("ext_a")), want)
				}
				r.mu.RLock()
				held := len(r.byExt["ext_a"])
				r.mu.RUnlock()
				if held != 2-want {
					t.Fatalf("%d bindings held, want %d: the expired one is kept", held, 2-want)
				}
			})
		}
	}
}
