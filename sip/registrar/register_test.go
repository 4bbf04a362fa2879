package registrar

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
)

// memRepo keeps registrations in memory.
type memRepo struct{}

func (memRepo) LoadRegistrations(context.Context, time.Time) ([]core.Registration, error) {
	return nil, nil
}

func (memRepo) SaveRegistrations(context.Context, []core.Registration, []core.RegistrationKey) error {
	return nil
}

func refreshRequest(t *testing.T, source string, headers ...string) *sip.Request {
	t.Helper()
	raw := "REGISTER sip:pbx.test SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + source + ";branch=z9hG4bK-1\r\n" +
		"From: <sip:301@pbx.test>;tag=a\r\nTo: <sip:301@pbx.test>\r\n" +
		"Call-ID: reg-1\r\nCSeq: 7 REGISTER\r\nMax-Forwards: 70\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	m, err := sip.ParseMessage([]byte(raw + "Content-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sip.Request)
	req.SetSource(source)
	req.SetTransport("UDP")
	return req
}

// TestRefreshes checks which REGISTERs Refreshes lets be answered without
// waiting for the store, and that Apply then has nothing to wait for, while
// the others make Apply return a write to wait for.
func TestRefreshes(t *testing.T) {
	const contact = "Contact: <sip:301@192.0.2.1:5062>"
	cases := []struct {
		name      string
		source    string
		headers   []string
		refreshes bool
	}{
		{"refresh from the same source", "192.0.2.1:5062", []string{contact, "Expires: 600"}, true},
		{"refresh with an expires parameter", "192.0.2.1:5062", []string{contact + ";expires=600"}, true},
		{"query without contacts", "192.0.2.1:5062", nil, true},
		{"interval too brief, refused", "192.0.2.1:5062", []string{contact, "Expires: 5"}, true},
		{"moved to another port", "192.0.2.1:5999", []string{contact, "Expires: 600"}, false},
		{"another contact", "192.0.2.1:5062", []string{"Contact: <sip:301@192.0.2.1:5070>", "Expires: 600"}, false},
		{"removal", "192.0.2.1:5062", []string{contact, "Expires: 0"}, false},
		{"wildcard removal", "192.0.2.1:5062", []string{"Contact: *", "Expires: 0"}, false},
		{"one new contact among refreshed ones", "192.0.2.1:5062",
			[]string{contact, "Contact: <sip:301@192.0.2.1:5071>", "Expires: 600"}, false},
	}
	ext := &core.Extension{ID: "ext_301", ExtensionSpec: core.ExtensionSpec{SIPUsername: "301"}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			r := NewRegistry(5, func() time.Time { return now })
			if _, err := r.Restore(context.Background(), memRepo{}, PersistConfig{FlushEvery: time.Hour}, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			defer r.Close(context.Background())
			g := &Registrar{Registry: r, Limits: DefaultLimits(), Now: func() time.Time { return now }}
			first := refreshRequest(t, "192.0.2.1:5062", contact, "Expires: 600")
			if res := g.Register(first, ext); res.StatusCode != 200 {
				t.Fatalf("first registration: %d", res.StatusCode)
			}
			req := refreshRequest(t, tc.source, tc.headers...)
			req.CSeq().SeqNo = 8
			if got := g.Refreshes(req, ext.ID); got != tc.refreshes {
				t.Fatalf("Refreshes = %v, want %v", got, tc.refreshes)
			}
			res, wait := g.Apply(req, ext)
			if wait.Empty() != tc.refreshes {
				t.Fatalf("Apply left a write to wait for: %v, want %v (answer %d)", !wait.Empty(), !tc.refreshes, res.StatusCode)
			}
			wait.Wait()
		})
	}
}

// TestRefreshesExpired checks that a binding that has expired is registered
// anew, not refreshed.
func TestRefreshesExpired(t *testing.T) {
	now := time.Now()
	r := NewRegistry(5, func() time.Time { return now })
	g := &Registrar{Registry: r, Limits: DefaultLimits(), Now: func() time.Time { return now }}
	ext := &core.Extension{ID: "ext_302", ExtensionSpec: core.ExtensionSpec{SIPUsername: "301"}}
	req := refreshRequest(t, "192.0.2.1:5062", "Contact: <sip:301@192.0.2.1:5062>", "Expires: 60")
	g.Register(req, ext)
	for _, after := range []time.Duration{59 * time.Second, 61 * time.Second} {
		now = now.Add(after)
		want := after < time.Minute
		if got := g.Refreshes(req, ext.ID); got != want {
			t.Fatalf("%v after: Refreshes = %v, want %v", after, got, want)
		}
		now = now.Add(-after)
	}
}
